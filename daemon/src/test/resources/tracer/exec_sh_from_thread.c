/* A non-leader thread execs a shell that forks and execs children: the leader's pid goes on with a new image. */
#include <pthread.h>
#include <unistd.h>

static void *worker(void *arg) {
    (void) arg;
    char *argv[] = {"sh", "-c", "/bin/busybox echo one; /bin/busybox echo two; exit 3", NULL};
    char *envp[] = {"PATH=/bin", NULL};
    execve("/bin/sh", argv, envp);
    _exit(99);
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    for (;;) pause();
}
