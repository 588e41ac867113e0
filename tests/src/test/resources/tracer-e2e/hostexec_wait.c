/* hostexec_wait [-k SIGNO READY_FILE] PROGRAM ARGS...: a target parent for host execution tests.
 * Runs PROGRAM as its child (fork + execv), optionally sends the child SIGNO once READY_FILE exists,
 * waits for it and prints what waitpid said, as a parent of a local child would see it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int sig = 0, i = 1;
    const char *ready = NULL;
    if (argc > 4 && strcmp(argv[1], "-k") == 0) {
        sig = atoi(argv[2]);
        ready = argv[3];
        i = 4;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: hostexec_wait [-k SIGNO READY_FILE] PROGRAM ARGS...\n");
        return 2;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        execv(argv[i], argv + i);
        perror("execv");
        _exit(127);
    }
    if (sig) {
        for (int n = 0; n < 3000 && access(ready, F_OK) != 0; n++) usleep(10000);
        if (kill(pid, sig) != 0) perror("kill");
    }
    int status;
    pid_t got = waitpid(pid, &status, 0);
    if (got != pid) { perror("waitpid"); return 2; }
    if (WIFEXITED(status)) printf("WEXITSTATUS %d\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) printf("WTERMSIG %d\n", WTERMSIG(status));
    else printf("status 0x%x\n", status);
    return 0;
}
