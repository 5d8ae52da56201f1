/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueues (virtio 1.2, 2.7) as seen from the device side. The rings live in
 * guest memory, which the guest may rewrite at any moment: every descriptor is copied
 * once, then checked against guest RAM, and every loop over guest data is bounded by
 * the queue size. Used by the VMM thread only (callers hold the device lock).
 */
#ifndef VMM_VIRTIO_QUEUE_H
#define VMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;

#define VIRTQ_MAX_SIZE 256
/* Segments of one request, direct and indirect together. */
#define VIRTQ_MAX_SEGS VIRTQ_MAX_SIZE

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One guest buffer of a chain, already translated and bounds-checked. */
struct virtq_seg {
	uint8_t *hva;
	uint32_t len;
	bool write; /* device-writable */
};

struct virtq_chain {
	uint16_t head;
	unsigned int nsegs;
	unsigned int nread; /* the first nread segments are device-readable */
	uint64_t read_len, write_len; /* bytes in the readable and writable parts */
	struct virtq_seg segs[VIRTQ_MAX_SEGS];
};

struct virtq {
	/* Driver-programmed configuration, through the transport registers. */
	uint16_t num; /* 0: not configured */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Set by virtq_activate(), valid while the queue is active. */
	const struct guest_mem *mem;
	volatile struct virtq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[num], used_event */
	volatile uint16_t *used; /* flags, idx, then ring of {u32 id, u32 len}, avail_event */
	bool event_idx;
	bool active;
	bool notify_off; /* virtq_suppress_notify() is in force */

	uint16_t last_avail; /* next avail entry the device will take */
	uint16_t used_idx; /* shadow of used->idx */
	uint16_t signalled_used; /* used_idx when the driver was last interrupted */
	bool signalled_valid;
};

/* Forget everything (also: initialise). */
void virtq_reset(struct virtq *q);
/*
 * Device reset of a queue set up by virtq_activate() or virtq_reset(): as virtq_reset,
 * after taking a polling spell's kick suppression back out of the guest's rings.
 */
void virtq_reset_live(struct virtq *q);

/*
 * Check that num is a power of two <= VIRTQ_MAX_SIZE and that the three areas lie in
 * guest RAM with their spec alignment; true when the queue could be activated.
 */
bool virtq_addrs_valid(const struct virtq *q, const struct guest_mem *mem);

/* Resolve the ring pointers. 0 or -EINVAL (see virtq_addrs_valid). */
int virtq_activate(struct virtq *q, const struct guest_mem *mem, bool event_idx);

/*
 * Take the next available chain into *chain. Returns 1 when a chain was taken, 0 when
 * the ring is empty, -EBADMSG when the chain is malformed (chain->head is valid and
 * must still be returned with virtq_push, with length 0 or after writing a status),
 * or -EPROTO when the ring itself is corrupt (the head index or the avail index is
 * impossible): the device must stop using the queue and ask for a reset.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);

/* Give the last popped chain back (rate limiting): it will be popped again. */
void virtq_unpop(struct virtq *q);

/* Walk the chain starting at head (exposed for the fuzzer). 0, -EBADMSG or -EPROTO. */
int virtq_walk(const struct virtq *q, uint16_t head, struct virtq_chain *chain);

/* Put head on the used ring with len bytes written, publishing it to the driver. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/*
 * Whether the driver wants an interrupt for the entries pushed since the last one
 * (VIRTQ_AVAIL_F_NO_INTERRUPT or the used_event index). Records the decision.
 */
bool virtq_should_signal(struct virtq *q);

/*
 * After the ring was found empty: with EVENT_IDX, ask for a kick at the next entry and
 * return true if the driver added entries meanwhile (the caller must pop again).
 */
bool virtq_enable_notify(struct virtq *q);

/*
 * While the device polls the ring: ask the driver not to kick (EVENT_IDX: avail_event
 * just behind the device's position, so the driver's vring_need_event() says no;
 * otherwise the used ring's NO_NOTIFY flag). virtq_enable_notify() leaves the request
 * in place until virtq_resume_notify() lifts it, which returns like virtq_enable_notify().
 */
void virtq_suppress_notify(struct virtq *q);
bool virtq_resume_notify(struct virtq *q);

/* Entries the driver has made available and the device has not taken yet (bounded). */
bool virtq_has_avail(struct virtq *q);

#endif
