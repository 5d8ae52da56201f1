// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net from inside the guest (guest.test=net). The host end of the TAP runs a
 * raw-socket peer: it waits for the guest's frame (ethertype 0x88b5, payload
 * "guest-to-host <n>"), checks it, and answers with a frame to the guest's MAC whose
 * payload is "host-to-guest" followed by the guest's own payload.
 *   guest.mac=N      the MAC the host configured, as a 48-bit decimal number
 *   guest.netslot=N  the device's virtio-mmio slot (default 0)
 *   guest.netvhost=1 the host runs the device on vhost-net, whose answers to hostile
 *                    chains are the kernel's: a TX chain with a writable descriptor
 *                    stops the queue and is reported (the device asks for a reset,
 *                    the guest re-initialises it), and num_buffers is left unwritten
 *                    without MRG_RXBUF
 * Before the good frame the guest also sends chains the device must drop (a writable
 * descriptor in TX, a header without a frame); the host checks it received only the
 * good one.
 */
#include "tests/guest/virtio.h"

#include "vmm/boot/layout.h"

#define DEV(n) (VIRTIO_MMIO_START + (n) * VIRTIO_MMIO_SIZE)
#define NET_F_MAC 5
#define NET_F_STATUS 16
#define NQ 16
#define RXBUF 2048
#define NRX 8
#define ETYPE_HI 0x88
#define ETYPE_LO 0xb5

static struct vq rxq __attribute__((aligned(4096)));
static struct vq txq __attribute__((aligned(4096)));
static uint8_t rxbuf[NRX][RXBUF] __attribute__((aligned(64)));
static uint8_t txbuf[2][RXBUF] __attribute__((aligned(64)));

static uint32_t rd(uint64_t base, uint32_t off)
{
	return mmio_read32(base + off);
}

static void wr(uint64_t base, uint32_t off, uint32_t v)
{
	mmio_write32(base + off, v);
}

static bool queue_setup(uint64_t base, unsigned int i, struct vq *q)
{
	memset(q, 0, sizeof(*q));
	q->num = NQ;
	q->avail.flags = VRING_AVAIL_F_NO_INTERRUPT; /* the guest polls */
	wr(base, VM_QUEUE_SEL, i);
	if (rd(base, VM_QUEUE_NUM_MAX) < NQ)
		return false;
	wr(base, VM_QUEUE_NUM, NQ);
	wr(base, VM_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)q->desc);
	wr(base, VM_QUEUE_DESC_HIGH, 0);
	wr(base, VM_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)&q->avail);
	wr(base, VM_QUEUE_DRIVER_HIGH, 0);
	wr(base, VM_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)&q->used);
	wr(base, VM_QUEUE_DEVICE_HIGH, 0);
	wr(base, VM_QUEUE_READY, 1);
	return rd(base, VM_QUEUE_READY) == 1;
}

/* Reset, negotiate VERSION_1 + MAC + STATUS, two queues, DRIVER_OK. */
static bool net_init(uint64_t base, uint64_t *features)
{
	uint64_t offered;

	wr(base, VM_STATUS, 0);
	for (int i = 0; i < 1000000 && rd(base, VM_STATUS); i++)
		__asm__ volatile("pause");
	wr(base, VM_STATUS, S_ACK);
	wr(base, VM_STATUS, S_ACK | S_DRIVER);
	wr(base, VM_DEVICE_FEATURES_SEL, 0);
	offered = rd(base, VM_DEVICE_FEATURES);
	wr(base, VM_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)rd(base, VM_DEVICE_FEATURES) << 32;
	*features = offered;
	offered &= (1ULL << VIRTIO_F_VERSION_1) | (1ULL << NET_F_MAC) | (1ULL << NET_F_STATUS);
	wr(base, VM_DRIVER_FEATURES_SEL, 0);
	wr(base, VM_DRIVER_FEATURES, (uint32_t)offered);
	wr(base, VM_DRIVER_FEATURES_SEL, 1);
	wr(base, VM_DRIVER_FEATURES, (uint32_t)(offered >> 32));
	wr(base, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(base, VM_STATUS) & S_FEATURES_OK))
		return false;
	if (!queue_setup(base, 0, &rxq) || !queue_setup(base, 1, &txq))
		return false;
	wr(base, VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return (rd(base, VM_STATUS) & (S_DRIVER_OK | S_NEEDS_RESET | S_FAILED)) == S_DRIVER_OK;
}

static void post(struct vq *q, uint16_t head)
{
	q->avail.ring[q->avail.idx % q->num] = head;
	barrier();
	q->avail.idx++;
	barrier();
}

/* Wait for the next used entry; false after `spins` polls. */
static bool next_used(struct vq *q, uint64_t spins, uint32_t *id, uint32_t *len)
{
	for (uint64_t i = 0; i < spins; i++) {
		if (*(volatile uint16_t *)&q->used.idx != q->last_used) {
			barrier();
			*id = q->used.ring[q->last_used % q->num].id;
			*len = q->used.ring[q->last_used % q->num].len;
			q->last_used++;
			return true;
		}
		__asm__ volatile("pause");
	}
	return false;
}

static void rx_post(uint64_t base, uint16_t i)
{
	rxq.desc[i] = (struct vdesc){ (uint64_t)(uintptr_t)rxbuf[i], RXBUF, VRING_DESC_F_WRITE, 0 };
	post(&rxq, i);
	wr(base, VM_QUEUE_NOTIFY, 0);
}

static const char payload[] = "guest-to-host 42";
static const char answer[] = "host-to-guest guest-to-host 42";

void test_net(void)
{
	uint64_t base = DEV(param_u64("netslot", 0)), features = 0;
	uint64_t mac_want = param_u64("mac", 0);
	bool vhost = param_u64("netvhost", 0) != 0;
	uint8_t mac[6], *f;
	uint32_t id = 0, len = 0, flen;
	uint16_t status;
	bool got = false;

	check_eq(rd(base, VM_MAGIC), 0x74726976, "virtio-mmio magic");
	check_eq(rd(base, VM_DEVICE_ID), 1, "device id 1 (network)");
	if (!net_init(base, &features)) {
		check(false, "driver set-up with two queues", NULL);
		finish();
	}
	check(true, "driver set-up with two queues", NULL);
	check(features & (1ULL << NET_F_MAC), "MAC feature offered", NULL);
	check(features & (1ULL << NET_F_STATUS), "STATUS feature offered", NULL);
	for (int i = 0; i < 6; i++)
		mac[i] = mmio_read8(base + VM_CONFIG + i);
	{
		uint64_t m = 0;

		for (int i = 0; i < 6; i++)
			m = m << 8 | mac[i];
		check_eq(m, mac_want, "MAC from config space");
	}
	status = (uint16_t)(mmio_read8(base + VM_CONFIG + 6) | mmio_read8(base + VM_CONFIG + 7) << 8);
	check_eq(status & 1, 1, "link up");

	for (uint16_t i = 0; i < NRX; i++)
		rx_post(base, i);

	/* Hostile chains first: both must come back unused, the device must stay up. */
	memset(txbuf[0], 0, 64);
	txq.desc[0] = (struct vdesc){ (uint64_t)(uintptr_t)txbuf[0], 12, VRING_DESC_F_NEXT, 1 };
	txq.desc[1] = (struct vdesc){ (uint64_t)(uintptr_t)txbuf[1], 64, VRING_DESC_F_WRITE, 0 };
	post(&txq, 0);
	if (vhost) {
		uint64_t i;

		/* vhost-net reports the chain instead of returning it: reset and start over. */
		wr(base, VM_QUEUE_NOTIFY, 1);
		for (i = 0; i < 400000000ULL && !(rd(base, VM_STATUS) & S_NEEDS_RESET); i++)
			__asm__ volatile("pause");
		check(rd(base, VM_STATUS) & S_NEEDS_RESET,
		      "TX chain with a writable descriptor: the device asks for a reset", NULL);
		check(net_init(base, &features), "driver set-up again after the reset", NULL);
		for (uint16_t k = 0; k < NRX; k++)
			rx_post(base, k);
	}
	txq.desc[2] = (struct vdesc){ (uint64_t)(uintptr_t)txbuf[0], 12, 0, 0 };
	post(&txq, 2);
	wr(base, VM_QUEUE_NOTIFY, 1);
	if (!vhost)
		check(next_used(&txq, 400000000ULL, &id, &len) && id == 0 && len == 0,
		      "TX chain with a writable descriptor dropped", NULL);
	check(next_used(&txq, 400000000ULL, &id, &len) && id == 2 && len == 0,
	      "TX header without a frame dropped", NULL);

	/* The real frame: header (12 zero bytes) in one descriptor, frame in another. */
	f = txbuf[1];
	memset(f, 0xff, 6); /* broadcast */
	memcpy(f + 6, mac, 6);
	f[12] = ETYPE_HI;
	f[13] = ETYPE_LO;
	memset(f + 14, 0, 64);
	memcpy(f + 14, payload, sizeof(payload));
	flen = 14 + 64;
	txq.desc[3] = (struct vdesc){ (uint64_t)(uintptr_t)txbuf[0], 12, VRING_DESC_F_NEXT, 4 };
	txq.desc[4] = (struct vdesc){ (uint64_t)(uintptr_t)f, flen, 0, 0 };
	post(&txq, 3);
	wr(base, VM_QUEUE_NOTIFY, 1);
	check(next_used(&txq, 400000000ULL, &id, &len) && id == 3,
	      "TX frame to the host completed", NULL);
	check((rd(base, VM_STATUS) & S_NEEDS_RESET) == 0, "device still usable", NULL);

	/* Wait for the host's answer; other frames (if any) are put back. */
	for (int n = 0; n < 64 && !got; n++) {
		const uint8_t *r;

		if (!next_used(&rxq, 2000000000ULL, &id, &len) || id >= NRX)
			break;
		r = rxbuf[id];
		if (len >= 12 + 14 + sizeof(answer) - 1 && r[12 + 12] == ETYPE_HI &&
		    r[12 + 13] == ETYPE_LO) {
			got = true;
			check(!memcmp(r + 12, mac, 6), "RX frame addressed to our MAC", NULL);
			check(!memcmp(r + 12 + 14, answer, sizeof(answer) - 1),
			      "RX payload is the host's answer", NULL);
			if (!vhost)
				check_eq(r[10] | r[11] << 8, 1, "RX header num_buffers");
		} else {
			rx_post(base, (uint16_t)id);
		}
	}
	check(got, "RX frame from the host received", NULL);
	if (vhost) {
		/* The host detaches vhost on this vCPU's status write (its seccomp filter). */
		wr(base, VM_STATUS, 0);
		check_eq(rd(base, VM_STATUS), 0, "device reset while vhost-net runs");
	}
	finish();
}
