/* getcwd after chdir/fchdir through symlinks, realpath, and the /proc/self links, one line each: compared with chroot. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void show(const char *what) {
    char buf[PATH_MAX];
    if (getcwd(buf, sizeof buf)) printf("%s -> %s\n", what, buf);
    else printf("%s -> -1 %s\n", what, strerrorname_np(errno));
}

static void cd(const char *path) {
    if (chdir(path) < 0) printf("chdir %s -1 %s\n", path, strerrorname_np(errno));
    show(path);
}

static void link_of(const char *path) {
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) printf("readlink %s -1 %s\n", path, strerrorname_np(errno));
    else printf("readlink %s = %.*s\n", path, (int) n, buf);
}

int main(void) {
    const char *dirs[] = {"/sublink", "..", "/abs", "../dir/sub/../sub", "/reldir", "../../..", "reldir/.", "/loop",
                          "/dir/file", "/dangling", "/up", "/"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) cd(dirs[i]);
    int fd = open("/sublink", O_RDONLY | O_DIRECTORY);
    if (chdir("/") == 0 && fchdir(fd) == 0) show("fchdir(/sublink)");
    link_of("/proc/self/cwd");
    close(fd);
    const char *paths[] = {"/relchain", "/sublink/..", "/abs/passwd", "/up/etc", "/loop", "/dangling", "reldir/../file"};
    chdir("/dir");
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *r = realpath(paths[i], NULL);
        printf("realpath %s = %s\n", paths[i], r ? r : strerrorname_np(errno));
        free(r);
    }
    link_of("/proc/self/exe");
    link_of("/proc/self/root");
    return 0;
}
