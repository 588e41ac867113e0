/*
 * Changes a program makes to files that live only on the host ("No NFS"), each printing its result:
 * directory entries, attributes by path, and attributes through an fd (trapped only in No NFS runs).
 * The rootfs holds /w with the files named below, made by the test on the host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static void report(const char *what, long rc) {
    if (rc < 0) printf("%s %s\n", what, strerrorname_np(errno));
    else printf("%s ok\n", what);
}

int main(void) {
    umask(022);
    report("mkdir", mkdir("/w/d", 0750));
    report("mkfifo", mknod("/w/fifo", S_IFIFO | 0640, 0));
    report("symlink", symlink("target/x", "/w/l"));
    report("link", link("/w/hard", "/w/hard2"));
    report("rename", rename("/w/old", "/w/new"));
    report("unlink", unlink("/w/gone"));
    report("rmdir", rmdir("/w/gonedir"));
    report("chmod", chmod("/w/perm", 0604));
    int ro = open("/w/ro", O_RDONLY);
    report("fchmod read-only fd", fchmod(ro, 0600));
    report("chown", chown("/w/own", 1234, 5678));
    int fo = open("/w/fown", O_RDONLY);
    report("fchown", fchown(fo, 4321, 8765));
    struct timespec ts[2] = {{1000000000, 5}, {1234567890, 0}};
    report("utimensat", utimensat(AT_FDCWD, "/w/times", ts, 0));
    report("truncate", truncate("/w/trunc", 3));
    printf("setxattr %s\n", setxattr("/w/xa", "user.tether", "yes", 3, 0) == 0 ? "ok" : strerrorname_np(errno));
    int xf = open("/w/xa", O_RDONLY);
    printf("fsetxattr %s\n", fsetxattr(xf, "user.fd", "1", 1, 0) == 0 ? "ok" : strerrorname_np(errno));
    return 0;
}
