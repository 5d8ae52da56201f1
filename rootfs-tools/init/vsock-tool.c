// SPDX-License-Identifier: MIT
/*
 * vsock-tool: the guest end of the integration tests' virtio-vsock checks
 * (busybox has no AF_VSOCK tool).
 *
 *   vsock-tool cid               print the local CID
 *   vsock-tool connect PORT N    connect to the host (CID 2) PORT, send N bytes
 *                                of pat_guest(), shut down writing, read the
 *                                answer to EOF, print its length and Adler-32
 *   vsock-tool serve PORT        accept one connection on PORT, echo to EOF
 *
 * Results are single "vsock-tool: ..." lines the host side greps from the
 * console. Every failure is reported and exits non-zero; an alarm bounds each
 * run so a lost peer cannot hang the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define HOST_CID 2
#define TIMEOUT_S 60
#define BUF_SIZE 65536
#define MAX_BYTES (1UL << 30)

static const char *mode = "";

static void err_exit(const char *what)
{
	fprintf(stderr, "vsock-tool: %s: %s: %s\n", mode, what, strerror(errno));
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "vsock-tool: timed out\n";
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(2);
}

/* Byte k the guest sends to the host; tests/integration/test_vsock_linux.sh
 * has the same formula. */
static uint8_t pat_guest(uint64_t k)
{
	return (uint8_t)(k * 7 + 3 + (k >> 12));
}

struct adler {
	uint32_t a, b;
};

static void adler_update(struct adler *s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		s->a = (s->a + p[i]) % 65521;
		s->b = (s->b + s->a) % 65521;
	}
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_cid(void)
{
	unsigned int cid;
	int fd;

	fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err_exit("open /dev/vsock");
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		err_exit("IOCTL_VM_SOCKETS_GET_LOCAL_CID");
	close(fd);
	printf("vsock-tool: cid %u\n", cid);
	return 0;
}

static int vsock_socket(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		err_exit("socket(AF_VSOCK)");
	return fd;
}

static int cmd_connect(unsigned int port, unsigned long bytes)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = HOST_CID,
		.svm_port = port,
	};
	struct adler sum = { 1, 0 };
	static uint8_t buf[BUF_SIZE];
	unsigned long sent = 0, received = 0;
	int fd = vsock_socket();

	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		err_exit("connect");
	while (sent < bytes) {
		size_t n = bytes - sent < BUF_SIZE ? bytes - sent : BUF_SIZE;
		size_t i;

		for (i = 0; i < n; i++)
			buf[i] = pat_guest(sent + i);
		errno = -write_all(fd, buf, n);
		if (errno)
			err_exit("write");
		sent += n;
	}
	if (shutdown(fd, SHUT_WR) < 0)
		err_exit("shutdown");
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err_exit("read");
		}
		if (r == 0)
			break;
		if (received + (unsigned long)r > MAX_BYTES) {
			errno = EFBIG;
			err_exit("answer");
		}
		adler_update(&sum, buf, (size_t)r);
		received += (unsigned long)r;
	}
	close(fd);
	printf("vsock-tool: connect port=%u sent=%lu received=%lu adler32=%08x\n",
	       port, sent, received, (sum.b << 16) | sum.a);
	return 0;
}

static int cmd_serve(unsigned int port)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};
	struct sockaddr_vm peer;
	socklen_t len = sizeof(peer);
	struct adler sum = { 1, 0 };
	static uint8_t buf[BUF_SIZE];
	unsigned long echoed = 0;
	int lfd = vsock_socket();
	int fd;

	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		err_exit("bind");
	if (listen(lfd, 1) < 0)
		err_exit("listen");
	printf("vsock-tool: listening on port %u\n", port);
	fflush(stdout);
	fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
	if (fd < 0)
		err_exit("accept");
	close(lfd);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err_exit("read");
		}
		if (r == 0)
			break;
		errno = -write_all(fd, buf, (size_t)r);
		if (errno)
			err_exit("write");
		adler_update(&sum, buf, (size_t)r);
		echoed += (unsigned long)r;
	}
	close(fd);
	printf("vsock-tool: served cid=%u port=%u echoed=%lu adler32=%08x\n",
	       peer.svm_cid, port, echoed, (sum.b << 16) | sum.a);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: vsock-tool cid | connect PORT BYTES | serve PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long port, bytes;

	if (argc < 2)
		usage();
	mode = argv[1];
	if (signal(SIGALRM, on_alarm) == SIG_ERR)
		err_exit("signal");
	/* A lost peer writes back a broken pipe, not a signal death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err_exit("signal");
	alarm(TIMEOUT_S);

	if (!strcmp(mode, "cid") && argc == 2)
		return cmd_cid();
	if (argc < 3 || parse_ulong(argv[2], UINT_MAX - 1, &port))
		usage();
	if (!strcmp(mode, "connect") && argc == 4) {
		if (parse_ulong(argv[3], MAX_BYTES, &bytes))
			usage();
		return cmd_connect((unsigned int)port, bytes);
	}
	if (!strcmp(mode, "serve") && argc == 3)
		return cmd_serve((unsigned int)port);
	usage();
	return 2;
}
