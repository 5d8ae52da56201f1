/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal polling virtio-mmio (version 2) driver for the test guest. */
#ifndef TESTS_GUEST_VIRTIO_H
#define TESTS_GUEST_VIRTIO_H

#include "tests/guest/guest.h"

#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_DEVICE_FEATURES 0x010
#define VM_DEVICE_FEATURES_SEL 0x014
#define VM_DRIVER_FEATURES 0x020
#define VM_DRIVER_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INTERRUPT_STATUS 0x060
#define VM_INTERRUPT_ACK 0x064
#define VM_STATUS 0x070
#define VM_QUEUE_DESC_LOW 0x080
#define VM_QUEUE_DESC_HIGH 0x084
#define VM_QUEUE_DRIVER_LOW 0x090
#define VM_QUEUE_DRIVER_HIGH 0x094
#define VM_QUEUE_DEVICE_LOW 0x0a0
#define VM_QUEUE_DEVICE_HIGH 0x0a4
#define VM_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64
#define S_FAILED 128

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define BLK_S_NONE 0xee /* sentinel: the device never wrote the status */

#define QSZ 128

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq {
	struct vdesc desc[QSZ] __attribute__((aligned(16)));
	struct {
		uint16_t flags, idx, ring[QSZ], used_event;
	} avail __attribute__((aligned(2)));
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[QSZ];
		uint16_t avail_event;
	} used __attribute__((aligned(4096)));
	uint16_t last_used;
	uint16_t num;
};

struct vdev {
	uint64_t base;
	uint64_t features; /* negotiated */
	struct vq *vq;
};

struct blk_req {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Reset, negotiate (accepting the bits in want that the device offers), set up queue 0. */
bool vdev_init(struct vdev *d, uint64_t base, uint32_t device_id, uint64_t want,
	       struct vq *vq, uint16_t qnum);
void vdev_reset(struct vdev *d);
/* Publish head (already written descriptors) and kick; no wait. */
void vq_submit(struct vdev *d, uint16_t head);
void vq_kick(struct vdev *d);
/* Wait until n more used entries appear; false on timeout. */
bool vq_wait(struct vdev *d, uint16_t n);

/* Post one block request through descriptors 0..2, without a kick; its status byte. */
volatile uint8_t *blk_post(struct vdev *d, uint32_t type, uint64_t sector, void *buf,
			   uint32_t len);
/* One synchronous block request through descriptors 0..2. Returns the status. */
uint8_t blk_rw(struct vdev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len);

#endif
