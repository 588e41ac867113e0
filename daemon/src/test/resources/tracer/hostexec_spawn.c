/* hostexec_spawn PROGRAM ARGS...: a vfork parent (glibc posix_spawn uses CLONE_VFORK) that reads its
 * child's whole stdout through a pipe only after posix_spawn returned, then waits for it. A child
 * parked before exec would hold the parent in vfork while the child fills the pipe: a deadlock. */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 2; }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[1], &fa, NULL, argv + 1, environ);
    if (rc != 0) { fprintf(stderr, "posix_spawn: %d\n", rc); return 2; }
    close(p[1]);
    char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) total += n;
    int status;
    if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); return 2; }
    printf("read %ld, %s %d\n", total, WIFEXITED(status) ? "WEXITSTATUS" : "WTERMSIG",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return 0;
}
