/*
 * One call per syscall family, each printing its result and errno, so the same binary can be
 * compared under a real chroot and under the tracer. Run with cwd "/" in a rootfs that has
 * /dir/file, /dir/sub, /abs -> /etc, /dangling -> /nowhere, /tmp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/openat2.h>

static void report(const char *what, long rc) {
    if (rc < 0) printf("%s -1 %s\n", what, strerrorname_np(errno));
    else printf("%s ok\n", what);
}

static void report_stat(const char *what, int rc, const struct stat *st) {
    if (rc < 0) printf("%s -1 %s\n", what, strerrorname_np(errno));
    else printf("%s %s %ld\n", what, S_ISLNK(st->st_mode) ? "link" : S_ISDIR(st->st_mode) ? "dir" : "file",
                S_ISREG(st->st_mode) ? (long) st->st_size : 0L);
}

int main(void) {
    struct stat st;
    char buf[256];
    int dir = open("/dir", O_RDONLY | O_DIRECTORY);
    report("open dir", dir);

    /* open family */
    int fd = openat(AT_FDCWD, "dir/file", O_RDONLY);
    report("openat cwd-relative", fd); close(fd);
    fd = openat(dir, "file", O_RDONLY); report("openat dirfd", fd); close(fd);
    fd = openat(dir, "../abs/passwd", O_RDONLY); report("openat dirfd ../abs", fd); close(fd);
    fd = openat(dir, "/etc/passwd", O_RDONLY); report("openat absolute ignores dirfd", fd); close(fd);
    report("openat O_NOFOLLOW on link", openat(AT_FDCWD, "/abs", O_RDONLY | O_NOFOLLOW));
    report("openat O_CREAT|O_EXCL on dangling", openat(AT_FDCWD, "/dangling", O_WRONLY | O_CREAT | O_EXCL, 0644));
    report("open O_DIRECTORY on file", open("/dir/file", O_RDONLY | O_DIRECTORY));
    fd = creat("/tmp/created", 0644); report("creat", fd); close(fd);
    struct open_how how = {.flags = O_RDONLY};
    fd = syscall(SYS_openat2, dir, "file", &how, sizeof how); report("openat2 plain", fd); close(fd);
    struct open_how beneath = {.flags = O_RDONLY, .resolve = RESOLVE_BENEATH};
    report("openat2 beneath inside", syscall(SYS_openat2, dir, "sub/../file", &beneath, sizeof beneath));
    report("openat2 beneath dotdot", syscall(SYS_openat2, dir, "../etc/passwd", &beneath, sizeof beneath));
    report("openat2 beneath absolute", syscall(SYS_openat2, dir, "/etc/passwd", &beneath, sizeof beneath));
    report("openat2 beneath absolute link", syscall(SYS_openat2, dir, "abslink", &beneath, sizeof beneath));
    struct open_how inroot = {.flags = O_RDONLY, .resolve = RESOLVE_IN_ROOT};
    report("openat2 in_root absolute", syscall(SYS_openat2, dir, "/file", &inroot, sizeof inroot));
    report("openat2 in_root dotdot", syscall(SYS_openat2, dir, "../../file", &inroot, sizeof inroot));
    report("openat2 in_root absolute link", syscall(SYS_openat2, dir, "abslink", &inroot, sizeof inroot));
    struct open_how nolinks = {.flags = O_RDONLY, .resolve = RESOLVE_NO_SYMLINKS};
    report("openat2 no_symlinks", syscall(SYS_openat2, AT_FDCWD, "/abs/passwd", &nolinks, sizeof nolinks));
    struct open_how nolinkpath = {.flags = O_PATH | O_NOFOLLOW, .resolve = RESOLVE_NO_SYMLINKS};
    report("openat2 no_symlinks O_PATH|O_NOFOLLOW", syscall(SYS_openat2, AT_FDCWD, "/abs", &nolinkpath, sizeof nolinkpath));
    struct open_how bad = {.flags = O_RDONLY, .resolve = 0x1000};
    report("openat2 unknown resolve flag", syscall(SYS_openat2, AT_FDCWD, "/dir", &bad, sizeof bad));
    fd = openat(dir, "sub", O_PATH); report("open O_PATH", fd);

    /* stat family */
    report_stat("stat via link", stat("/abs/passwd", &st), &st);
    report_stat("lstat link", lstat("/abs", &st), &st);
    report_stat("fstatat nofollow", fstatat(AT_FDCWD, "/abs", &st, AT_SYMLINK_NOFOLLOW), &st);
    report_stat("fstatat dirfd", fstatat(dir, "file", &st, 0), &st);
    report_stat("fstatat empty path", fstatat(dir, "", &st, AT_EMPTY_PATH), &st);
    report_stat("fstatat empty path without flag", fstatat(dir, "", &st, 0), &st);
    report_stat("fstatat on O_PATH fd", fstatat(fd, "", &st, AT_EMPTY_PATH), &st);
    struct statx sx;
    int rc = statx(AT_FDCWD, "/abs", AT_SYMLINK_NOFOLLOW, STATX_TYPE, &sx);
    printf("statx nofollow %d %s\n", rc, rc == 0 && S_ISLNK(sx.stx_mode) ? "link" : "other");
    rc = statx(dir, "../dir/file", 0, STATX_SIZE, &sx);
    printf("statx dirfd %d %lld\n", rc, rc == 0 ? (long long) sx.stx_size : -1LL);
    report("access dangling", access("/dangling", F_OK));
    report("faccessat dirfd", faccessat(dir, "file", R_OK, 0));
    report("faccessat2 nofollow dangling", syscall(SYS_faccessat2, AT_FDCWD, "/dangling", F_OK, AT_SYMLINK_NOFOLLOW));
    report("faccessat2 dangling", syscall(SYS_faccessat2, AT_FDCWD, "/dangling", F_OK, 0));

    /* readlink */
    ssize_t n = readlinkat(dir, "../abs", buf, sizeof buf);
    printf("readlinkat %.*s\n", (int) (n < 0 ? 0 : n), buf);
    report("readlink on file", readlink("/dir/file", buf, sizeof buf));
    n = readlink("/abs", buf, 2);
    printf("readlink truncated %zd %.*s\n", n, (int) (n < 0 ? 0 : n), buf);

    /* directory entries */
    report("mkdirat", mkdirat(dir, "newdir", 0755));
    report("mkdir existing", mkdir("/dir/newdir", 0755));
    report("unlinkat dir", unlinkat(dir, "newdir", AT_REMOVEDIR));
    report("rmdir non-empty", rmdir("/dir"));
    report("renameat", renameat(AT_FDCWD, "/tmp/created", dir, "../tmp/renamed"));
    report("linkat follow", linkat(AT_FDCWD, "/abs/passwd", AT_FDCWD, "/tmp/hard", AT_SYMLINK_FOLLOW));
    report("symlinkat", symlinkat("/etc/passwd", dir, "../tmp/soft"));
    report_stat("stat new symlink", stat("/tmp/soft", &st), &st);
    report("mknodat fifo", mknodat(AT_FDCWD, "/tmp/fifo", S_IFIFO | 0600, 0));
    report("unlink", unlink("/tmp/hard"));

    /* attributes */
    report("chmod", chmod("/tmp/renamed", 0600));
    report("fchmodat dirfd", fchmodat(dir, "file", 0644, 0));
    report("fchownat nofollow", fchownat(AT_FDCWD, "/tmp/soft", 0, 0, AT_SYMLINK_NOFOLLOW));
    report("truncate", truncate("/tmp/renamed", 3));
    report_stat("stat truncated", stat("/tmp/renamed", &st), &st);
    report("utimensat NULL path on dirfd", syscall(SYS_utimensat, dir, NULL, NULL, 0));
    report("utimes", utimes("/tmp/renamed", NULL));
    report("setxattr", setxattr("/tmp/renamed", "user.t", "v", 1, 0));
    n = getxattr("/tmp/renamed", "user.t", buf, sizeof buf);
    printf("getxattr %zd\n", n);
    report("lgetxattr missing", lgetxattr("/nonexistent", "user.t", buf, sizeof buf));

    /* watches, sockets */
    int in = inotify_init1(IN_CLOEXEC);
    report("inotify_add_watch", inotify_add_watch(in, "/dir", IN_ALL_EVENTS));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, "/tmp/sock");
    report("bind unix", bind(s, (struct sockaddr *) &sa, sizeof sa));
    listen(s, 1);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    report("connect unix", connect(c, (struct sockaddr *) &sa, sizeof sa));
    report_stat("lstat socket", lstat("/tmp/sock", &st), &st);

    /* cwd */
    report("chdir", chdir("/abs/../dir/sub"));
    printf("getcwd %s\n", getcwd(buf, sizeof buf));
    report("fchdir", fchdir(dir));
    printf("getcwd %s\n", getcwd(buf, sizeof buf));
    report("getcwd small buffer", getcwd(buf, 2) ? 0 : -1);
    fflush(stdout);

    /* fexecve of a script through a close-on-exec fd: ENOENT, its interpreter could not open it */
    pid_t child = fork();
    if (child == 0) {
        int script = open("/dir/script", O_RDONLY | O_CLOEXEC);
        char *sargv[] = {"script", "arg", NULL};
        char *senvp[] = {NULL};
        syscall(SYS_execveat, script, "", sargv, senvp, AT_EMPTY_PATH);
        printf("fexecve failed %s\n", strerrorname_np(errno));
        fflush(stdout);
        _exit(1);
    }
    int wstatus;
    waitpid(child, &wstatus, 0);
    printf("fexecve exit %d\n", WEXITSTATUS(wstatus));
    fflush(stdout);

    /* exec relative to a dirfd */
    int bin = open("/bin", O_RDONLY | O_DIRECTORY);
    char *argv[] = {"echo", "execveat done", NULL};
    char *envp[] = {NULL};
    syscall(SYS_execveat, bin, "echo", argv, envp, 0);
    printf("execveat failed %s\n", strerrorname_np(errno));
    return 1;
}
