// SPDX-License-Identifier: Apache-2.0
/* virtio-rng through its registers and a fake driver. */
#include "tests/unit/test.h"
#include "tests/unit/test_virtio_mmio_driver.h"
#include "vmm/virtio/rng.h"

static struct fake_drv drv;
static struct virtio_rng *rng;

static int start(const struct entropy_cfg *cfg)
{
	struct config_err err = { "" };
	struct entropy_cfg none = { .present = true };

	if (drv_init(&drv) < 0)
		return -1;
	if (virtio_rng_create(&rng, cfg ? cfg : &none, &drv.env, 0xd0000000ULL, &err) < 0)
		return -1;
	drv.dev = virtio_rng_mmio(rng);
	return drv_setup(&drv, ~0ULL, 16);
}

static void stop(void)
{
	virtio_rng_destroy(rng);
	drv_fini(&drv);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

TEST(identity_and_fill)
{
	uint64_t buf;
	uint32_t id, len;

	CHECK_EQ(start(NULL), 0);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_DEVICE_ID), 4);
	buf = drv_alloc(&drv, 4096);
	drv_desc(&drv, DRV_DESC, 0, buf, 4096, VIRTQ_DESC_F_WRITE, 0);
	drv_post(&drv, 0);
	drv_kick(&drv);
	CHECK(drv_wait_used(&drv, 1));
	drv_used_elem(&drv, 0, &id, &len);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 4096);
	CHECK(!all_zero(drv_ptr(&drv, buf), 4096));
	CHECK_EQ(virtio_rng_bytes(rng), 4096);
	/* With EVENT_IDX the device must ask for the next kick (avail_event = 1), or a
	 * driver that honours it (Linux) never kicks again. */
	if (virtio_mmio_has_feature(drv.dev, VIRTIO_F_RING_EVENT_IDX)) {
		uint16_t avail_event;

		memcpy(&avail_event, drv_ptr(&drv, DRV_USED + 4 + 8ULL * drv.qsize), 2);
		CHECK_EQ(avail_event, 1);
	}
	stop();
}

TEST(readable_only_and_bad_chains_return_empty)
{
	uint64_t buf;
	uint32_t id, len;

	CHECK_EQ(start(NULL), 0);
	buf = drv_alloc(&drv, 64);
	/* A device-readable buffer: nothing to fill. */
	drv_desc(&drv, DRV_DESC, 0, buf, 64, 0, 0);
	drv_post(&drv, 0);
	/* A buffer outside guest memory. */
	drv_desc(&drv, DRV_DESC, 1, DRV_RAM_SIZE - 8, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_post(&drv, 1);
	/* A loop. */
	drv_desc(&drv, DRV_DESC, 2, buf, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	drv_post(&drv, 2);
	drv_kick(&drv);
	CHECK(drv_wait_used(&drv, 3));
	for (uint16_t i = 0; i < 3; i++) {
		drv_used_elem(&drv, i, &id, &len);
		CHECK_EQ(len, 0);
	}
	CHECK(all_zero(drv_ptr(&drv, buf), 64));
	stop();
}

TEST(large_request_is_capped)
{
	uint64_t buf;
	uint32_t id, len;

	CHECK_EQ(start(NULL), 0);
	buf = drv_alloc(&drv, 1 << 20);
	drv_desc(&drv, DRV_DESC, 0, buf, 1 << 20, VIRTQ_DESC_F_WRITE, 0);
	drv_post(&drv, 0);
	drv_kick(&drv);
	CHECK(drv_wait_used(&drv, 1));
	drv_used_elem(&drv, 0, &id, &len);
	CHECK_EQ(len, 64 * 1024);
	stop();
}

TEST(rate_limited)
{
	struct entropy_cfg cfg = { .present = true };
	uint64_t buf;

	/* 1000 bytes per second, no burst: the second 1000-byte request waits. */
	cfg.rate_limiter.bandwidth = (struct token_bucket_cfg){ .present = true, .size = 1000,
								.refill_time_ms = 1000 };
	CHECK_EQ(start(&cfg), 0);
	buf = drv_alloc(&drv, 2000);
	drv_desc(&drv, DRV_DESC, 0, buf, 1000, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&drv, DRV_DESC, 1, buf + 1000, 1000, VIRTQ_DESC_F_WRITE, 0);
	drv_post(&drv, 0);
	drv_post(&drv, 1);
	drv_kick(&drv);
	CHECK(drv_wait_used(&drv, 1));
	drv_spin(&drv, 20);
	CHECK_EQ(drv_used_idx(&drv), 1); /* throttled */
	CHECK(drv_wait_used(&drv, 1)); /* within ~1 s the timer lets it through */
	CHECK_EQ(virtio_rng_bytes(rng), 2000);
	stop();
}
