/* A non-leader thread calls execve: the kernel reports the exec on the leader's pid. */
#include <pthread.h>
#include <unistd.h>

static void *worker(void *arg) {
    (void) arg;
    char *argv[] = {"echo", "exec from thread", NULL};
    char *envp[] = {NULL};
    execve("/bin/echo", argv, envp);
    _exit(99);
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    for (;;) pause();
}
