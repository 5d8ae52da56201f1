// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk throughput through the fake-guest path (the device driven through its MMIO
 * registers, rings in a malloc'd guest RAM) for both engines, against the same I/O
 * pattern issued directly on the host file through io_uring or pread/pwrite. Prints
 * requests/s, MB/s and the device/host ratio, plus the drive activation time (io_uring
 * setup). No guest CPU and no VM exits are involved. Two ways to drive the device:
 *
 *   inline    the fake driver and the VMM event loop share one thread: the driver's work
 *             (descriptors, used ring) and the kick's eventfd write are counted against
 *             the device; what one core can do.
 *   threaded  the driver runs on its own thread like a vCPU: it kicks with a write to the
 *             queue's eventfd (what KVM's ioeventfd does) when the device asks for kicks
 *             (EVENT_IDX avail_event, as Linux decides) and sleeps on the irqfd until
 *             the device interrupts, having asked (used_event) for one interrupt per
 *             batch, as the host side's io_uring waits once per batch. The VMM event
 *             loop runs on another thread. Two threads wake each other twice per batch.
 *   polled    threaded, with the VMM loop's adaptive polling on, bounded as the VMM's
 *             default (EV_POLL_MAX_US_DEFAULT; BLK_BENCH_POLL_US=N another bound): the
 *             loop looks at the ring for a while before it sleeps, with kicks
 *             suppressed meanwhile. Its CPU time counts.
 *   spin      polled, with a driver that spins on the used ring and asks for no
 *             interrupts, as the test guest's bench does: what the guest-driven bench
 *             measures, less the VM exits (a kick here is an eventfd write) and the
 *             guest's own speed. Wants two idle cores: both threads spin.
 *
 *   blk_bench [image-dir [pattern [inline|threaded|polled|spin]]]
 *            (default /var/tmp, every pattern, both ways; a 64 MiB file is created and
 *            removed)
 */
#include <fcntl.h>
#include <liburing.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test_virtio_mmio_driver.h"
#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/virtio/blk.h"

#define FILE_SIZE (64ULL << 20)
#define MAX_QD 32
#define ROUNDS 3

struct pattern {
	const char *name;
	bool write, random;
	uint32_t bs;
	unsigned int qd, total;
};

static const struct pattern patterns[] = {
	{ "4k-randread", false, true, 4096, 32, 40000 },
	{ "4k-randwrite", true, true, 4096, 32, 40000 },
	{ "1m-seqread", false, false, 1 << 20, 4, 1024 },
	{ "1m-seqwrite", true, false, 1 << 20, 4, 1024 },
};

/* Requests per wall second and per CPU second of the whole process (the io-wq workers
 * are its threads): on a shared machine the second is the steadier of the two. For the
 * device, kicks: the share of batches the driver had to kick for (-1: inline, where
 * every batch kicks). */
struct rate {
	double wall, cpu, kicks;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct rate rate_of(unsigned int n, uint64_t wall_ns, uint64_t cpu)
{
	return (struct rate){ n / (wall_ns / 1e9), n / (MAX(cpu, 1) / 1e9), -1 };
}

static struct rate rate_max(struct rate a, struct rate b)
{
	return (struct rate){ MAX(a.wall, b.wall), MAX(a.cpu, b.cpu),
			      a.wall >= b.wall ? a.kicks : b.kicks };
}

static const struct rate rate_fail = { -1, -1, -1 };

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_off(const struct pattern *p, unsigned int i)
{
	if (!p->random)
		return ((uint64_t)i * p->bs) % FILE_SIZE;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng % (FILE_SIZE / p->bs)) * p->bs;
}

/* The VMM thread of the threaded way: the event loop until told to stop. */
struct vmm_thread {
	struct fake_drv *d;
	atomic_bool stop;
	int wake; /* eventfd on the loop: stop is looked at */
	struct ev_source wake_src;
};

static void wake_event(void *opaque, uint32_t events)
{
	struct vmm_thread *t = opaque;
	eventfd_t v;

	eventfd_read(t->wake, &v);
}

static void *vmm_main(void *arg)
{
	struct vmm_thread *t = arg;

	while (!atomic_load(&t->stop))
		ev_loop_run_once(&t->d->loop, -1);
	return NULL;
}

/*
 * The threaded driver asks for one interrupt per batch: when the n-th used entry from
 * now appears (used_event, 2.7.10). Before the kick, as a driver re-enables callbacks
 * before it sleeps: set after it, a device that already finished would not interrupt.
 */
static void drv_want_irq(struct fake_drv *d, uint16_t n)
{
	uint16_t *used_event = &drv_avail(d)[2 + d->qsize];

	__atomic_store_n(used_event, (uint16_t)(d->used_seen + n - 1), __ATOMIC_SEQ_CST);
}

/* Sleep on the irqfd until n more used entries are there. false after ~2 s. */
static bool drv_wait_irq(struct fake_drv *d, uint16_t n)
{
	uint16_t want = (uint16_t)(d->used_seen + n);
	struct pollfd pfd = { .fd = virtio_mmio_irqfd(d->dev), .events = POLLIN };

	for (int i = 0; i < 400 && drv_used_idx(d) != want; i++) {
		eventfd_t v;

		/* Checked after reading the irqfd: an interrupt raised meanwhile stays counted. */
		if (poll(&pfd, 1, 5) > 0)
			eventfd_read(pfd.fd, &v);
	}
	if (drv_used_idx(d) != want)
		return false;
	d->used_seen = want;
	return true;
}

/* Spin until n more used entries are there. false after ~2 s. */
static bool drv_spin_used(struct fake_drv *d, uint16_t n)
{
	uint16_t want = (uint16_t)(d->used_seen + n);
	uint64_t end = util_now_ns() + 2000000000ULL;

	for (unsigned int i = 1; drv_used_idx(d) != want; i++) {
		if (!(i % 1024) && util_now_ns() > end)
			return false;
		__builtin_ia32_pause();
	}
	d->used_seen = want;
	return true;
}

enum way { WAY_INLINE, WAY_THREADED, WAY_POLLED, WAY_SPIN };

static unsigned int poll_us(void)
{
	const char *e = getenv("BLK_BENCH_POLL_US");

	return e ? (unsigned int)strtoul(e, NULL, 10) : EV_POLL_MAX_US_DEFAULT;
}

/* Requests per second through the device; -1 on error. */
static struct rate run_device(const char *path, enum io_engine_cfg e, const struct pattern *p,
			      enum way way, uint64_t *act_ns)
{
	bool threaded = way != WAY_INLINE;
	struct vmm_thread vt = { .wake = -1 };
	pthread_t tid;
	bool started = false, ok = true;
	int kick_fd;
	struct fake_drv d;
	struct virtio_blk *blk;
	struct drive_cfg cfg = { .drive_id = "bench", .path_on_host = (char *)(uintptr_t)path,
				 .io_engine = e };
	struct config_err err;
	uint64_t hdr[MAX_QD], data[MAX_QD], st[MAX_QD], t0, c0, dt;
	unsigned int done = 0, batches = 0, kicks = 0;
	struct rate r;

	if (drv_init(&d) || virtio_blk_create(&blk, &cfg, &d.env, 0xd0000000ULL, &err))
		return rate_fail;
	d.dev = virtio_blk_mmio(blk);
	if (way == WAY_POLLED || way == WAY_SPIN)
		ev_loop_set_poll_max(&d.loop, poll_us() * 1000ULL);
	if (threaded) {
		/* The loop thread activates the device, as the VMM thread does: it owns the ring. */
		vt.d = &d;
		vt.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vt.wake_src = (struct ev_source){ .fd = vt.wake, .fn = wake_event, .opaque = &vt };
		if (vt.wake < 0 || ev_add(&d.loop, &vt.wake_src, EPOLLIN) < 0 ||
		    pthread_create(&tid, NULL, vmm_main, &vt))
			return rate_fail;
		started = true;
		d.loop_elsewhere = true;
	}
	if (drv_setup(&d, ~0ULL, 128))
		return rate_fail;
	for (unsigned int k = 0; k < p->qd; k++) {
		hdr[k] = drv_alloc(&d, 16);
		st[k] = drv_alloc(&d, 1);
	}
	for (unsigned int k = 0; k < p->qd; k++) {
		/* Page-aligned like a guest's bio pages (and the host side's buffers). */
		d.next_buf = ALIGN_UP(d.next_buf, 4096ULL);
		data[k] = drv_alloc(&d, p->bs);
	}
	for (unsigned int k = 0; k < p->qd; k++) {
		drv_desc(&d, DRV_DESC, (uint16_t)(3 * k), hdr[k], 16, VIRTQ_DESC_F_NEXT,
			 (uint16_t)(3 * k + 1));
		drv_desc(&d, DRV_DESC, (uint16_t)(3 * k + 1), data[k], p->bs,
			 VIRTQ_DESC_F_NEXT | (p->write ? 0 : VIRTQ_DESC_F_WRITE), (uint16_t)(3 * k + 2));
		drv_desc(&d, DRV_DESC, (uint16_t)(3 * k + 2), st[k], 1, VIRTQ_DESC_F_WRITE, 0);
		memset(drv_ptr(&d, data[k]), 0x5a, p->bs);
	}
	kick_fd = virtio_mmio_kick_fd(d.dev, 0);
	t0 = util_now_ns();
	c0 = cpu_ns();
	while (ok && done < p->total) {
		uint16_t old = d.avail_idx;

		for (unsigned int k = 0; k < p->qd; k++) {
			uint32_t h[4] = { p->write ? 1 : 0, 0 };
			uint64_t sector = next_off(p, done + k) / 512;

			memcpy(h + 2, &sector, 8);
			memcpy(drv_ptr(&d, hdr[k]), h, 16);
			drv_post(&d, (uint16_t)(3 * k));
		}
		batches++;
		if (way == WAY_SPIN) {
			/* used_event half the ring space away: no interrupt this batch. */
			__atomic_store_n(&drv_avail(&d)[2 + d.qsize], (uint16_t)(d.used_seen + 0x8000),
					 __ATOMIC_RELAXED);
			/* KVM's ioeventfd: the vCPU's QueueNotify write becomes this. */
			if (drv_kick_needed(&d, old, true)) {
				kicks++;
				eventfd_write(kick_fd, 1);
			}
			ok = drv_spin_used(&d, (uint16_t)p->qd);
		} else if (threaded) {
			drv_want_irq(&d, (uint16_t)p->qd);
			if (drv_kick_needed(&d, old, true)) {
				kicks++;
				eventfd_write(kick_fd, 1);
			}
			ok = drv_wait_irq(&d, (uint16_t)p->qd);
		} else {
			drv_kick(&d);
			ok = drv_wait_used(&d, (uint16_t)p->qd);
		}
		for (unsigned int k = 0; ok && k < p->qd; k++)
			ok = *(uint8_t *)drv_ptr(&d, st[k]) == 0;
		done += p->qd;
	}
	dt = util_now_ns() - t0;
	*act_ns = virtio_blk_activation_ns(blk);
	/* The loop thread owns the ring: let it reap what a failed run left in flight. */
	for (int i = 0; started && i < 2000 && virtio_blk_inflight(blk); i++)
		usleep(1000);
	if (started) {
		atomic_store(&vt.stop, true);
		eventfd_write(vt.wake, 1);
		pthread_join(tid, NULL);
		ev_del(&d.loop, &vt.wake_src);
	}
	if (vt.wake >= 0)
		close(vt.wake);
	virtio_blk_destroy(blk);
	drv_fini(&d);
	if (!ok)
		return rate_fail;
	r = rate_of(done, dt, cpu_ns() - c0);
	if (threaded)
		r.kicks = (double)kicks / MAX(batches, 1);
	return r;
}

/*
 * The same pattern straight on the host file, with the device's working set (one buffer
 * per queue slot, so 1 MiB patterns do not get a cache-hot buffer the device lacks):
 * "sync" one pread/pwrite at a time, "uring" batches of qd through io_uring as the
 * fake guest posts them. Requests per second; -1 on error.
 */
static struct rate run_host(const char *path, const struct pattern *p, bool uring)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t *buf = aligned_alloc(4096, (size_t)p->bs * p->qd);
	struct io_uring ring;
	uint64_t t0, c0, dt;
	bool ring_ok = false;
	struct rate r = rate_fail;

	if (fd < 0 || !buf)
		goto out;
	if (uring) {
		/* The device's ring flags (vmm/virtio/blk.c), so neither side has a better ring. */
		if (io_uring_queue_init(p->qd, &ring, IORING_SETUP_SINGLE_ISSUER |
							     IORING_SETUP_DEFER_TASKRUN) < 0 &&
		    io_uring_queue_init(p->qd, &ring, IORING_SETUP_COOP_TASKRUN) < 0 &&
		    io_uring_queue_init(p->qd, &ring, 0) < 0)
			goto out;
		ring_ok = true;
	}
	memset(buf, 0x5a, (size_t)p->bs * p->qd);
	t0 = util_now_ns();
	c0 = cpu_ns();
	for (unsigned int i = 0; i < p->total; i += p->qd) {
		for (unsigned int k = 0; k < p->qd; k++) {
			off_t off = (off_t)next_off(p, i + k);
			uint8_t *b = buf + (size_t)k * p->bs;
			struct io_uring_sqe *sqe;
			ssize_t n;

			if (uring) {
				sqe = io_uring_get_sqe(&ring);
				if (p->write)
					io_uring_prep_write(sqe, fd, b, p->bs, (uint64_t)off);
				else
					io_uring_prep_read(sqe, fd, b, p->bs, (uint64_t)off);
				continue;
			}
			n = p->write ? pwrite(fd, b, p->bs, off) : pread(fd, b, p->bs, off);
			if (n != (ssize_t)p->bs)
				goto out;
		}
		if (uring) {
			struct io_uring_cqe *cqe;

			if (io_uring_submit_and_wait(&ring, p->qd) < 0)
				goto out;
			for (unsigned int k = 0; k < p->qd; k++) {
				if (io_uring_wait_cqe(&ring, &cqe) < 0 || cqe->res != (int)p->bs)
					goto out;
				io_uring_cqe_seen(&ring, cqe);
			}
		}
	}
	dt = util_now_ns() - t0;
	r = rate_of(p->total, dt, cpu_ns() - c0);
out:
	if (ring_ok)
		io_uring_queue_exit(&ring);
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

/*
 * Write back what the previous run dirtied, outside the timed part: otherwise the
 * flusher writes it back during whichever run comes next (a read pattern after a
 * write one, or the other side of a pair) and that run is charged for it.
 */
static void settle(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		fdatasync(fd);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static const char *const ways[] = { "inline", "threaded", "polled", "spin" };
	const char *dir = argc > 1 ? argv[1] : "/var/tmp";
	const char *only = argc > 2 ? argv[2] : NULL;
	const char *only_way = argc > 3 ? argv[3] : NULL;
	char path[4096];
	uint8_t *chunk;
	int fd;
	uint64_t act_ns = 0, act[ARRAY_SIZE(patterns) * ROUNDS * ARRAY_SIZE(ways)];
	unsigned int act_n = 0;

	log_set_level(LOG_WARN);
	/* As in the VMM: the loop stays on the thread that activated the device. */
	virtio_blk_set_loop_pinned(true);
	/*
	 * Guest RAM and the host's buffers are fresh mmaps in every run, as a VMM's guest
	 * RAM is: glibc otherwise raises its mmap threshold after the first free, and
	 * which run of which side got heap memory instead would depend on the order.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	snprintf(path, sizeof(path), "%s/blk_bench.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	chunk = calloc(1, 1 << 20);
	for (uint64_t off = 0; off < FILE_SIZE; off += 1 << 20) {
		memset(chunk, (int)(off >> 20), 1 << 20);
		if (util_write_all(fd, chunk, 1 << 20) < 0)
			return 1;
	}
	free(chunk);
	close(fd);

	printf("virtio-blk through the fake-guest path, %llu MiB file in %s (page cache warm)\n",
	       (unsigned long long)(FILE_SIZE >> 20), dir);
	printf("host: the same requests with pread/pwrite one at a time (sync) and through io_uring\n"
	       "in batches of qd (uring); best of %d interleaved rounds each. ratio = device / the\n"
	       "faster host way, by wall time and by process CPU time (io-wq workers included).\n"
	       "way: inline = driver and VMM loop on one thread; threaded = driver on its own\n"
	       "thread (ioeventfd-like kick, one irqfd interrupt per batch), VMM loop on another;\n"
	       "polled = threaded, the loop polling up to %u us before it sleeps%s;\n"
	       "spin = polled, the driver spinning on the used ring (no interrupts) as the\n"
	       "test guest does. kicks = share of batches the driver kicked for.\n",
	       ROUNDS, poll_us(), getenv("BLK_BENCH_POLL_US") ? "" : " (VMM default)");
	printf("%-13s %-6s %-8s %11s %9s %10s %10s %6s %6s %6s\n", "pattern", "engine", "way",
	       "dev req/s", "dev MB/s", "sync MB/s", "uring MB/s", "ratio", "cpu", "kicks");
	for (unsigned int i = 0; i < ARRAY_SIZE(patterns); i++) {
		const struct pattern *p = &patterns[i];
		struct rate hsync = rate_fail, huring = rate_fail, host;
		struct rate dev_best[ARRAY_SIZE(ways)][2];
		bool dev_fail[ARRAY_SIZE(ways)][2] = { { false } };

		if (only && strcmp(only, p->name) && strcmp(only, "all"))
			continue;
		/* Best of ROUNDS, interleaved: the machine may be shared, and the ratio should
		 * compare what each side can do, not who ran during someone else's burst. */
		for (unsigned int w = 0; w < ARRAY_SIZE(ways); w++)
			dev_best[w][0] = dev_best[w][1] = rate_fail;
		for (int round = 0; round < ROUNDS; round++) {
			settle(path);
			hsync = rate_max(hsync, run_host(path, p, false));
			settle(path);
			huring = rate_max(huring, run_host(path, p, true));
			for (unsigned int w = 0; w < ARRAY_SIZE(ways); w++) {
				if (only_way && strcmp(only_way, ways[w]))
					continue;
				for (int e = IO_ENGINE_SYNC; e <= IO_ENGINE_ASYNC; e++) {
					struct rate dev;

					settle(path);
					dev = run_device(path, (enum io_engine_cfg)e, p, (enum way)w, &act_ns);

					if (dev.wall < 0) {
						dev_fail[w][e] = true;
						continue;
					}
					dev_best[w][e] = rate_max(dev_best[w][e], dev);
					if (e == IO_ENGINE_ASYNC)
						act[act_n++] = act_ns;
				}
			}
		}
		host = rate_max(hsync, huring);
		for (unsigned int w = 0; w < ARRAY_SIZE(ways); w++) {
			if (only_way && strcmp(only_way, ways[w]))
				continue;
			for (int e = IO_ENGINE_SYNC; e <= IO_ENGINE_ASYNC; e++) {
				struct rate dev = dev_best[w][e];

				if (dev_fail[w][e] || dev.wall < 0 || hsync.wall < 0 ||
				    huring.wall < 0) {
					printf("%-13s %-6s %-8s failed\n", p->name, e ? "Async" : "Sync",
					       ways[w]);
					continue;
				}
				printf("%-13s %-6s %-8s %11.0f %9.1f %10.1f %10.1f %5.0f%% %5.0f%%",
				       p->name, e ? "Async" : "Sync", ways[w], dev.wall,
				       dev.wall * p->bs / 1e6, hsync.wall * p->bs / 1e6,
				       huring.wall * p->bs / 1e6, 100.0 * dev.wall / host.wall,
				       100.0 * dev.cpu / host.cpu);
				if (dev.kicks >= 0)
					printf(" %5.1f%%\n", 100.0 * dev.kicks);
				else
					printf(" %6s\n", "all");
			}
		}
	}
	if (act_n) {
		/* Median: one activation that met someone else's burst says little. */
		qsort(act, act_n, sizeof(act[0]), cmp_u64);
		printf("drive activation (io_uring ring setup): median %.0f us, min %.0f us of %u; "
		       "Sync: 0 us\n", act[act_n / 2] / 1000.0, act[0] / 1000.0, act_n);
	}
	unlink(path);
	return 0;
}
