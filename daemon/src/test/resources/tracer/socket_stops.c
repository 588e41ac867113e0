/* Stop counting for the socket traps: "plain" sends and receives on an AF_UNIX pair with no
 * address (send/recv, sendto/recvfrom with NULL: never trapped); "inet" does sendto/recvfrom with
 * addresses on a UDP socket (one entry stop each, no exit stop: the socket is no Unix socket). */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUNDS 1000

int main(int argc, char **argv) {
    char buf[8];
    int ok = 0;
    if (argc > 1 && strcmp(argv[1], "inet") == 0) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in in = {AF_INET};
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof in;
        if (u < 0 || bind(u, (struct sockaddr *) &in, sizeof in) || getsockname(u, (struct sockaddr *) &in, &len)) return 2;
        for (int i = 0; i < ROUNDS; i++) {
            struct sockaddr_in from;
            len = sizeof from;
            if (sendto(u, "x", 1, 0, (struct sockaddr *) &in, sizeof in) == 1
                && recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *) &from, &len) == 1 && len == sizeof from) ok++;
        }
    } else {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) return 2;
        for (int i = 0; i < ROUNDS; i++) {
            if (send(sv[0], "x", 1, 0) == 1 && recv(sv[1], buf, sizeof buf, 0) == 1
                && sendto(sv[1], "y", 1, 0, NULL, 0) == 1 && recvfrom(sv[0], buf, sizeof buf, 0, NULL, NULL) == 1) ok++;
        }
    }
    printf("ok %d\n", ok);
    return ok == ROUNDS ? 0 : 1;
}
