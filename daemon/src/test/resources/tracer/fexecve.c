/* fexecve of an ELF and of a script (fd kept open across exec): both run, from the guest. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void run(const char *path, char *const argv[]) {
    pid_t child = fork();
    if (child == 0) {
        int fd = open(path, O_RDONLY);
        char *envp[] = {NULL};
        syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
        perror("execveat");
        _exit(100);
    }
    int status;
    waitpid(child, &status, 0);
}

int main(void) {
    char *elf[] = {"echo", "fexecve elf", NULL};
    run("/bin/busybox", elf);
    char *script[] = {"script", "a", NULL};
    run("/bin/script", script);
    return 0;
}
