/*
 * Every mutating path syscall family once, by raw syscall number (no libc rewriting), each printing
 * its result, so a test can compare the Change records the tracer announced with the arguments
 * given here. Run in a rootfs with /w (a directory), /w/keep (a file) and /bin/true.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>
#include <linux/openat2.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_removexattrat
#define SYS_removexattrat 466
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

struct xattr_args_v0 { unsigned long long value; unsigned int size; unsigned int flags; };

static void report(const char *what, long rc) {
    if (rc < 0) printf("%s %s\n", what, strerrorname_np(errno));
    else printf("%s ok\n", what);
}

static const char *exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 ? "exists" : strerrorname_np(errno);
}

int main(void) {
    umask(022);
    int w = open("/w", O_RDONLY | O_DIRECTORY);
    report("open /w", w);

    /* directory entries */
    report("mkdir", syscall(SYS_mkdir, "/w/d", 0750));
    report("mkdirat", syscall(SYS_mkdirat, AT_FDCWD, "/w/d2", 0777));
    report("mknod", syscall(SYS_mknod, "/w/fifo", S_IFIFO | 0666, 0));
    report("mknodat", syscall(SYS_mknodat, w, "f2", 0600, 0));
    report("symlink", syscall(SYS_symlink, "target/x", "/w/l"));
    report("symlinkat", syscall(SYS_symlinkat, "/abs", w, "l2"));
    report("link", syscall(SYS_link, "/w/f2", "/w/f3"));
    report("linkat", syscall(SYS_linkat, w, "f2", AT_FDCWD, "/w/f4", 0));
    report("rename", syscall(SYS_rename, "/w/f3", "/w/f5"));
    report("renameat2", syscall(SYS_renameat2, w, "f4", w, "f5", RENAME_NOREPLACE));
    report("renameat", syscall(SYS_renameat, w, "f4", AT_FDCWD, "/w/f6"));
    report("mkdir dot", syscall(SYS_mkdir, "/w/d/.", 0700));

    /* attributes */
    report("chmod", syscall(SYS_chmod, "/w/f2", 0640));
    report("fchmodat", syscall(SYS_fchmodat, w, "f2", 04755));
    report("fchmodat2", syscall(SYS_fchmodat2, w, "f2", 0600, 0));
    report("chown", syscall(SYS_chown, "/w/f2", 1, 2));
    report("lchown", syscall(SYS_lchown, "/w/l", -1, 3));
    report("fchownat", syscall(SYS_fchownat, w, "l", 4, -1, AT_SYMLINK_NOFOLLOW));
    report("truncate", syscall(SYS_truncate, "/w/f2", 123));

    /* times */
    struct utimbuf ub = {1000, 2000};
    report("utime", syscall(SYS_utime, "/w/f2", &ub));
    report("utimes now", syscall(SYS_utimes, "/w/f2", NULL));
    struct timeval tv[2] = {{10, 5}, {20, 6}};
    report("utimes", syscall(SYS_utimes, "/w/f2", tv));
    report("futimesat", syscall(SYS_futimesat, w, "f2", tv));
    struct timespec ts[2] = {{1, 2}, {3, UTIME_OMIT}};
    report("utimensat nofollow", syscall(SYS_utimensat, AT_FDCWD, "/w/l", ts, AT_SYMLINK_NOFOLLOW));
    int f2 = open("/w/f2", O_RDONLY);
    struct timespec ts2[2] = {{5, 6}, {7, 8}};
    report("futimens", syscall(SYS_utimensat, f2, NULL, ts2, 0));
    struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    report("utimensat omit", syscall(SYS_utimensat, AT_FDCWD, "/w/f2", omit, 0));
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    report("utimensat bad nsec", syscall(SYS_utimensat, AT_FDCWD, "/w/f2", bad, 0));

    /* xattrs: the kernel's answer depends on the file system, the announcement does not */
    syscall(SYS_setxattr, "/w/f2", "user.k", "val", 3, 0);
    syscall(SYS_lsetxattr, "/w/l", "trusted.x", "", 0, 1);
    syscall(SYS_removexattr, "/w/f2", "user.k");
    syscall(SYS_lremovexattr, "/w/l", "trusted.x");
    struct xattr_args_v0 xa = {(unsigned long long) (unsigned long) "ab", 2, 2};
    syscall(SYS_setxattrat, w, "f2", 0, "user.at", &xa, sizeof xa);
    syscall(SYS_removexattrat, w, "l", AT_SYMLINK_NOFOLLOW, "user.at");
    report("setxattr empty name", syscall(SYS_setxattr, "/w/f2", "", "v", 1, 0));

    /* through an fd: trapped only when the file access wants hooks */
    report("fchmod", syscall(SYS_fchmod, f2, 0644));
    report("fchown", syscall(SYS_fchown, f2, 5, 6));
    syscall(SYS_fsetxattr, f2, "user.fd", "v", 1, 0);
    syscall(SYS_fremovexattr, f2, "user.fd");
    int opath = open("/w/f2", O_PATH);
    report("fchmod O_PATH", syscall(SYS_fchmod, opath, 0600));

    /* a Unix socket is the target's own: its removal is announced to nobody */
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, "/w/sock");
    report("bind", bind(sock, (struct sockaddr *) &sa, sizeof sa));
    close(sock);
    report("unlink socket", syscall(SYS_unlink, "/w/sock"));

    /* removals */
    report("unlink", syscall(SYS_unlink, "/w/f5"));
    report("unlinkat", syscall(SYS_unlinkat, w, "f6", 0));
    report("unlinkat removedir", syscall(SYS_unlinkat, w, "d2", AT_REMOVEDIR));
    report("rmdir", syscall(SYS_rmdir, "/w/d"));

    /* opens */
    int fd = syscall(SYS_creat, "/w/c", 0666); report("creat", fd); close(fd);
    fd = syscall(SYS_openat, w, "o", O_WRONLY | O_CREAT | O_EXCL, 0640); report("openat create", fd); close(fd);
    struct open_how how = {.flags = O_RDWR | O_CREAT, .mode = 0604};
    fd = syscall(SYS_openat2, w, "o2", &how, sizeof how); report("openat2 create", fd); close(fd);
    fd = syscall(SYS_open, "/w/keep", O_RDONLY); report("open", fd); close(fd);
    report("open missing", syscall(SYS_open, "/w/missing", O_RDONLY));

    /* refused by the source of truth: the kernel never runs them */
    report("mkdir refused", syscall(SYS_mkdir, "/w/refused", 0755));
    printf("refused dir %s\n", exists("/w/refused"));
    report("unlink refused", syscall(SYS_unlink, "/w/keep"));
    printf("keep %s\n", exists("/w/keep"));
    report("rename refused", syscall(SYS_rename, "/w/keep", "/w/refused"));
    printf("keep %s\n", exists("/w/keep"));
    report("open refused", syscall(SYS_open, "/w/refused-open", O_WRONLY | O_CREAT, 0644));
    printf("refused-open %s\n", exists("/w/refused-open"));

    /* exec */
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"true", NULL};
        execve("/bin/true", argv, NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("exec %d\n", WEXITSTATUS(status));
    return 0;
}
