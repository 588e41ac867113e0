/* Threads opening and reading the same guest files in parallel; prints "ok N" when every read saw the guest content. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 200

static int failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    (void) arg;
    char buf[256];
    for (int i = 0; i < ROUNDS; i++) {
        int fd = openat(AT_FDCWD, (i & 1) ? "/etc/passwd" : "../../etc/passwd", O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0) close(fd);
        if (n < 5 || memcmp(buf, "root:", 5) != 0 || strstr(buf, "guest root") == NULL) {
            pthread_mutex_lock(&lock);
            failures++;
            pthread_mutex_unlock(&lock);
        }
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    if (chdir("/tmp") != 0) return 2;
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    printf("ok %d\n", THREADS * ROUNDS - failures);
    return failures ? 1 : 0;
}
