/* AF_UNIX addresses in and out of the guest: what bind/connect/sendto/sendmsg take and what
 * getsockname/getpeername/accept/accept4/recvfrom/recvmsg report, with the kernel's truncation
 * rule (the length says the full size, the buffer holds what fits). Prints only what is the same
 * under chroot and under the tracer: guest paths, lengths, data. Usage: unix_sockets GUEST_DIR */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[80];

static socklen_t addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static void show(const char *what, const struct sockaddr_un *a, socklen_t len) {
    if (len <= offsetof(struct sockaddr_un, sun_path)) printf("%s: len=%u unnamed\n", what, (unsigned) len);
    else if (a->sun_path[0] == 0) printf("%s: len=%u abstract %.15s\n", what, (unsigned) len, a->sun_path + 1);
    else printf("%s: len=%u path=%s\n", what, (unsigned) len, a->sun_path);
}

static int check(const char *what, int rc) {
    if (rc < 0) {
        printf("%s: %s\n", what, strerror(errno));
        exit(1);
    }
    return rc;
}

static int bound(int type, const char *name) {
    struct sockaddr_un a;
    socklen_t len = addr(&a, name);
    unlink(a.sun_path);
    int s = check("socket", socket(AF_UNIX, type, 0));
    check(name, bind(s, (struct sockaddr *) &a, len));
    return s;
}

static void stream(void) {
    struct sockaddr_un a, got;
    socklen_t len;
    int srv = bound(SOCK_STREAM, "srv.sock");
    check("listen", listen(srv, 4));
    len = sizeof got;
    check("getsockname", getsockname(srv, (struct sockaddr *) &got, &len));
    show("getsockname srv", &got, len);

    int cli = bound(SOCK_STREAM, "cli.sock");
    len = addr(&a, "srv.sock");
    check("connect", connect(cli, (struct sockaddr *) &a, len));
    len = sizeof got;
    int conn = check("accept", accept(srv, (struct sockaddr *) &got, &len));
    show("accept", &got, len);
    len = sizeof got;
    check("getpeername", getpeername(cli, (struct sockaddr *) &got, &len));
    show("getpeername cli", &got, len);
    len = sizeof got;
    check("getpeername", getpeername(conn, (struct sockaddr *) &got, &len));
    show("getpeername conn", &got, len);
    len = sizeof got;
    check("getsockname", getsockname(conn, (struct sockaddr *) &got, &len));
    show("getsockname conn", &got, len);

    /* Truncation: a 10-byte buffer holds the family and 8 path bytes; len reports the full size. */
    char small[16];
    memset(small, '#', sizeof small);
    len = 10;
    check("getsockname", getsockname(srv, (struct sockaddr *) small, &len));
    printf("getsockname truncated: len=%u bytes=%.8s rest=%c\n", (unsigned) len, small + 2, small[10]);

    /* An unnamed client; accept4 and recvfrom on the stream. */
    int anon = check("socket", socket(AF_UNIX, SOCK_STREAM, 0));
    len = addr(&a, "srv.sock");
    check("connect", connect(anon, (struct sockaddr *) &a, len));
    len = sizeof got;
    int conn2 = check("accept4", accept4(srv, (struct sockaddr *) &got, &len, SOCK_CLOEXEC));
    show("accept4 unnamed", &got, len);
    check("write", write(cli, "stream", 6));
    char buf[64];
    len = sizeof got;
    ssize_t n = check("recvfrom", recvfrom(conn, buf, sizeof buf, 0, (struct sockaddr *) &got, &len));
    printf("recvfrom stream: %.*s\n", (int) n, buf);
    /* A path through a symlink: connect follows it. */
    char link[300];
    snprintf(link, sizeof link, "%s/link.sock", dir);
    unlink(link);
    check("symlink", symlink("srv.sock", link));
    int vialink = check("socket", socket(AF_UNIX, SOCK_STREAM, 0));
    len = addr(&a, "link.sock");
    check("connect via symlink", connect(vialink, (struct sockaddr *) &a, len));
    len = sizeof got;
    check("getpeername", getpeername(vialink, (struct sockaddr *) &got, &len));
    show("getpeername via symlink", &got, len);
    close(vialink);
    close(conn2);
    close(anon);
    close(conn);
    close(cli);
    close(srv);
}

static void datagram(void) {
    struct sockaddr_un a, got;
    socklen_t len;
    char buf[64];
    int d1 = bound(SOCK_DGRAM, "d1.sock");
    int d2 = bound(SOCK_DGRAM, "d2.sock");
    len = addr(&a, "d1.sock");
    check("sendto", sendto(d2, "hello", 5, 0, (struct sockaddr *) &a, len));
    len = sizeof got;
    ssize_t n = check("recvfrom", recvfrom(d1, buf, sizeof buf, 0, (struct sockaddr *) &got, &len));
    printf("recvfrom: %.*s\n", (int) n, buf);
    show("recvfrom from", &got, len);

    struct iovec iov = {"via sendmsg", 11};
    struct msghdr m = {0};
    m.msg_name = &a;
    m.msg_namelen = addr(&a, "d1.sock");
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    check("sendmsg", sendmsg(d2, &m, 0));
    printf("sendmsg left msg_name: %s\n", a.sun_path);

    /* recvmsg: the name, its length, and an SCM_RIGHTS-sized control buffer left as the kernel says. */
    union { char c[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct iovec in = {buf, sizeof buf};
    memset(&m, 0, sizeof m);
    m.msg_name = &got;
    m.msg_namelen = sizeof got;
    m.msg_iov = &in;
    m.msg_iovlen = 1;
    m.msg_control = control.c;
    m.msg_controllen = sizeof control.c;
    n = check("recvmsg", recvmsg(d1, &m, 0));
    printf("recvmsg: %.*s controllen=%zu flags=%d\n", (int) n, buf, (size_t) m.msg_controllen, m.msg_flags);
    show("recvmsg from", &got, m.msg_namelen);

    /* Truncated recvmsg name: 6 bytes hold the family and 4 path bytes. */
    check("sendto", sendto(d2, "x", 1, 0, (struct sockaddr *) &a, addr(&a, "d1.sock")));
    char small[16];
    memset(small, '#', sizeof small);
    memset(&m, 0, sizeof m);
    m.msg_name = small;
    m.msg_namelen = 6;
    m.msg_iov = &in;
    m.msg_iovlen = 1;
    check("recvmsg", recvmsg(d1, &m, 0));
    printf("recvmsg truncated: len=%u bytes=%.4s rest=%c\n", (unsigned) m.msg_namelen, small + 2, small[6]);

    /* Vectors: two messages to d1 by sendmmsg, received by recvmmsg with their senders' names. */
    struct sockaddr_un to[2], from[2];
    struct iovec out[2] = {{"first", 5}, {"second", 6}};
    char inbuf[2][16];
    struct iovec ins[2] = {{inbuf[0], sizeof inbuf[0]}, {inbuf[1], sizeof inbuf[1]}};
    struct mmsghdr vec[2];
    memset(vec, 0, sizeof vec);
    for (int i = 0; i < 2; i++) {
        vec[i].msg_hdr.msg_name = &to[i];
        vec[i].msg_hdr.msg_namelen = addr(&to[i], "d1.sock");
        vec[i].msg_hdr.msg_iov = &out[i];
        vec[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = check("sendmmsg", sendmmsg(d2, vec, 2, 0));
    printf("sendmmsg: %d sent, msg_len %u %u, left msg_name %s\n", sent, vec[0].msg_len, vec[1].msg_len, to[1].sun_path);
    memset(vec, 0, sizeof vec);
    for (int i = 0; i < 2; i++) {
        vec[i].msg_hdr.msg_name = &from[i];
        vec[i].msg_hdr.msg_namelen = i == 0 ? sizeof from[0] : 8;
        vec[i].msg_hdr.msg_iov = &ins[i];
        vec[i].msg_hdr.msg_iovlen = 1;
    }
    memset(from, '#', sizeof from);
    int got_n = check("recvmmsg", recvmmsg(d1, vec, 2, MSG_WAITALL, NULL));
    for (int i = 0; i < got_n; i++) {
        printf("recvmmsg %d: %.*s len=%u\n", i, (int) vec[i].msg_len, inbuf[i], vec[i].msg_len);
        if (i == 0) show("recvmmsg from", &from[i], vec[i].msg_hdr.msg_namelen);
        else printf("recvmmsg truncated: len=%u bytes=%.6s rest=%c\n", vec[i].msg_hdr.msg_namelen, from[i].sun_path, from[i].sun_path[6]);
    }

    /* No address asked for: recv and send, untouched. */
    check("connect", connect(d2, (struct sockaddr *) &a, addr(&a, "d1.sock")));
    check("send", send(d2, "plain", 5, 0));
    n = check("recv", recv(d1, buf, sizeof buf, 0));
    printf("recv: %.*s\n", (int) n, buf);
    /* An unnamed sender. */
    int d3 = check("socket", socket(AF_UNIX, SOCK_DGRAM, 0));
    check("sendto", sendto(d3, "anon", 4, 0, (struct sockaddr *) &a, addr(&a, "d1.sock")));
    len = sizeof got;
    n = check("recvfrom", recvfrom(d1, buf, sizeof buf, 0, (struct sockaddr *) &got, &len));
    printf("recvfrom: %.*s\n", (int) n, buf);
    show("recvfrom unnamed", &got, len);
    /* A missing destination fails as it would. */
    n = sendto(d3, "lost", 4, 0, (struct sockaddr *) &a, addr(&a, "nobody.sock"));
    printf("sendto missing: %zd %s\n", n, n < 0 ? strerror(errno) : "");
    close(d3);
    close(d2);
    close(d1);
}

/* A plain relative name is recorded as given, under chroot and under the tracer alike. */
static void relative(void) {
    struct sockaddr_un a = {AF_UNIX}, got;
    socklen_t len;
    if (chdir(dir) != 0) { printf("chdir: %s\n", strerror(errno)); exit(1); }
    strcpy(a.sun_path, "rel.sock");
    unlink(a.sun_path);
    int s = check("socket", socket(AF_UNIX, SOCK_STREAM, 0));
    check("bind relative", bind(s, (struct sockaddr *) &a, sizeof a));
    check("listen", listen(s, 1));
    len = sizeof got;
    check("getsockname", getsockname(s, (struct sockaddr *) &got, &len));
    show("getsockname relative", &got, len);
    int c = check("socket", socket(AF_UNIX, SOCK_STREAM, 0));
    check("connect relative", connect(c, (struct sockaddr *) &a, sizeof a));
    len = sizeof got;
    check("getpeername", getpeername(c, (struct sockaddr *) &got, &len));
    show("getpeername relative", &got, len);
    close(c);
    close(s);
    if (chdir("/") != 0) exit(1);
}

static void others(void) {
    struct sockaddr_un got;
    socklen_t len;
    /* Abstract names pass untouched. */
    struct sockaddr_un a = {AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "tether-abstr-%d", (int) getpid());
    int s = check("socket", socket(AF_UNIX, SOCK_DGRAM, 0));
    check("bind abstract", bind(s, (struct sockaddr *) &a, offsetof(struct sockaddr_un, sun_path) + 1 + n));
    len = sizeof got;
    check("getsockname", getsockname(s, (struct sockaddr *) &got, &len));
    printf("getsockname abstract: len-delta=%d %.12s\n", (int) len - n, got.sun_path + 1);
    close(s);
    /* Unnamed pairs. */
    int sv[2];
    check("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    len = sizeof got;
    check("getsockname", getsockname(sv[0], (struct sockaddr *) &got, &len));
    show("socketpair", &got, len);
    close(sv[0]);
    close(sv[1]);
    /* Other families are not touched (and cost no exit stop). */
    int u = check("socket", socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in in = {AF_INET};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check("bind inet", bind(u, (struct sockaddr *) &in, sizeof in));
    socklen_t inlen = sizeof in;
    check("getsockname", getsockname(u, (struct sockaddr *) &in, &inlen));
    check("sendto inet", sendto(u, "udp", 3, 0, (struct sockaddr *) &in, sizeof in));
    struct sockaddr_in from;
    inlen = sizeof from;
    char buf[8];
    ssize_t got_n = check("recvfrom inet", recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *) &from, &inlen));
    printf("recvfrom inet: %.*s from %s len=%u\n", (int) got_n, buf, inet_ntoa(from.sin_addr), (unsigned) inlen);
    close(u);
}

static void on_alarm(int sig) {
    (void) sig;
}

/* A recvfrom interrupted by a handled SA_RESTART signal restarts, and still reports the guest path. */
static void restarted(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    int d1 = bound(SOCK_DGRAM, "r1.sock");
    pid_t pid = fork();
    if (pid == 0) {
        usleep(300000);
        struct sockaddr_un to;
        int d = bound(SOCK_DGRAM, "r2.sock");
        sendto(d, "late", 4, 0, (struct sockaddr *) &to, addr(&to, "r1.sock"));
        _exit(0);
    }
    ualarm(100000, 0);
    struct sockaddr_un got;
    socklen_t len = sizeof got;
    char buf[16];
    ssize_t n = check("recvfrom restarted", recvfrom(d1, buf, sizeof buf, 0, (struct sockaddr *) &got, &len));
    printf("recvfrom after a signal: %.*s\n", (int) n, buf);
    show("recvfrom after a signal from", &got, len);
    waitpid(pid, NULL, 0);
    close(d1);
}

int main(int argc, char **argv) {
    snprintf(dir, sizeof dir, "%.60s", argc > 1 ? argv[1] : "/tmp");
    setvbuf(stdout, NULL, _IONBF, 0);
    stream();
    datagram();
    others();
    relative();
    restarted();
    printf("done\n");
    return 0;
}
