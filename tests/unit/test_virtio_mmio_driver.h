/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake virtio-mmio driver for unit tests: guest RAM is a malloc'd buffer, and the
 * device is driven through its register ops exactly as a guest would (magic, version,
 * features, queue setup, status), with descriptors and rings written in RAM.
 */
#ifndef TESTS_UNIT_VIRTIO_DRIVER_H
#define TESTS_UNIT_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "vmm/eventloop.h"
#include "vmm/memory.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"

#define DRV_RAM_SIZE (8u << 20)
#define DRV_DESC 0x1000u
#define DRV_AVAIL 0x2000u
#define DRV_USED 0x3000u
#define DRV_BUF 0x10000u

struct fake_drv {
	uint8_t *ram;
	struct guest_mem mem;
	struct event_loop loop;
	struct virtio_mmio_env env;
	struct virtio_mmio_dev *dev;
	uint16_t qsize;
	uint16_t avail_idx;
	uint16_t used_seen;
	uint64_t next_buf;
	bool loop_elsewhere; /* another thread runs loop (as the VMM thread would) */
};

static inline int drv_init(struct fake_drv *d)
{
	memset(d, 0, sizeof(*d));
	d->ram = aligned_alloc(4096, DRV_RAM_SIZE);
	if (!d->ram)
		return -1;
	memset(d->ram, 0, DRV_RAM_SIZE);
	guest_mem_init_buffer(&d->mem, d->ram, DRV_RAM_SIZE);
	if (ev_loop_init(&d->loop) < 0)
		return -1;
	d->env.mem = &d->mem;
	d->env.loop = &d->loop;
	d->next_buf = DRV_BUF;
	return 0;
}

static inline void drv_fini(struct fake_drv *d)
{
	ev_loop_destroy(&d->loop);
	free(d->ram);
	d->ram = NULL;
}

static inline uint32_t drv_rd(struct fake_drv *d, uint64_t off)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(d->dev, off, (uint8_t *)&v, 4);
	return v;
}

static inline void drv_wr(struct fake_drv *d, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(d->dev, off, (const uint8_t *)&v, 4);
}

static inline void *drv_ptr(struct fake_drv *d, uint64_t gpa)
{
	return d->ram + gpa;
}

/* A buffer of len bytes in guest RAM (bump allocator, 16-byte aligned). */
static inline uint64_t drv_alloc(struct fake_drv *d, uint64_t len)
{
	uint64_t gpa = d->next_buf;

	d->next_buf += (len + 15) & ~15ULL;
	if (d->next_buf > DRV_RAM_SIZE)
		abort();
	return gpa;
}

static inline uint64_t drv_features(struct fake_drv *d)
{
	uint64_t f;

	drv_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = drv_rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
	drv_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f |= (uint64_t)drv_rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	return f;
}

static inline void drv_set_features(struct fake_drv *d, uint64_t f)
{
	drv_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	drv_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	drv_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	drv_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static inline void drv_queue(struct fake_drv *d, unsigned int q, uint16_t size, uint64_t desc,
			     uint64_t avail, uint64_t used)
{
	drv_wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
	drv_wr(d, VIRTIO_MMIO_QUEUE_NUM, size);
	drv_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	drv_wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	drv_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	drv_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	drv_wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	drv_wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	drv_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

/*
 * The Linux driver's sequence (3.1.1): reset, ACK, DRIVER, features (offered & mask),
 * FEATURES_OK (read back), queue 0, DRIVER_OK. 0, or -1 at the step that failed.
 */
static inline int drv_setup(struct fake_drv *d, uint64_t mask, uint16_t qsize)
{
	uint64_t f;

	if (drv_rd(d, VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE ||
	    drv_rd(d, VIRTIO_MMIO_VERSION) != 2)
		return -1;
	drv_wr(d, VIRTIO_MMIO_STATUS, 0);
	drv_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	drv_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	f = drv_features(d) & mask;
	drv_set_features(d, f);
	drv_wr(d, VIRTIO_MMIO_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(drv_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return -1;
	memset(d->ram + DRV_DESC, 0, 0x3000);
	drv_wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	if (drv_rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX) < qsize)
		return -1;
	drv_queue(d, 0, qsize, DRV_DESC, DRV_AVAIL, DRV_USED);
	if (drv_rd(d, VIRTIO_MMIO_QUEUE_READY) != 1)
		return -1;
	d->qsize = qsize;
	d->avail_idx = 0;
	d->used_seen = 0;
	drv_wr(d, VIRTIO_MMIO_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		       VIRTIO_STATUS_DRIVER_OK);
	/* The device's own activation runs on the VMM thread, at the first kick. */
	for (int i = 0; i < 3 && !d->loop_elsewhere; i++)
		ev_loop_run_once(&d->loop, 1);
	return (drv_rd(d, VIRTIO_MMIO_STATUS) &
		(VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK
		       ? 0
		       : -1;
}

static inline void drv_desc(struct fake_drv *d, uint64_t table, uint16_t i, uint64_t addr,
			    uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc desc = { addr, len, flags, next };

	memcpy(d->ram + table + 16ULL * i, &desc, 16);
}

static inline uint16_t *drv_avail(struct fake_drv *d)
{
	return (uint16_t *)(d->ram + DRV_AVAIL);
}

static inline uint16_t drv_used_idx(struct fake_drv *d)
{
	return __atomic_load_n((uint16_t *)(d->ram + DRV_USED + 2), __ATOMIC_ACQUIRE);
}

/* used ring element i: id and len */
static inline void drv_used_elem(struct fake_drv *d, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint32_t *e = (uint32_t *)(d->ram + DRV_USED + 4) + 2 * (i % d->qsize);

	*id = e[0];
	*len = e[1];
}

/*
 * Whether the driver must notify after making entries [old, avail_idx) available, as a
 * Linux driver decides (virtqueue_kick_prepare): with EVENT_IDX by the device's
 * avail_event, else by the used ring's NO_NOTIFY flag.
 */
static inline bool drv_kick_needed(struct fake_drv *d, uint16_t old, bool event_idx)
{
	uint16_t *used = (uint16_t *)(d->ram + DRV_USED);

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx) {
		uint16_t ev = __atomic_load_n(&used[2 + 4 * d->qsize], __ATOMIC_RELAXED);

		return (uint16_t)(d->avail_idx - ev - 1) < (uint16_t)(d->avail_idx - old);
	}
	return !(__atomic_load_n(&used[0], __ATOMIC_RELAXED) & 1);
}

/* Make head available without a kick. */
static inline void drv_post(struct fake_drv *d, uint16_t head)
{
	drv_avail(d)[2 + d->avail_idx % d->qsize] = head;
	d->avail_idx++;
	__atomic_store_n(&drv_avail(d)[1], d->avail_idx, __ATOMIC_RELEASE);
}

static inline void drv_kick(struct fake_drv *d)
{
	drv_wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* Run the VMM loop until n more used entries appear (or ~2 s pass). true on success. */
static inline bool drv_wait_used(struct fake_drv *d, uint16_t n)
{
	uint16_t want = (uint16_t)(d->used_seen + n);

	for (int i = 0; i < 400 && drv_used_idx(d) != want; i++)
		ev_loop_run_once(&d->loop, 5);
	if (drv_used_idx(d) != want)
		return false;
	d->used_seen = want;
	return true;
}

/* Run the loop for a while without expecting anything. */
static inline void drv_spin(struct fake_drv *d, int rounds)
{
	for (int i = 0; i < rounds; i++)
		ev_loop_run_once(&d->loop, 1);
}

/* Consume the irqfd: true if an interrupt was raised since the last call. */
static inline bool drv_irq(struct fake_drv *d)
{
	eventfd_t v;

	return eventfd_read(virtio_mmio_irqfd(d->dev), &v) == 0 && v > 0;
}

#endif
