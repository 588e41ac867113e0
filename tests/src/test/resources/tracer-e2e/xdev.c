/* xdev rename|link FROM TO: the call's result by errno name (EXDEV across binds, as across mounts). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int rc = strcmp(argv[1], "rename") == 0 ? rename(argv[2], argv[3]) : link(argv[2], argv[3]);
    printf("%s %s\n", argv[1], rc < 0 ? strerrorname_np(errno) : "ok");
    return rc < 0 ? 1 : 0;
}
