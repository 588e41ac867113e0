/*
 * A non-leader thread calls execve: the kernel reports the exec on the leader's pid. It runs its arguments
 * (a full path, then argv) if given, else /bin/echo "exec from thread".
 */
#include <pthread.h>
#include <unistd.h>

static char **command;

static void *worker(void *arg) {
    (void) arg;
    char *echo[] = {"echo", "exec from thread", NULL};
    char *envp[] = {"PATH=/bin", NULL};
    if (command != NULL) execve(command[0], command + 1, envp);
    else execve("/bin/echo", echo, envp);
    _exit(99);
}

int main(int argc, char **argv) {
    if (argc > 2) command = argv + 1;
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    for (;;) pause();
}
