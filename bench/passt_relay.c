/* SPDX-License-Identifier: GPL-3.0-or-later
 * The relay of the passt stand-in guest (passt_guest.py): frames between a tap and passt's
 * UNIX socket, in QEMU's -netdev stream protocol (4-byte big-endian length, then the frame),
 * forwarded as they are (no padding of short frames).
 *   passt_relay TAP SOCKET    prints "ready" once the tap exists and the socket is connected
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (65536 + 14)
static int tap, sock;

static int full(int fd, void *buf, size_t len, int writing)
{
	char *p = buf;

	while (len) {
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static void *to_tap(void *unused)
{
	static char buf[MAX_FRAME];
	uint32_t len;

	(void)unused;
	for (;;) {
		if (full(sock, &len, 4, 0))
			exit(0);
		len = ntohl(len);
		if (len > sizeof(buf) || full(sock, buf, len, 0))
			exit(1);
		if (write(tap, buf, len) < 0)
			continue;	/* the tap is down: dropped, as a NIC would */
	}
}

int main(int argc, char **argv)
{
	static char buf[MAX_FRAME];
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	pthread_t thread;

	if (argc != 3) {
		fprintf(stderr, "usage: %s TAP SOCKET\n", argv[0]);
		return 2;
	}
	strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
	strncpy(addr.sun_path, argv[2], sizeof(addr.sun_path) - 1);
	tap = open("/dev/net/tun", O_RDWR);
	if (tap < 0 || ioctl(tap, TUNSETIFF, &ifr)) {
		perror("tap");
		return 1;
	}
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("connect");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (pthread_create(&thread, NULL, to_tap, NULL))
		return 1;
	for (;;) {
		ssize_t n = read(tap, buf, sizeof(buf));
		uint32_t len = htonl((uint32_t)n);
		struct iovec iov[2] = { { &len, 4 }, { buf, (size_t)n } };

		if (n <= 0 || writev(sock, iov, 2) != n + 4)
			return 1;	/* a blocking UNIX stream socket takes it whole */
	}
}
