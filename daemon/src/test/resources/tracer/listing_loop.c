/* Lists a directory 1000 times through one fd (rewinding in between) with getdents64 (or the old
 * getdents with "old" as second argument, where the arch has it) and prints its sorted names once;
 * every pass must see the same names (a rewind lists added names again). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PASSES 1000

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct linux_dirent {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[]; /* then a NUL, padding, and d_type in the last byte */
};

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char **argv) {
    int fd = open(argc > 1 ? argv[1] : "/", O_RDONLY | O_DIRECTORY);
    int old = argc > 2 && strcmp(argv[2], "old") == 0;
    if (fd < 0) { perror("open"); return 2; }
    static char buf[32768];
    char *names[512];
    char types[512];
    int first = -1;
    for (int pass = 0; pass < PASSES; pass++) {
        lseek(fd, 0, SEEK_SET);
        int count = 0;
        for (;;) {
#ifdef SYS_getdents
            long n = syscall(old ? SYS_getdents : SYS_getdents64, fd, buf, sizeof buf);
#else
            long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
#endif
            if (n < 0) { perror("getdents"); return 2; }
            if (n == 0) break;
            for (long at = 0; at < n;) {
                const char *name;
                unsigned char type;
                unsigned short reclen;
                if (old) {
                    struct linux_dirent *d = (struct linux_dirent *) (buf + at);
                    name = d->d_name;
                    reclen = d->d_reclen;
                    type = buf[at + reclen - 1];
                } else {
                    struct linux_dirent64 *d = (struct linux_dirent64 *) (buf + at);
                    name = d->d_name;
                    reclen = d->d_reclen;
                    type = d->d_type;
                }
                if (pass == 0 && count < 512) { types[count] = type; names[count] = strdup(name); }
                count++;
                at += reclen;
            }
        }
        if (first < 0) first = count;
        else if (count != first) { printf("pass %d saw %d names, the first %d\n", pass, count, first); return 1; }
    }
    char *sorted[512];
    for (int i = 0; i < first && i < 512; i++) {
        sorted[i] = malloc(strlen(names[i]) + 3);
        sprintf(sorted[i], "%s%s", names[i], types[i] == DT_DIR ? "/" : types[i] == DT_UNKNOWN ? "?" : "");
    }
    qsort(sorted, first, sizeof *sorted, cmp);
    for (int i = 0; i < first; i++) printf("%s\n", sorted[i]);
    return 0;
}
