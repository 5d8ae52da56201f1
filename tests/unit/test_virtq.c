// SPDX-License-Identifier: Apache-2.0
/* Split virtqueue walker and ring logic against a fake guest RAM, hostile cases first. */
#include <errno.h>

#include "tests/unit/test.h"
#include "vmm/memory.h"
#include "vmm/util.h"
#include "vmm/virtio/queue.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000

static uint8_t *ram;
static struct guest_mem mem;
static struct virtq q;
static struct virtq_chain chain;

static void setup(uint16_t num, bool event_idx)
{
	if (!ram)
		ram = aligned_alloc(4096, RAM);
	memset(ram, 0, RAM);
	guest_mem_init_buffer(&mem, ram, RAM);
	virtq_reset(&q);
	q.num = num;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	q.ready = true;
	if (virtq_activate(&q, &mem, event_idx))
		abort();
}

static void desc_at(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(ram + table + 16ULL * i, &d, 16);
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC, i, addr, len, flags, next);
}

static uint16_t *avail(void)
{
	return (uint16_t *)(ram + AVAIL);
}

static void post(uint16_t head)
{
	uint16_t idx = avail()[1];

	avail()[2 + idx % q.num] = head;
	avail()[1] = (uint16_t)(idx + 1);
}

TEST(simple_chain)
{
	setup(16, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x11000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(2, 0x12000, 1, VIRTQ_DESC_F_WRITE, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.head, 0);
	CHECK_EQ(chain.nsegs, 3);
	CHECK_EQ(chain.nread, 1);
	CHECK_EQ(chain.read_len, 16);
	CHECK_EQ(chain.write_len, 513);
	CHECK(chain.segs[1].hva == ram + 0x11000);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
}

TEST(used_ring_and_signal)
{
	uint32_t *elem;

	setup(8, false);
	desc(3, 0x10000, 4, 0, 0);
	post(3);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	virtq_push(&q, chain.head, 77);
	elem = (uint32_t *)(ram + USED + 4);
	CHECK_EQ(elem[0], 3);
	CHECK_EQ(elem[1], 77);
	CHECK_EQ(((uint16_t *)(ram + USED))[1], 1);
	CHECK(virtq_should_signal(&q));
	avail()[0] = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	virtq_push(&q, chain.head, 1);
	CHECK(!virtq_should_signal(&q));
}

TEST(event_idx)
{
	setup(8, true);
	desc(0, 0x10000, 4, 0, 0);
	for (int i = 0; i < 3; i++)
		post(0);
	/* Driver wants an interrupt once entry 2 (used_event = 2) is used. */
	avail()[2 + 8] = 2;
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	virtq_push(&q, 0, 1);
	CHECK(virtq_should_signal(&q)); /* first signal always goes out */
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	virtq_push(&q, 0, 1);
	CHECK(!virtq_should_signal(&q)); /* used idx 2: event 2 not yet passed */
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	virtq_push(&q, 0, 1);
	CHECK(virtq_should_signal(&q)); /* used idx 3 passed used_event 2 */
	CHECK_EQ(virtq_pop(&q, &chain), 0);
	/* Empty: avail_event is published as last_avail, no new entries. */
	CHECK(!virtq_enable_notify(&q));
	CHECK_EQ(((uint16_t *)(ram + USED))[2 + 4 * 8], 3);
	post(0);
	CHECK(virtq_enable_notify(&q));
}

TEST(indirect)
{
	setup(16, false);
	desc_at(0x8000, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc_at(0x8000, 1, 0x11000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc_at(0x8000, 2, 0x12000, 1, VIRTQ_DESC_F_WRITE, 0);
	desc(5, 0x8000, 48, VIRTQ_DESC_F_INDIRECT, 0);
	post(5);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.head, 5);
	CHECK_EQ(chain.nsegs, 3);
	CHECK_EQ(chain.write_len, 4097);
}

/* A table at an odd address decodes field by field (the ASAN/UBSan build checks the loads). */
TEST(indirect_unaligned)
{
	setup(16, false);
	desc_at(0x8003, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc_at(0x8003, 1, 0x123456789ULL & (RAM - 1), 0x2345, VIRTQ_DESC_F_WRITE, 0);
	desc(5, 0x8003, 32, VIRTQ_DESC_F_INDIRECT, 0);
	post(5);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.nsegs, 2);
	CHECK(chain.segs[0].hva == ram + 0x10000);
	CHECK_EQ(chain.read_len, 16);
	CHECK(chain.segs[1].hva == ram + (0x123456789ULL & (RAM - 1)));
	CHECK_EQ(chain.write_len, 0x2345);
}

TEST(direct_then_indirect)
{
	setup(16, false);
	desc_at(0x8000, 0, 0x11000, 8, VIRTQ_DESC_F_WRITE, 0);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.nsegs, 2);
}

TEST(nested_indirect)
{
	setup(16, false);
	desc_at(0x8000, 0, 0x9000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc_at(0x9000, 0, 0x10000, 16, 0, 0);
	desc(0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	CHECK_EQ(chain.head, 0);
}

TEST(indirect_abuse)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} bad[] = {
		{ 0x8000, 0, VIRTQ_DESC_F_INDIRECT }, /* empty table */
		{ 0x8000, 24, VIRTQ_DESC_F_INDIRECT }, /* not a multiple of 16 */
		{ 0x8000, 16 * (VIRTQ_MAX_SIZE + 1), VIRTQ_DESC_F_INDIRECT }, /* too long */
		{ RAM - 16, 32, VIRTQ_DESC_F_INDIRECT }, /* runs off RAM */
		{ 0xffffffffffffff00ULL, 0x200, VIRTQ_DESC_F_INDIRECT }, /* wraps */
		{ 0x8000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT }, /* chained past */
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		setup(16, false);
		desc_at(0x8000, 0, 0x10000, 16, 0, 0);
		desc(0, bad[i].addr, bad[i].len, bad[i].flags, 1);
		desc(1, 0x10000, 16, 0, 0);
		post(0);
		CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	}
	/* A loop inside an indirect table. */
	setup(16, false);
	desc_at(0x8000, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc_at(0x8000, 1, 0x10000, 16, VIRTQ_DESC_F_NEXT, 0);
	desc(0, 0x8000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	/* next beyond the table. */
	setup(16, false);
	desc_at(0x8000, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 2);
	desc(0, 0x8000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
}

TEST(loop_and_long_chain)
{
	setup(16, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x10000, 16, VIRTQ_DESC_F_NEXT, 0); /* back to 0 */
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	/* Self loop. */
	setup(16, false);
	desc(4, 0x10000, 16, VIRTQ_DESC_F_NEXT, 4);
	post(4);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	/* Every descriptor used once is fine: exactly num long. */
	setup(16, false);
	for (uint16_t i = 0; i < 16; i++)
		desc(i, 0x10000, 16, i < 15 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.nsegs, 16);
}

TEST(bad_addresses)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ RAM, 1 },
		{ RAM - 1, 2 },
		{ 0xfffffffffffffff0ULL, 0x20 }, /* addr + len wraps */
		{ 0x10000, 0xffffffff }, /* longer than RAM */
		{ 1ULL << 40, 16 },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		setup(16, false);
		desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
		desc(1, bad[i].addr, bad[i].len, VIRTQ_DESC_F_WRITE, 0);
		post(0);
		CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	}
	/* The last byte of RAM is fine. */
	setup(16, false);
	desc(0, RAM - 1, 1, 0, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
}

TEST(readable_after_writable)
{
	setup(16, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, 0x11000, 16, 0, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
}

TEST(bad_next_and_head)
{
	setup(16, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 16);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), -EBADMSG);
	post(16); /* head out of the table: cannot even be returned */
	CHECK_EQ(virtq_pop(&q, &chain), -EPROTO);
}

TEST(avail_index_jump)
{
	setup(16, false);
	avail()[1] = 17; /* more than a ring's worth ahead */
	CHECK_EQ(virtq_pop(&q, &chain), -EPROTO);
	setup(16, false);
	avail()[1] = 16; /* exactly full is legal */
	CHECK_EQ(virtq_pop(&q, &chain), 1); /* desc 0 is all zero: an empty chain */
}

TEST(zero_length_skipped)
{
	setup(16, false);
	desc(0, 0, 0, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x10000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(chain.nsegs, 1);
}

TEST(unpop)
{
	setup(16, false);
	desc(0, 0x10000, 8, 0, 0);
	post(0);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	virtq_unpop(&q);
	CHECK_EQ(virtq_pop(&q, &chain), 1);
	CHECK_EQ(virtq_pop(&q, &chain), 0);
}

TEST(queue_validation)
{
	struct virtq t;

	setup(16, false);
	virtq_reset(&t);
	t.desc_gpa = DESC;
	t.avail_gpa = AVAIL;
	t.used_gpa = USED;
	static const uint16_t bad_num[] = { 0, 3, 255, 512, 1024 };
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_num); i++) {
		t.num = bad_num[i];
		CHECK(!virtq_addrs_valid(&t, &mem));
	}
	t.num = 256;
	CHECK(virtq_addrs_valid(&t, &mem));
	t.desc_gpa = DESC + 8; /* misaligned */
	CHECK(!virtq_addrs_valid(&t, &mem));
	t.desc_gpa = RAM - 16 * 255; /* runs off the end */
	CHECK(!virtq_addrs_valid(&t, &mem));
	t.desc_gpa = DESC;
	t.used_gpa = RAM - 4;
	CHECK(!virtq_addrs_valid(&t, &mem));
	t.used_gpa = 0xfffffffffffffff0ULL;
	CHECK(!virtq_addrs_valid(&t, &mem));
	CHECK_EQ(virtq_activate(&t, &mem, false), -EINVAL);
}
