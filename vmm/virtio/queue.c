// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueue, device side. Ordering with the driver (virtio 1.2, 2.7.13):
 *  - the avail index is loaded with acquire semantics before any ring entry or
 *    descriptor it covers is read;
 *  - a used element is written before the used index is published (release);
 *  - a full fence separates publishing used entries (or avail_event) from reading the
 *    driver's used_event/flags (or avail index), else a notification can be lost.
 */
#include "vmm/virtio/queue.h"

#include <errno.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/util.h"

/* Byte sizes of the three areas (virtio 1.2, 2.7). */
static uint64_t desc_size(uint16_t num)
{
	return 16ULL * num;
}

static uint64_t avail_size(uint16_t num)
{
	return 6ULL + 2ULL * num; /* flags, idx, ring[num], used_event */
}

static uint64_t used_size(uint16_t num)
{
	return 6ULL + 8ULL * num; /* flags, idx, ring[num], avail_event */
}

#define VIRTQ_USED_F_NO_NOTIFY 1

static void set_avail_event(struct virtq *q, uint16_t idx);

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

void virtq_reset_live(struct virtq *q)
{
	/*
	 * Reset inside a polling spell: take the kick suppression back out of the rings
	 * (the driver may reuse them as they are), as virtq_resume_notify would.
	 */
	if (q->active && q->notify_off) {
		if (q->event_idx)
			set_avail_event(q, q->last_avail);
		else
			__atomic_store_n(&q->used[0], 0, __ATOMIC_RELAXED);
	}
	virtq_reset(q);
}

static bool num_valid(uint16_t num)
{
	return num && num <= VIRTQ_MAX_SIZE && (num & (num - 1)) == 0;
}

bool virtq_addrs_valid(const struct virtq *q, const struct guest_mem *mem)
{
	if (!num_valid(q->num))
		return false;
	if (!IS_ALIGNED(q->desc_gpa, 16) || !IS_ALIGNED(q->avail_gpa, 2) ||
	    !IS_ALIGNED(q->used_gpa, 4))
		return false;
	return guest_mem_ptr(mem, q->desc_gpa, desc_size(q->num)) &&
	       guest_mem_ptr(mem, q->avail_gpa, avail_size(q->num)) &&
	       guest_mem_ptr(mem, q->used_gpa, used_size(q->num));
}

int virtq_activate(struct virtq *q, const struct guest_mem *mem, bool event_idx)
{
	if (!virtq_addrs_valid(q, mem))
		return -EINVAL;
	q->mem = mem;
	q->desc = guest_mem_ptr(mem, q->desc_gpa, desc_size(q->num));
	q->avail = guest_mem_ptr(mem, q->avail_gpa, avail_size(q->num));
	q->used = guest_mem_ptr(mem, q->used_gpa, used_size(q->num));
	q->event_idx = event_idx;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_valid = false;
	q->active = true;
	return 0;
}

static uint16_t load_acquire16(volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* 8 bytes that may sit at any address: indirect tables need not be aligned. */
typedef uint64_t __attribute__((aligned(1), may_alias)) unaligned_u64;

/*
 * Copy one descriptor out of guest memory with two 8-byte loads, each done once (the
 * guest may change the table meanwhile; everything after uses the copy). Virtio and
 * this x86-64 host are both little-endian.
 */
static void read_desc(const volatile void *table, unsigned int idx, struct virtq_desc *d)
{
	const volatile unaligned_u64 *p =
		(const volatile unaligned_u64 *)((const volatile uint8_t *)table + 16ULL * idx);
	uint64_t lo = p[0], hi = p[1];

	d->addr = lo;
	d->len = (uint32_t)hi;
	d->flags = (uint16_t)(hi >> 32);
	d->next = (uint16_t)(hi >> 48);
}

int virtq_walk(const struct virtq *q, uint16_t head, struct virtq_chain *chain)
{
	const volatile void *table = q->desc;
	unsigned int tnum = q->num, idx = head, budget = q->num;
	bool indirect = false;

	chain->head = head;
	chain->nsegs = 0;
	chain->nread = 0;
	chain->read_len = 0;
	chain->write_len = 0;
	if (head >= q->num)
		return -EPROTO;

	for (;;) {
		struct virtq_desc d;

		/* Each table is walked at most once per entry: a loop ends here. */
		if (budget-- == 0)
			return -EBADMSG;
		read_desc(table, idx, &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			void *t;

			/* No nested tables, no chaining past a table (2.7.5.3.1). */
			if (indirect || (d.flags & VIRTQ_DESC_F_NEXT))
				return -EBADMSG;
			if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_MAX_SIZE)
				return -EBADMSG;
			t = guest_mem_ptr(q->mem, d.addr, d.len);
			if (!t)
				return -EBADMSG;
			table = t;
			tnum = d.len / 16;
			budget = tnum;
			idx = 0;
			indirect = true;
			continue;
		}

		if (d.len) {
			bool write = d.flags & VIRTQ_DESC_F_WRITE;
			struct virtq_seg *s;
			uint8_t *hva = guest_mem_ptr(q->mem, d.addr, d.len);

			if (!hva || chain->nsegs == VIRTQ_MAX_SEGS)
				return -EBADMSG;
			/* Readable buffers come first (2.7.4.2); a device may rely on it. */
			if (!write && chain->nread != chain->nsegs)
				return -EBADMSG;
			s = &chain->segs[chain->nsegs++];
			s->hva = hva;
			s->len = d.len;
			s->write = write;
			if (write) {
				chain->write_len += d.len;
			} else {
				chain->nread++;
				chain->read_len += d.len;
			}
		}

		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= tnum)
			return -EBADMSG;
		idx = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
	uint16_t avail_idx, pending, head;
	int r;

	if (!q->active)
		return 0;
	avail_idx = load_acquire16(&q->avail[1]);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (!pending)
		return 0;
	/* More than a ring's worth outstanding: the driver broke the ring. */
	if (pending > q->num)
		return -EPROTO;
	head = q->avail[2 + q->last_avail % q->num];
	q->last_avail++;
	r = virtq_walk(q, head, chain);
	if (r == -EPROTO)
		return r;
	return r ? r : 1;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	volatile uint32_t *elem;

	if (!q->active)
		return;
	elem = (volatile uint32_t *)(q->used + 2) + 2 * (q->used_idx % q->num);
	elem[0] = head;
	elem[1] = len;
	q->used_idx++;
	__atomic_store_n(&q->used[1], q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_signal(struct virtq *q)
{
	uint16_t old, now, used_event;
	bool valid;

	if (!q->active)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(q->avail[0] & 1); /* VIRTQ_AVAIL_F_NO_INTERRUPT */

	old = q->signalled_used;
	now = q->used_idx;
	valid = q->signalled_valid;
	q->signalled_used = now;
	q->signalled_valid = true;
	if (!valid)
		return true;
	used_event = q->avail[2 + q->num];
	/* vring_need_event(): did used_idx step past used_event since the last signal? */
	return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

bool virtq_has_avail(struct virtq *q)
{
	if (!q->active)
		return false;
	return load_acquire16(&q->avail[1]) != q->last_avail;
}

/* avail_event sits right after the used ring. */
static void set_avail_event(struct virtq *q, uint16_t idx)
{
	__atomic_store_n(&q->used[2 + 4 * q->num], idx, __ATOMIC_RELAXED);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->active)
		return false;
	if (q->event_idx && q->notify_off) {
		/* Keep the event just behind what was taken: no index the driver publishes. */
		set_avail_event(q, (uint16_t)(q->last_avail - 1));
	} else if (q->event_idx) {
		set_avail_event(q, q->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return virtq_has_avail(q);
}

void virtq_suppress_notify(struct virtq *q)
{
	if (!q->active || q->notify_off)
		return;
	q->notify_off = true;
	/*
	 * EVENT_IDX: the driver kicks when it publishes the index avail_event names; one
	 * just behind the device's position is never published again (until the 16-bit
	 * index wraps, and each emptying of the ring moves it along).
	 */
	if (q->event_idx)
		set_avail_event(q, (uint16_t)(q->last_avail - 1));
	else
		__atomic_store_n(&q->used[0], VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtq_resume_notify(struct virtq *q)
{
	if (!q->active)
		return false;
	if (q->notify_off && !q->event_idx)
		__atomic_store_n(&q->used[0], 0, __ATOMIC_RELAXED);
	q->notify_off = false;
	/* Writes avail_event (EVENT_IDX), then a full fence before the avail index is read. */
	if (virtq_enable_notify(q))
		return true;
	if (!q->event_idx)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_avail(q);
}
