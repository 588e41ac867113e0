/* 200k getppid (never trapped) and 10 stat (trapped): the filter must stop only on the stats. */
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    struct stat st;
    for (int i = 0; i < 200000; i++) getppid();
    for (int i = 0; i < 10; i++) stat("/etc", &st);
    return 0;
}
