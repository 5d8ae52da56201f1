// SPDX-License-Identifier: Apache-2.0
#include "tests/guest/virtio.h"

static uint32_t rd(struct vdev *d, uint32_t off)
{
	return mmio_read32(d->base + off);
}

static void wr(struct vdev *d, uint32_t off, uint32_t v)
{
	mmio_write32(d->base + off, v);
}

void vdev_reset(struct vdev *d)
{
	wr(d, VM_STATUS, 0);
	/* Reset completes when status reads back 0. */
	for (int i = 0; i < 1000000 && rd(d, VM_STATUS); i++)
		__asm__ volatile("pause");
}

bool vdev_init(struct vdev *d, uint64_t base, uint32_t device_id, uint64_t want,
	       struct vq *vq, uint16_t qnum)
{
	uint64_t offered;

	d->base = base;
	d->vq = vq;
	if (rd(d, VM_MAGIC) != 0x74726976 || rd(d, VM_VERSION) != 2 ||
	    rd(d, VM_DEVICE_ID) != device_id)
		return false;
	vdev_reset(d);
	wr(d, VM_STATUS, S_ACK);
	wr(d, VM_STATUS, S_ACK | S_DRIVER);
	wr(d, VM_DEVICE_FEATURES_SEL, 0);
	offered = rd(d, VM_DEVICE_FEATURES);
	wr(d, VM_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)rd(d, VM_DEVICE_FEATURES) << 32;
	d->features = offered & (want | (1ULL << VIRTIO_F_VERSION_1));
	wr(d, VM_DRIVER_FEATURES_SEL, 0);
	wr(d, VM_DRIVER_FEATURES, (uint32_t)d->features);
	wr(d, VM_DRIVER_FEATURES_SEL, 1);
	wr(d, VM_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	wr(d, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(d, VM_STATUS) & S_FEATURES_OK))
		return false;

	memset(vq, 0, sizeof(*vq));
	vq->num = qnum;
	vq->avail.flags = VRING_AVAIL_F_NO_INTERRUPT; /* the guest polls */
	wr(d, VM_QUEUE_SEL, 0);
	if (rd(d, VM_QUEUE_NUM_MAX) < qnum)
		return false;
	wr(d, VM_QUEUE_NUM, qnum);
	wr(d, VM_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)vq->desc);
	wr(d, VM_QUEUE_DESC_HIGH, 0);
	wr(d, VM_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)&vq->avail);
	wr(d, VM_QUEUE_DRIVER_HIGH, 0);
	wr(d, VM_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)&vq->used);
	wr(d, VM_QUEUE_DEVICE_HIGH, 0);
	wr(d, VM_QUEUE_READY, 1);
	if (rd(d, VM_QUEUE_READY) != 1)
		return false;
	wr(d, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return (rd(d, VM_STATUS) & (S_DRIVER_OK | S_NEEDS_RESET | S_FAILED)) == S_DRIVER_OK;
}

void vq_submit(struct vdev *d, uint16_t head)
{
	struct vq *q = d->vq;

	q->avail.ring[q->avail.idx % q->num] = head;
	barrier();
	q->avail.idx++;
	barrier();
}

void vq_kick(struct vdev *d)
{
	/*
	 * As Linux decides (virtqueue_kick_prepare, no EVENT_IDX): no kick while the device
	 * says it is looking at the ring (used->flags NO_NOTIFY). The fence orders the avail
	 * index written before against the flag read here.
	 */
	barrier();
	if (!(*(volatile uint16_t *)&d->vq->used.flags & VRING_USED_F_NO_NOTIFY))
		wr(d, VM_QUEUE_NOTIFY, 0);
}

bool vq_wait(struct vdev *d, uint16_t n)
{
	struct vq *q = d->vq;
	uint16_t target = (uint16_t)(q->last_used + n);

	for (uint64_t i = 0; i < 4000000000ULL; i++) {
		if ((uint16_t)(*(volatile uint16_t *)&q->used.idx - target) < 0x8000) {
			barrier();
			q->last_used = target;
			return true;
		}
		__asm__ volatile("pause");
	}
	return false;
}

static struct blk_req req_hdr;
static uint8_t req_status;

volatile uint8_t *blk_post(struct vdev *d, uint32_t type, uint64_t sector, void *buf,
			   uint32_t len)
{
	struct vq *q = d->vq;
	uint16_t n = 0;

	req_hdr = (struct blk_req){ .type = type, .sector = sector };
	req_status = BLK_S_NONE;
	q->desc[0] = (struct vdesc){ (uint64_t)(uintptr_t)&req_hdr, sizeof(req_hdr),
				     VRING_DESC_F_NEXT, 1 };
	if (len) {
		q->desc[1] = (struct vdesc){ (uint64_t)(uintptr_t)buf, len,
					     (uint16_t)(VRING_DESC_F_NEXT |
							(type == BLK_T_OUT ? 0 : VRING_DESC_F_WRITE)),
					     2 };
		n = 2;
	} else {
		q->desc[0].next = 2;
		n = 2;
	}
	q->desc[n] = (struct vdesc){ (uint64_t)(uintptr_t)&req_status, 1, VRING_DESC_F_WRITE, 0 };
	vq_submit(d, 0);
	return &req_status;
}

uint8_t blk_rw(struct vdev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	volatile uint8_t *status = blk_post(d, type, sector, buf, len);

	vq_kick(d);
	if (!vq_wait(d, 1))
		return BLK_S_NONE;
	return *status;
}
