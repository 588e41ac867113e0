/*
 * tether-fe: the native front end of `tether run`. bin/tether runs it as `tether-fe HOME ARGS...`.
 *
 * A JVM start costs ~0.3 s; a build that runs `tether run` hundreds of times should not pay it
 * each time. So this small program hands the whole command to the front door, a resident JVM
 * (io.tether.client.frontdoor.FrontDoor) listening on a Unix socket beside the control agents:
 * argv, environment, working directory, umask, which of 0-2 are terminals and its identity
 * (namespaces, root, credentials, limits, cgroup...: what a child of the door would inherit) in one
 * message, with descriptors 0, 1, 2 and every other inherited one attached (SCM_RIGHTS).
 * The door runs the session on those descriptors exactly as `tether run` would, and sends back
 * the exit status. Meanwhile this program relays the signals it gets.
 *
 * Target `local` (with or without -r ROOTFS) is served by a daemon inside the door, so its
 * processes are the door's children: the door's socket name carries a hash of this identity and
 * of the build (FrontDoorPaths.java), so each caller meets a door that spawns exactly as its own
 * JVM would, and no door of an older build.
 *
 * Whenever the door cannot serve (not `run`, no door yet, another identity, help, --control no,
 * TETHER_JAVA_OPTS for a local target...) this program execs the JVM client, HOME/bin/tether
 * with TETHER_NO_FE=1, with the same arguments: nothing has been read or written by then.
 *
 * Wire (big-endian; FrontDoorRequest.java and DoorSession.java are the other side):
 *   request:  "TFD2" u32 len | u32 nfds, i32 fd x nfds, u32 ttys, u32 umask, str cwd,
 *             str identity, u32 argc, str x argc, u32 envc, str x envc   (str: u32 len, bytes)
 *   to door:  8-byte records 'G' + signal name, NUL-padded
 *   from door: 8-byte records [type, 0, 0, 0, i32 value]: 'A' accepted, 'F' fall back,
 *             'S' stop now (after TSTP; the door restored the terminal), 'X' exit with value.
 *
 * Output: nothing of its own but `tether: ...` on its own failures; TETHER_FE_TRACE=1 adds one
 * line saying the front door served the run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 253     /* SCM_MAX_FD */
#define MAX_SOCKET_PATH 106 /* what the JDK accepts, as ControlPaths */
#define STOP_ACK_MS 2000

extern char **environ;

static const char *home;
static int nargs;
static char **args;
static int sigpipe[2] = {-1, -1};

static void fallback(void) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/bin/tether", home) >= (int) sizeof path) {
        fputs("tether: home path too long\n", stderr);
        exit(255);
    }
    char **argv = calloc((size_t) nargs + 2, sizeof *argv);
    if (argv == NULL) {
        fputs("tether: out of memory\n", stderr);
        exit(255);
    }
    argv[0] = path;
    for (int i = 0; i < nargs; i++) argv[i + 1] = args[i];
    setenv("TETHER_NO_FE", "1", 1);
    execv(path, argv);
    fprintf(stderr, "tether: cannot run %s: %s\n", path, strerror(errno));
    exit(255);
}

/* A growable byte buffer for the request. */
struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) fallback();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put32(struct buf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char) (v >> 24), (unsigned char) (v >> 16), (unsigned char) (v >> 8), (unsigned char) v};
    put(b, x, 4);
}

static void putstr(struct buf *b, const char *s) {
    size_t n = strlen(s);
    put32(b, (uint32_t) n);
    put(b, s, n);
}

static int cmpint(const void *a, const void *b) {
    return *(const int *) a - *(const int *) b;
}

static void putc_(struct buf *b, char c) {
    put(b, &c, 1);
}

static void puts_(struct buf *b, const char *s) {
    put(b, s, strlen(s));
}

/* Each line of FILE (without its newline) to fn; 0 if it could be read. */
static int each_line(const char *file, void (*fn)(struct buf *, const char *, int), struct buf *b) {
    FILE *f = fopen(file, "re");
    if (f == NULL) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int row = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
        fn(b, line, row++);
    }
    free(line);
    fclose(f);
    return 0;
}

static void status_line(struct buf *b, const char *line, int row) {
    static const char *keep[] = {"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
        "NoNewPrivs:", "Seccomp:", "Cpus_allowed_list:", "Mems_allowed_list:"};
    (void) row;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        if (strncmp(line, keep[i], strlen(keep[i])) == 0) {
            puts_(b, line);
            putc_(b, '\n');
        }
    }
}

#define NOFILE_ROW 7     /* RLIMIT_NOFILE: a JVM raises its soft limit to the hard one */
#define LIMITS_VALUES 26 /* "%-25s %-20s %-20s %-10s" */

static void limits_line(struct buf *b, const char *line, int row) {
    char soft[64], hard[64];
    if (row == 0 || strlen(line) <= LIMITS_VALUES) return;
    if (sscanf(line + LIMITS_VALUES, "%63s %63s", soft, hard) != 2) return;
    putc_(b, ' ');
    puts_(b, row - 1 == NOFILE_ROW ? hard : soft);
    putc_(b, '/');
    puts_(b, hard);
}

static void cgroup_line(struct buf *b, const char *line, int row) {
    (void) row;
    putc_(b, ' ');
    puts_(b, line);
}

#define NICE_AFTER_COMM 16 /* fields of /proc/self/stat after the ")" of the command name */

static void nice_value(struct buf *b) {
    char stat[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof stat - 1);
    if (fd >= 0) close(fd);
    char *p = n > 0 ? (stat[n] = 0, strrchr(stat, ')')) : NULL;
    for (int i = 0; p != NULL && i <= NICE_AFTER_COMM; i++) p = strchr(p + 1, ' ');
    if (p == NULL) {
        putc_(b, '?');
        return;
    }
    p++;
    size_t len = strcspn(p, " \n");
    put(b, p, len);
}

/* What a child of the door would inherit from it, as FrontDoorPaths.identity() writes the door's. */
static void identity(struct buf *b) {
    static const char *names[] = {"net", "mnt", "pid", "user", "uts", "ipc", "cgroup"};
    puts_(b, "ns");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64], link[128];
        snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0) strcpy(link, "?");
        else link[n] = 0;
        putc_(b, ' ');
        puts_(b, link);
    }
    struct stat st;
    char line[96];
    if (stat("/", &st) == 0) {
        snprintf(line, sizeof line, "\nroot %llu %llu\n", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
    } else {
        strcpy(line, "\nroot ?\n");
    }
    puts_(b, line);
    each_line("/proc/self/status", status_line, b);
    puts_(b, "limits");
    each_line("/proc/self/limits", limits_line, b);
    puts_(b, "\ncgroup");
    each_line("/proc/self/cgroup", cgroup_line, b);
    puts_(b, "\npersonality");
    each_line("/proc/self/personality", cgroup_line, b);
    puts_(b, "\nnice ");
    nice_value(b);
    putc_(b, '\n');
}

static int cmpstr(const void *a, const void *b) {
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Name, mtime and size of each tether-*.jar in LIB, sorted by name; -1 if LIB cannot be listed. */
static int own_libraries(const char *lib, struct buf *b) {
    DIR *d = opendir(lib);
    if (d == NULL) return errno == ENOENT ? 0 : -1;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "tether-", 7) != 0 || len < 11 || strcmp(e->d_name + len - 4, ".jar") != 0) continue;
        if (n == 256 || (names[n] = strdup(e->d_name)) == NULL) {
            closedir(d);
            return -1;
        }
        n++;
    }
    closedir(d);
    qsort(names, (size_t) n, sizeof *names, cmpstr);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096], line[128];
        struct stat st;
        if (rc == 0 && snprintf(path, sizeof path, "%s/%s", lib, names[i]) < (int) sizeof path && stat(path, &st) == 0) {
            puts_(b, names[i]);
            snprintf(line, sizeof line, "\n%lld\n%lld\n", (long long) st.st_mtim.tv_sec, (long long) st.st_size);
            puts_(b, line);
        } else {
            rc = -1;
        }
        free(names[i]);
    }
    return rc;
}

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char) p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The control directory as ControlPaths.defaultDir picks it, then the socket in it (FrontDoorPaths.key). */
static int socket_path(char *out, size_t size, const char *ident) {
    char jar[4096], lib[4096];
    struct stat st;
    if (snprintf(jar, sizeof jar, "%s/client/target/tether.jar", home) >= (int) sizeof jar) return -1;
    if (snprintf(lib, sizeof lib, "%s/client/target/lib", home) >= (int) sizeof lib) return -1;
    if (stat(jar, &st) != 0) return -1;
    struct buf h = {0};
    char *real = realpath(home, NULL);
    if (real == NULL) return -1;
    puts_(&h, real);
    putc_(&h, '\n');
    free(real);
    if (own_libraries(lib, &h) != 0) return -1;
    puts_(&h, ident);
    char key[96];
    snprintf(key, sizeof key, "frontdoor-%lx-%lx-%016llx", (unsigned long) st.st_mtim.tv_sec, (unsigned long) st.st_size,
             (unsigned long long) fnv1a(h.p, h.len));
    free(h.p);

    char dir[4096];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat ds;
    if (xdg != NULL && xdg[0] == '/' && stat(xdg, &ds) == 0 && S_ISDIR(ds.st_mode)) {
        if (snprintf(dir, sizeof dir, "%s/tether", xdg) >= (int) sizeof dir) return -1;
    } else {
        struct passwd *pw = getpwuid(getuid());
        if (pw == NULL || pw->pw_dir == NULL) return -1;
        if (snprintf(dir, sizeof dir, "%s/.cache/tether/control", pw->pw_dir) >= (int) sizeof dir) return -1;
    }
    int n = snprintf(out, size, "%s/%s.sock", dir, key);
    if (n < 0 || n > MAX_SOCKET_PATH) {
        snprintf(dir, sizeof dir, "/tmp/tether-%u", (unsigned) getuid());
        n = snprintf(out, size, "%s/%s.sock", dir, key);
    }
    if (n < 0 || (size_t) n >= size) return -1;
    /* Only a directory of ours that no one else may enter (ControlPaths.prepare makes it so). */
    if (lstat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode) || ds.st_uid != getuid() || (ds.st_mode & 077) != 0) return -1;
    return 0;
}

/* 0, 1, 2 and every other inherited descriptor, ascending; -1 if 0-2 are not all open or too many. */
static int inherited_fds(int *fds) {
    int n = 0;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0) return -1;
        fds[n++] = fd;
    }
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == own) continue;
        if (n == MAX_FDS) {
            closedir(d);
            return -1;
        }
        fds[n++] = fd;
    }
    closedir(d);
    qsort(fds + 3, (size_t) n - 3, sizeof *fds, cmpint);
    return n;
}

static int send_request(int sock, const int *fds, int nfds, const char *ident) {
    struct buf body = {0};
    put32(&body, (uint32_t) nfds);
    for (int i = 0; i < nfds; i++) put32(&body, (uint32_t) fds[i]);
    uint32_t ttys = (isatty(0) ? 1 : 0) | (isatty(1) ? 2 : 0) | (isatty(2) ? 4 : 0);
    put32(&body, ttys);
    mode_t mask = umask(0);
    umask(mask);
    put32(&body, (uint32_t) mask);
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL) return -1;
    putstr(&body, cwd);
    free(cwd);
    putstr(&body, ident);
    put32(&body, (uint32_t) nargs);
    for (int i = 0; i < nargs; i++) putstr(&body, args[i]);
    uint32_t envc = 0;
    for (char **e = environ; *e != NULL; e++) envc++;
    put32(&body, envc);
    for (char **e = environ; *e != NULL; e++) putstr(&body, *e);

    unsigned char header[8] = {'T', 'F', 'D', '2',
        (unsigned char) (body.len >> 24), (unsigned char) (body.len >> 16), (unsigned char) (body.len >> 8), (unsigned char) body.len};
    struct iovec iov = {header, sizeof header};
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE((size_t) nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t) nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t) nfds * sizeof(int));
    ssize_t n;
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
    if (n != (ssize_t) sizeof header) return -1; /* a Unix stream socket takes 8 bytes whole or fails */
    size_t done = 0;
    while (done < body.len) {
        n = send(sock, body.p + done, body.len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t) n;
    }
    free(body.p);
    return 0;
}

/* One 8-byte record from the door; 0 on success, -1 at EOF or error. */
static int read_record(int sock, unsigned char *r) {
    size_t have = 0;
    while (have < 8) {
        ssize_t n = read(sock, r + have, 8 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        have += (size_t) n;
    }
    return 0;
}

static const struct {
    int signo;
    const char *name;
} relayed[] = {
    {SIGINT, "INT"}, {SIGTERM, "TERM"}, {SIGHUP, "HUP"}, {SIGQUIT, "QUIT"}, {SIGUSR1, "USR1"},
    {SIGUSR2, "USR2"}, {SIGTSTP, "TSTP"}, {SIGCONT, "CONT"}, {SIGWINCH, "WINCH"},
};
#define NRELAYED (sizeof relayed / sizeof relayed[0])

static void on_signal(int signo) {
    int saved = errno;
    unsigned char b = (unsigned char) signo;
    (void) !write(sigpipe[1], &b, 1);
    errno = saved;
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct termios saved_termios;
static int have_termios;

static void lost(void) {
    if (have_termios) tcsetattr(0, TCSADRAIN, &saved_termios);
    fputs("tether: front door lost\n", stderr);
    exit(255);
}

static void send_signal(int sock, const char *name) {
    unsigned char r[8] = {'G'};
    memcpy(r + 1, name, strlen(name)); /* at most 5 letters: NUL-padded */
    ssize_t n;
    while ((n = send(sock, r, sizeof r, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
    /* A failure shows as EOF on the next read. */
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("tether: usage: tether-fe HOME [ARGS...] (run by bin/tether)\n", stderr);
        return 255;
    }
    home = argv[1];
    args = argv + 2;
    nargs = argc - 2;
    if (nargs < 2 || strcmp(args[0], "run") != 0) fallback();

    struct buf ident = {0};
    identity(&ident);
    putc_(&ident, 0);
    char path[sizeof ((struct sockaddr_un *) 0)->sun_path + 64];
    if (socket_path(path, sizeof path, ident.p) != 0) fallback();
    int fds[MAX_FDS];
    int nfds = inherited_fds(fds);
    if (nfds < 0) fallback();

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fallback();
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) fallback();
    strcpy(addr.sun_path, path);
    int rc;
    while ((rc = connect(sock, (struct sockaddr *) &addr, sizeof addr)) < 0 && errno == EINTR) {}
    if (rc < 0) {
        close(sock);
        fallback();
    }
    if (send_request(sock, fds, nfds, ident.p) != 0) {
        close(sock);
        fallback();
    }
    unsigned char r[8];
    if (read_record(sock, r) != 0 || r[0] != 'A') {
        close(sock); /* 'F', or a door that died before touching anything */
        fallback();
    }
    if (getenv("TETHER_FE_TRACE") != NULL && getenv("TETHER_FE_TRACE")[0] != 0) {
        fprintf(stderr, "tether-fe: served by the front door %s\n", path);
    }
    if (isatty(0) && tcgetattr(0, &saved_termios) == 0) have_termios = 1;

    if (pipe2(sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) lost();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigset_t relay;
    sigemptyset(&relay);
    for (size_t i = 0; i < NRELAYED; i++) {
        int sig = relayed[i].signo;
        struct sigaction old;
        /* As the JVM client: HUP, INT and TERM ignored at start stay ignored (nohup, `cmd &` in a script). */
        if ((sig == SIGHUP || sig == SIGINT || sig == SIGTERM) && sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sig, &sa, NULL);
        sigaddset(&relay, sig);
    }
    /* A JVM that started us (a test, an IDE) passes its mask on, which blocks SIGQUIT. */
    sigprocmask(SIG_UNBLOCK, &relay, NULL);

    unsigned char in[8];
    size_t have = 0;
    long long stop_deadline = -1;
    for (;;) {
        struct pollfd p[2] = {{sock, POLLIN, 0}, {sigpipe[0], POLLIN, 0}};
        int timeout = -1;
        if (stop_deadline >= 0) {
            long long left = stop_deadline - now_ms();
            timeout = left < 0 ? 0 : (int) left;
        }
        int n = poll(p, 2, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            lost();
        }
        if (n == 0 && stop_deadline >= 0) { /* no answer from the door: stop anyway, as a client would */
            stop_deadline = -1;
            kill(getpid(), SIGSTOP);
            continue;
        }
        if (p[1].revents & POLLIN) {
            unsigned char sigs[64];
            ssize_t k = read(sigpipe[0], sigs, sizeof sigs);
            for (ssize_t i = 0; i < k; i++) {
                for (size_t j = 0; j < NRELAYED; j++) {
                    if (relayed[j].signo != sigs[i]) continue;
                    send_signal(sock, relayed[j].name);
                    if (sigs[i] == SIGTSTP) stop_deadline = now_ms() + STOP_ACK_MS;
                }
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(sock, in + have, sizeof in - have);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) lost();
            have += (size_t) k;
            if (have < sizeof in) continue;
            have = 0;
            int32_t value = (int32_t) ((uint32_t) in[4] << 24 | (uint32_t) in[5] << 16 | (uint32_t) in[6] << 8 | in[7]);
            if (in[0] == 'X') return value & 0xff;
            if (in[0] == 'S' && stop_deadline >= 0) {
                stop_deadline = -1;
                kill(getpid(), SIGSTOP);
            }
        }
    }
}
