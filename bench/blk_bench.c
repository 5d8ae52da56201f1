// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk throughput through the fake-guest path (the device driven through its MMIO
 * registers, rings in a malloc'd guest RAM, the VMM event loop run inline) for both
 * engines, against the same I/O pattern issued with pread/pwrite directly on the host
 * file. Prints requests/s, MB/s and the device/host ratio, plus the drive activation
 * time (io_uring setup). No guest CPU and no VM exits are involved: this measures the
 * VMM's own per-request cost, an upper bound for what a guest would see.
 *
 *   blk_bench [image-dir]   (default /var/tmp; a 64 MiB file is created and removed)
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test_virtio_mmio_driver.h"
#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/virtio/blk.h"

#define FILE_SIZE (64ULL << 20)
#define MAX_QD 32

struct pattern {
	const char *name;
	bool write, random;
	uint32_t bs;
	unsigned int qd, total;
};

static const struct pattern patterns[] = {
	{ "4k-randread", false, true, 4096, 32, 40000 },
	{ "4k-randwrite", true, true, 4096, 32, 40000 },
	{ "1m-seqread", false, false, 1 << 20, 4, 256 },
	{ "1m-seqwrite", true, false, 1 << 20, 4, 256 },
};

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

/* Requests per second through the device; -1 on error. */
static double run_device(const char *path, enum io_engine_cfg e, const struct pattern *p,
			 uint64_t *act_ns)
{
	struct fake_drv d;
	struct virtio_blk *blk;
	struct drive_cfg cfg = { .drive_id = "bench", .path_on_host = (char *)(uintptr_t)path,
				 .io_engine = e };
	struct config_err err;
	uint64_t hdr[MAX_QD], data[MAX_QD], st[MAX_QD], t0, dt;
	unsigned int done = 0;

	if (drv_init(&d) || virtio_blk_create(&blk, &cfg, &d.env, 0xd0000000ULL, &err))
		return -1;
	d.dev = virtio_blk_mmio(blk);
	if (drv_setup(&d, ~0ULL, 128))
		return -1;
	*act_ns = virtio_blk_activation_ns(blk);
	for (unsigned int k = 0; k < p->qd; k++) {
		hdr[k] = drv_alloc(&d, 16);
		data[k] = drv_alloc(&d, p->bs);
		st[k] = drv_alloc(&d, 1);
		drv_desc(&d, DRV_DESC, (uint16_t)(3 * k), hdr[k], 16, VIRTQ_DESC_F_NEXT,
			 (uint16_t)(3 * k + 1));
		drv_desc(&d, DRV_DESC, (uint16_t)(3 * k + 1), data[k], p->bs,
			 VIRTQ_DESC_F_NEXT | (p->write ? 0 : VIRTQ_DESC_F_WRITE), (uint16_t)(3 * k + 2));
		drv_desc(&d, DRV_DESC, (uint16_t)(3 * k + 2), st[k], 1, VIRTQ_DESC_F_WRITE, 0);
		memset(drv_ptr(&d, data[k]), 0x5a, p->bs);
	}
	t0 = util_now_ns();
	while (done < p->total) {
		for (unsigned int k = 0; k < p->qd; k++) {
			uint32_t h[4] = { p->write ? 1 : 0, 0 };
			uint64_t sector = next_off(p, done + k) / 512;

			memcpy(h + 2, &sector, 8);
			memcpy(drv_ptr(&d, hdr[k]), h, 16);
			drv_post(&d, (uint16_t)(3 * k));
		}
		drv_kick(&d);
		if (!drv_wait_used(&d, (uint16_t)p->qd))
			return -1;
		for (unsigned int k = 0; k < p->qd; k++)
			if (*(uint8_t *)drv_ptr(&d, st[k]) != 0)
				return -1;
		done += p->qd;
	}
	dt = util_now_ns() - t0;
	virtio_blk_destroy(blk);
	drv_fini(&d);
	return done / (dt / 1e9);
}

static double run_host(const char *path, const struct pattern *p)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t *buf = aligned_alloc(4096, p->bs);
	uint64_t t0, dt;

	if (fd < 0 || !buf)
		return -1;
	memset(buf, 0x5a, p->bs);
	t0 = util_now_ns();
	for (unsigned int i = 0; i < p->total; i++) {
		off_t off = (off_t)next_off(p, i);
		ssize_t n = p->write ? pwrite(fd, buf, p->bs, off) : pread(fd, buf, p->bs, off);

		if (n != (ssize_t)p->bs)
			return -1;
	}
	dt = util_now_ns() - t0;
	close(fd);
	free(buf);
	return p->total / (dt / 1e9);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp";
	char path[4096];
	uint8_t *chunk;
	int fd;
	uint64_t act_ns = 0, act_sum = 0;
	int act_n = 0;

	log_set_level(LOG_WARN);
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
	printf("%-13s %-6s %11s %9s %11s %9s %6s\n", "pattern", "engine", "dev req/s", "dev MB/s",
	       "host req/s", "host MB/s", "ratio");
	for (unsigned int i = 0; i < ARRAY_SIZE(patterns); i++) {
		const struct pattern *p = &patterns[i];
		double host = run_host(path, p);

		for (int e = IO_ENGINE_SYNC; e <= IO_ENGINE_ASYNC; e++) {
			double dev = run_device(path, (enum io_engine_cfg)e, p, &act_ns);

			if (dev < 0 || host < 0) {
				printf("%-13s %-6s failed\n", p->name, e ? "Async" : "Sync");
				continue;
			}
			if (e == IO_ENGINE_ASYNC) {
				act_sum += act_ns;
				act_n++;
			}
			printf("%-13s %-6s %11.0f %9.1f %11.0f %9.1f %5.0f%%\n", p->name,
			       e ? "Async" : "Sync", dev, dev * p->bs / 1e6, host, host * p->bs / 1e6,
			       100.0 * dev / host);
		}
	}
	if (act_n)
		printf("drive activation (io_uring ring setup, mean of %d): %.0f us; Sync: 0 us\n",
		       act_n, act_sum / (double)act_n / 1000.0);
	unlink(path);
	return 0;
}
