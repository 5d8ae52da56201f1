// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-mmio transport with a dummy device behind struct virtio_dev_ops: register
 * file, feature negotiation, status state machine, queue setup checks, config space
 * bounds, notifications and interrupts, and a guest poking where it should not.
 */
#include <errno.h>

#include "tests/unit/test.h"
#include "tests/unit/test_virtio_mmio_driver.h"
#include "vmm/util.h"

#define DUMMY_ID 42
#define DUMMY_F_FOO 0

struct dummy {
	struct virtio_mmio_dev mmio;
	uint8_t config[12];
	int notified[2];
	int activated, resets, ioeventfds, wildcards;
	int fail_activate;
};

static uint64_t dummy_features(struct virtio_mmio_dev *v)
{
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << DUMMY_F_FOO) |
	       (1ULL << VIRTIO_F_RING_EVENT_IDX);
}

static void dummy_config_read(struct virtio_mmio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	struct dummy *d = v->priv;

	memcpy(data, d->config + off, len);
}

static void dummy_config_write(struct virtio_mmio_dev *v, uint32_t off, const uint8_t *data,
			       uint32_t len)
{
	struct dummy *d = v->priv;

	memcpy(d->config + off, data, len);
}

static int dummy_activate(struct virtio_mmio_dev *v)
{
	struct dummy *d = v->priv;

	d->activated++;
	return d->fail_activate ? -EIO : 0;
}

static void dummy_reset(struct virtio_mmio_dev *v)
{
	((struct dummy *)v->priv)->resets++;
}

static void dummy_notify(struct virtio_mmio_dev *v, unsigned int q)
{
	((struct dummy *)v->priv)->notified[q]++;
}

static const struct virtio_dev_ops dummy_ops = {
	.device_id = DUMMY_ID,
	.num_queues = 2,
	.features = dummy_features,
	.config_len = 12,
	.config_read = dummy_config_read,
	.config_write = dummy_config_write,
	.activate = dummy_activate,
	.reset = dummy_reset,
	.queue_notify = dummy_notify,
};

static struct fake_drv drv;
static struct dummy dum;

static int count_ioeventfd(void *ctx, uint64_t addr, uint64_t datamatch, bool wildcard, int fd,
			   bool assign)
{
	struct dummy *d = ctx;

	if (addr != 0xd0000000ULL + VIRTIO_MMIO_QUEUE_NOTIFY || datamatch > 1 || fd < 0)
		return -EINVAL;
	d->ioeventfds += assign ? 1 : -1;
	d->wildcards += wildcard ? (assign ? 1 : -1) : 0;
	return 0;
}

static int start(void)
{
	memset(&dum, 0, sizeof(dum));
	if (drv_init(&drv))
		return -1;
	if (virtio_mmio_init(&dum.mmio, &dummy_ops, &dum, &drv.env, 0xd0000000ULL))
		return -1;
	drv.dev = &dum.mmio;
	return 0;
}

static void stop(void)
{
	virtio_mmio_uninit(&dum.mmio);
	drv_fini(&drv);
}

#define ST_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRV (ST_ACK | VIRTIO_STATUS_DRIVER)
#define ST_FOK (ST_DRV | VIRTIO_STATUS_FEATURES_OK)
#define ST_OK (ST_FOK | VIRTIO_STATUS_DRIVER_OK)

TEST(identity_registers)
{
	CHECK_EQ(start(), 0);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_MAGIC), 0x74726976);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_DEVICE_ID), DUMMY_ID);
	CHECK_EQ(drv_features(&drv), dummy_features(NULL));
	drv_wr(&drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 2);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	stop();
}

TEST(ioeventfd_registration)
{
	memset(&dum, 0, sizeof(dum));
	CHECK_EQ(drv_init(&drv), 0);
	drv.env.set_ioeventfd = count_ioeventfd;
	drv.env.ctx = &dum;
	CHECK_EQ(virtio_mmio_init(&dum.mmio, &dummy_ops, &dum, &drv.env, 0xd0000000ULL), 0);
	CHECK_EQ(dum.ioeventfds, 2);
	CHECK_EQ(dum.wildcards, 0);
	CHECK(virtio_mmio_irqfd(&dum.mmio) >= 0);
	virtio_mmio_uninit(&dum.mmio);
	CHECK_EQ(dum.ioeventfds, 0);
	drv_fini(&drv);
}

/*
 * Where KVM takes any-length ioeventfds, a one-queue device's kick matches any write
 * (KVM's fast MMIO path); a device with more queues needs the value to tell them apart.
 * Deassignment names the same kind, or KVM would not find the registration.
 */
TEST(ioeventfd_wildcard_only_for_one_queue)
{
	struct virtio_dev_ops one = dummy_ops;

	one.num_queues = 1;
	for (int cap = 0; cap < 2; cap++) {
		memset(&dum, 0, sizeof(dum));
		CHECK_EQ(drv_init(&drv), 0);
		drv.env.set_ioeventfd = count_ioeventfd;
		drv.env.ioeventfd_wildcard = cap;
		drv.env.ctx = &dum;
		CHECK_EQ(virtio_mmio_init(&dum.mmio, &dummy_ops, &dum, &drv.env, 0xd0000000ULL), 0);
		CHECK_EQ(dum.ioeventfds, 2);
		CHECK_EQ(dum.wildcards, 0);
		virtio_mmio_uninit(&dum.mmio);
		CHECK_EQ(virtio_mmio_init(&dum.mmio, &one, &dum, &drv.env, 0xd0000000ULL), 0);
		CHECK_EQ(dum.ioeventfds, 1);
		CHECK_EQ(dum.wildcards, cap);
		virtio_mmio_uninit(&dum.mmio);
		CHECK_EQ(dum.ioeventfds, 0);
		CHECK_EQ(dum.wildcards, 0);
		drv_fini(&drv);
	}
}

TEST(full_setup_and_notify)
{
	CHECK_EQ(start(), 0);
	drv.dev = &dum.mmio;
	CHECK_EQ(drv_setup(&drv, ~0ULL, 64), 0);
	CHECK_EQ(dum.activated, 1);
	CHECK(virtio_mmio_has_feature(&dum.mmio, VIRTIO_F_RING_EVENT_IDX));
	drv_spin(&drv, 3); /* the post-DRIVER_OK self kick */
	dum.notified[0] = 0;
	drv_kick(&drv);
	drv_spin(&drv, 3);
	CHECK_EQ(dum.notified[0], 1);
	/* Queue 1 never became ready: no notifications reach the device. */
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_NOTIFY, 1000);
	drv_spin(&drv, 3);
	CHECK_EQ(dum.notified[1], 0);
	/* Reset: device told, everything cleared. */
	dum.resets = 0;
	drv_wr(&drv, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(dum.resets, 1);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), 0);
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	drv_kick(&drv);
	drv_spin(&drv, 3);
	CHECK_EQ(dum.notified[0], 1);
	/* And it comes back. */
	CHECK_EQ(drv_setup(&drv, ~0ULL, 8), 0);
	CHECK_EQ(dum.activated, 2);
	stop();
}

TEST(feature_negotiation_refused)
{
	CHECK_EQ(start(), 0);
	/* No VERSION_1: a legacy driver is refused. */
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_ACK);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_DRV);
	drv_set_features(&drv, 1ULL << DUMMY_F_FOO);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_FOK);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_DRV);
	/* Bits the device did not offer. */
	drv_set_features(&drv, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_FOK);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_DRV);
	/* Fine now; afterwards the features are frozen. */
	drv_set_features(&drv, 1ULL << VIRTIO_F_VERSION_1);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_FOK);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_FOK);
	drv_set_features(&drv, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));
	CHECK_EQ(dum.mmio.acked, 1ULL << VIRTIO_F_VERSION_1);
	stop();
}

TEST(bad_status_sequences)
{
	CHECK_EQ(start(), 0);
	/* DRIVER_OK straight away, without FEATURES_OK. */
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_DRV | VIRTIO_STATUS_DRIVER_OK);
	CHECK(!(drv_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK));
	CHECK_EQ(dum.activated, 0);
	/* DRIVER without ACKNOWLEDGE is dropped. */
	drv_wr(&drv, VIRTIO_MMIO_STATUS, 0);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), 0);
	/* Clearing a bit without a reset is refused. */
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_DRV);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_ACK);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_DRV);
	/* The driver may not set NEEDS_RESET itself; FAILED is fine. */
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_DRV | VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_DRV);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_DRV | VIRTIO_STATUS_FAILED);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_DRV | VIRTIO_STATUS_FAILED);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, 0xffffffff);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_DRV | VIRTIO_STATUS_FAILED);
	CHECK_EQ(dum.activated, 0);
	stop();
}

TEST(activate_failure_needs_reset)
{
	CHECK_EQ(start(), 0);
	dum.fail_activate = 1;
	CHECK(drv_setup(&drv, ~0ULL, 16) < 0);
	CHECK(drv_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(!dum.mmio.activated);
	dum.fail_activate = 0;
	CHECK_EQ(drv_setup(&drv, ~0ULL, 16), 0); /* the reset in drv_setup clears it */
	CHECK(!(drv_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	stop();
}

TEST(queue_setup_checks)
{
	static const uint32_t bad_sizes[] = { 0, 3, 100, 512, 0x10000 };

	CHECK_EQ(start(), 0);
	/* Before FEATURES_OK queue registers are ignored. */
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_DRV);
	drv_queue(&drv, 0, 16, DRV_DESC, DRV_AVAIL, DRV_USED);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	drv_set_features(&drv, 1ULL << VIRTIO_F_VERSION_1);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_FOK);
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		drv_queue(&drv, 0, 16, DRV_DESC, DRV_AVAIL, DRV_USED);
		drv_wr(&drv, VIRTIO_MMIO_QUEUE_READY, 0);
		drv_wr(&drv, VIRTIO_MMIO_QUEUE_NUM, bad_sizes[i]);
		drv_wr(&drv, VIRTIO_MMIO_QUEUE_READY, 1);
		CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	/* Rings outside RAM, wrapping, misaligned. */
	drv_queue(&drv, 0, 16, DRV_RAM_SIZE - 16, DRV_AVAIL, DRV_USED);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	drv_queue(&drv, 0, 16, DRV_DESC, 0xfffffffffffffffeULL, DRV_USED);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	drv_queue(&drv, 0, 16, DRV_DESC, DRV_AVAIL, DRV_USED + 2);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	drv_queue(&drv, 0, 16, DRV_DESC, DRV_AVAIL, DRV_USED);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 1);
	/* While ready, the addresses are frozen. */
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x100);
	CHECK_EQ(dum.mmio.queues[0].desc_gpa, DRV_DESC);
	drv_wr(&drv, VIRTIO_MMIO_STATUS, ST_OK);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), ST_OK);
	/* After DRIVER_OK the queue cannot be disabled or reprogrammed. */
	drv_wr(&drv, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 1);
	stop();
}

TEST(bad_register_access)
{
	uint8_t b[8];
	uint64_t v8 = 0x1122334455667788ULL;

	CHECK_EQ(start(), 0);
	/* Odd sizes and misaligned offsets of registers read as zero and write nothing. */
	memset(b, 0xaa, sizeof(b));
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_MAGIC, b, 1);
	CHECK_EQ(b[0], 0);
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_MAGIC + 2, b, 4);
	CHECK_EQ(b[0], 0);
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_MAGIC, b, 8);
	CHECK_EQ(b[0], 0);
	virtio_mmio_bus_ops.write(&dum.mmio, VIRTIO_MMIO_STATUS, (uint8_t *)&v8, 1);
	virtio_mmio_bus_ops.write(&dum.mmio, VIRTIO_MMIO_STATUS, (uint8_t *)&v8, 8);
	virtio_mmio_bus_ops.write(&dum.mmio, VIRTIO_MMIO_STATUS + 1, (uint8_t *)&v8, 4);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_STATUS), 0);
	/* Unknown registers, read-only registers, the gap. */
	CHECK_EQ(drv_rd(&drv, 0x0c8), 0);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	drv_wr(&drv, VIRTIO_MMIO_MAGIC, 0);
	drv_wr(&drv, VIRTIO_MMIO_DEVICE_ID, 7);
	drv_wr(&drv, 0x0f0, 7);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_MAGIC), 0x74726976);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_DEVICE_ID), DUMMY_ID);
	/* A bogus length from a broken bus is ignored, not trusted. */
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_MAGIC, b, 0);
	stop();
}

TEST(config_space_bounds)
{
	uint8_t b[8];
	uint32_t v;

	CHECK_EQ(start(), 0);
	for (unsigned int i = 0; i < 12; i++)
		dum.config[i] = (uint8_t)(i + 1);
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_CONFIG + 3, b, 1);
	CHECK_EQ(b[0], 4);
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_CONFIG + 4, b, 8);
	CHECK_EQ(b[7], 12);
	/* Straddling the end, past the end, odd length: zeroes, nothing copied. */
	memset(b, 0xaa, sizeof(b));
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_CONFIG + 10, b, 4);
	CHECK_EQ(b[0], 0);
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_CONFIG + 12, b, 1);
	CHECK_EQ(b[0], 0);
	virtio_mmio_bus_ops.read(&dum.mmio, 0xfff, b, 1);
	CHECK_EQ(b[0], 0);
	virtio_mmio_bus_ops.read(&dum.mmio, VIRTIO_MMIO_CONFIG, b, 3);
	CHECK_EQ(b[0], 0);
	v = 0xdeadbeef;
	virtio_mmio_bus_ops.write(&dum.mmio, VIRTIO_MMIO_CONFIG + 10, (uint8_t *)&v, 4);
	CHECK_EQ(dum.config[10], 11);
	virtio_mmio_bus_ops.write(&dum.mmio, VIRTIO_MMIO_CONFIG + 8, (uint8_t *)&v, 4);
	CHECK_EQ(dum.config[8], 0xef);
	/* Huge offsets must not wrap around into the config space. */
	virtio_mmio_bus_ops.write(&dum.mmio, 0xffffffffffffff00ULL, (uint8_t *)&v, 4);
	stop();
}

TEST(interrupts_and_ack)
{
	CHECK_EQ(start(), 0);
	CHECK_EQ(drv_setup(&drv, ~0ULL, 16), 0);
	CHECK(!drv_irq(&drv));
	pthread_mutex_lock(&dum.mmio.lock);
	virtio_mmio_interrupt(&dum.mmio, VIRTIO_INT_USED);
	virtio_mmio_config_changed(&dum.mmio);
	pthread_mutex_unlock(&dum.mmio.lock);
	CHECK(drv_irq(&drv));
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	drv_wr(&drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	drv_wr(&drv, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* NEEDS_RESET: status bit plus a config interrupt; kicks are then ignored. */
	pthread_mutex_lock(&dum.mmio.lock);
	virtio_mmio_needs_reset(&dum.mmio);
	pthread_mutex_unlock(&dum.mmio.lock);
	CHECK(drv_irq(&drv));
	CHECK(drv_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(drv_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	drv_spin(&drv, 2);
	dum.notified[0] = 0;
	drv_kick(&drv);
	drv_spin(&drv, 2);
	CHECK_EQ(dum.notified[0], 0);
	stop();
}
