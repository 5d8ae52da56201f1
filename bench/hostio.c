// SPDX-License-Identifier: Apache-2.0
/*
 * The host side of the virtio-blk comparison: the I/O pattern the test guest's bench-blk
 * issues (tests/guest/test_blk.c), done directly on the host file from the same
 * environment. Batches of up to QD requests are submitted together and all reaped
 * before the next batch, as the guest does, through io_uring; "sync" does the same
 * requests one at a time with pread/pwrite.
 *
 *   hostio FILE randread|randwrite|seqread|seqwrite BLOCK_BYTES TOTAL_BYTES QD uring|sync
 *
 * Prints one line: "ops=N bytes=B ns=T". Exit 0, or 1 with a message.
 *
 *   hostio --tsc-hz
 *
 * Prints "tsc_hz=N": this host's TSC rate over 200 ms of CLOCK_MONOTONIC_RAW, which
 * converts the test guest's TSC-timed phases (a KVM guest's TSC runs at the host's rate
 * unless the VMM scales it, which this one does not).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD 128

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static int tsc_hz(void)
{
	struct timespec a, b, d = { 0, 200000000 };
	uint64_t t0, t1, ns;

	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	t0 = rdtsc();
	nanosleep(&d, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	t1 = rdtsc();
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL + (uint64_t)b.tv_nsec -
	     (uint64_t)a.tv_nsec;
	printf("tsc_hz=%llu\n", (unsigned long long)((t1 - t0) * 1000000000ULL / ns));
	return 0;
}

/* The guest's generator, so both sides touch the same kind of offsets. */
static uint64_t lcg = 88172645463325252ULL;
static uint64_t rnd(void)
{
	lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
	return lcg >> 17;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "hostio: %s: %s\n", what, strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct stat st;
	uint8_t *buf;
	uint64_t len, total, ops, done = 0, seq = 0, sectors, t0;
	unsigned int qd;
	bool write, random, uring;
	int fd, r;

	if (argc == 2 && !strcmp(argv[1], "--tsc-hz"))
		return tsc_hz();
	if (argc != 7) {
		fprintf(stderr, "usage: hostio FILE randread|randwrite|seqread|seqwrite "
				"BLOCK_BYTES TOTAL_BYTES QD uring|sync\n       hostio --tsc-hz\n");
		return 2;
	}
	write = strstr(argv[2], "write") != NULL;
	random = strncmp(argv[2], "rand", 4) == 0;
	len = strtoull(argv[3], NULL, 0);
	total = strtoull(argv[4], NULL, 0);
	qd = (unsigned int)strtoul(argv[5], NULL, 0);
	uring = strcmp(argv[6], "uring") == 0;
	if (len < 512 || len % 512 || len > (64u << 20) || qd < 1 || qd > MAX_QD ||
	    total < len) {
		fprintf(stderr, "hostio: bad block size, total or queue depth\n");
		return 2;
	}
	ops = total / len;
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return die(argv[1], errno);
	if (fstat(fd, &st) < 0)
		return die("fstat", errno);
	sectors = (uint64_t)st.st_size / 512;
	if (sectors < 2 * len / 512)
		return die("file too small", EINVAL);
	buf = aligned_alloc(4096, len * qd);
	if (!buf)
		return die("buffer", ENOMEM);
	memset(buf, 0x5a, len * qd);
	/* The VMM's ring flags (vmm/virtio/blk.c), so neither side has a better ring. */
	if (uring)
		r = io_uring_queue_init(qd, &ring,
					IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (uring && r == -EINVAL)
		r = io_uring_queue_init(qd, &ring, IORING_SETUP_COOP_TASKRUN);
	if (uring && r == -EINVAL)
		r = io_uring_queue_init(qd, &ring, 0);
	if (uring && r < 0)
		return die("io_uring_queue_init", -r);

	t0 = now_ns();
	while (done < ops) {
		unsigned int n = (unsigned int)(ops - done < qd ? ops - done : qd);

		for (unsigned int i = 0; i < n; i++) {
			uint64_t sector = random ? (rnd() % (sectors - len / 512)) & ~7ULL
						 : (seq * (len / 512)) % (sectors - len / 512);
			uint8_t *p = buf + (uint64_t)i * len;
			off_t off = (off_t)(sector * 512);

			seq++;
			if (uring) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

				if (!sqe)
					return die("io_uring_get_sqe", EBUSY);
				if (write)
					io_uring_prep_write(sqe, fd, p, (unsigned int)len, (uint64_t)off);
				else
					io_uring_prep_read(sqe, fd, p, (unsigned int)len, (uint64_t)off);
			} else {
				ssize_t k = write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);

				if (k != (ssize_t)len)
					return die("pread/pwrite", k < 0 ? errno : EIO);
			}
		}
		if (uring) {
			r = io_uring_submit_and_wait(&ring, n);
			if (r < 0)
				return die("io_uring_submit_and_wait", -r);
			for (unsigned int i = 0; i < n; i++) {
				struct io_uring_cqe *cqe;

				r = io_uring_wait_cqe(&ring, &cqe);
				if (r < 0)
					return die("io_uring_wait_cqe", -r);
				if (cqe->res != (int)len)
					return die("short or failed request",
						   cqe->res < 0 ? -cqe->res : EIO);
				io_uring_cqe_seen(&ring, cqe);
			}
		}
		done += n;
	}
	printf("ops=%llu bytes=%llu ns=%llu\n", (unsigned long long)ops,
	       (unsigned long long)(ops * len), (unsigned long long)(now_ns() - t0));
	if (uring)
		io_uring_queue_exit(&ring);
	free(buf);
	close(fd);
	return 0;
}
