// SPDX-License-Identifier: Apache-2.0
/*
 * Fuzz harness for the split virtqueue walker and the virtio-blk request path. The input
 * is the guest: 4 parameter bytes, then guest RAM (zero-padded to 64 KiB) holding the
 * descriptor table (0x1000), the avail ring (0x2000), the used ring (0x3000) and every
 * buffer the descriptors point at.
 *   byte 0: log2 of the queue size (mod 9)
 *   byte 1: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 read-only, bit 3 Writeback,
 *           bit 4 DISCARD/WRITE_ZEROES, bit 5 a second kick
 *   byte 2: how many avail entries phase 1 walks (bounded by the queue size)
 * Phase 1 runs virtq_walk() on each head and checks its promises (segments inside RAM,
 * counts bounded); phase 2 runs the whole device through its MMIO registers.
 *
 * Built two ways: with clang -fsanitize=fuzzer (LLVMFuzzerTestOneInput, `make fuzz-virtq`),
 * and with -DFUZZ_REPLAY as a plain program that replays files or directories given on
 * argv (default: tests/fuzz/corpus/virtq), which the unit-test run executes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/replay.h"
#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/memory.h"
#include "vmm/util.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"

#define RAM_SIZE 0x10000
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DISK_SIZE 0x10000


static uint8_t *ram;
static struct guest_mem mem;
static struct event_loop loop;
static char disk_path[64];
static struct virtq_chain chain;

static void init_once(void)
{
	int fd;

	if (ram)
		return;
	log_set_level(LOG_OFF);
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram || ev_loop_init(&loop))
		abort();
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	/* The disk: a memfd, reachable by path like any image file. Kept for the run. */
	fd = memfd_create("fuzz-disk", 0);
	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0)
		abort();
	snprintf(disk_path, sizeof(disk_path), "/proc/self/fd/%d", fd);
}

static void check_chain(const struct virtq_chain *c)
{
	uint64_t r = 0, w = 0;

	if (c->nsegs > VIRTQ_MAX_SEGS || c->nread > c->nsegs)
		abort();
	for (unsigned int i = 0; i < c->nsegs; i++) {
		const struct virtq_seg *s = &c->segs[i];

		if (s->hva < ram || s->len > RAM_SIZE || s->hva + s->len > ram + RAM_SIZE)
			abort();
		if (s->write != (i >= c->nread))
			abort();
		if (s->write)
			w += s->len;
		else
			r += s->len;
	}
	if (r != c->read_len || w != c->write_len)
		abort();
}

static void walk_phase(uint16_t num, unsigned int count, bool event_idx)
{
	struct virtq q;
	int r;

	virtq_reset(&q);
	q.num = num;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	if (virtq_activate(&q, &mem, event_idx))
		abort();
	for (unsigned int i = 0; i < count; i++) {
		r = virtq_pop(&q, &chain);
		if (r == 0 || r == -EPROTO)
			break;
		if (r == 1)
			check_chain(&chain);
		else if (r != -EBADMSG)
			abort();
		virtq_push(&q, chain.head, 0);
		virtq_should_signal(&q);
	}
	virtq_enable_notify(&q);
}

static void wr(struct virtio_mmio_dev *dev, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(dev, off, (const uint8_t *)&v, 4);
}

static uint32_t rd(struct virtio_mmio_dev *dev, uint64_t off)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(dev, off, (uint8_t *)&v, 4);
	return v;
}

static void device_phase(uint16_t num, uint8_t flags)
{
	struct virtio_mmio_env env = { .mem = &mem, .loop = &loop };
	struct drive_cfg cfg = { .drive_id = "fuzz", .path_on_host = disk_path,
				 .is_read_only = flags & 4,
				 .cache_type = (flags & 8) ? CACHE_WRITEBACK : CACHE_UNSAFE };
	struct virtio_blk *blk;
	struct virtio_mmio_dev *dev;
	uint64_t feat, want = (1ULL << VIRTIO_F_VERSION_1) | 0xffffffULL;

	if (virtio_blk_create(&blk, &cfg, &env, 0xd0000000ULL, NULL))
		abort();
	dev = virtio_blk_mmio(blk);
	if (flags & 1)
		want |= 1ULL << VIRTIO_F_RING_EVENT_IDX;
	if (flags & 2)
		want |= 1ULL << VIRTIO_F_RING_INDIRECT_DESC;
	if (!(flags & 16))
		want &= ~((1ULL << 13) | (1ULL << 14));
	wr(dev, VIRTIO_MMIO_STATUS, 1);
	wr(dev, VIRTIO_MMIO_STATUS, 3);
	wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	feat = rd(dev, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	feat |= (uint64_t)rd(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	feat &= want;
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	wr(dev, VIRTIO_MMIO_STATUS, 11);
	wr(dev, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(dev, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
	wr(dev, VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(dev, VIRTIO_MMIO_QUEUE_USED_LOW, USED);
	wr(dev, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(dev, VIRTIO_MMIO_STATUS, 15);
	/* DRIVER_OK kicks the queue itself; the loop runs it. */
	for (int i = 0; i < 4; i++)
		ev_loop_run_once(&loop, 0);
	if (flags & 32) {
		wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		ev_loop_run_once(&loop, 0);
	}
	wr(dev, VIRTIO_MMIO_STATUS, 0);
	virtio_blk_destroy(blk);
	/* Nothing of this device may be left on the loop. */
	if (ev_loop_run_once(&loop, 0) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t num;
	uint8_t flags;
	unsigned int count;

	init_once();
	if (size < 4)
		return 0;
	num = (uint16_t)(1u << (data[0] % 9));
	flags = data[1];
	count = MIN((unsigned int)data[2], num);
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + 4, MIN(size - 4, (size_t)RAM_SIZE));
	walk_phase(num, count, flags & 1);

	/* The walk wrote the used ring: start the device from the same input again. */
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + 4, MIN(size - 4, (size_t)RAM_SIZE));
	device_phase(num, flags);
	return 0;
}

#ifdef FUZZ_REPLAY
int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "fuzz_virtq_replay", "tests/fuzz/corpus/virtq");
}
#endif
