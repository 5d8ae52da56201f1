// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock from inside the guest (guest.test=vsock): a polling stream stack with
 * credit flow control, driven against the VMM's Unix-socket backend by
 * tests/integration/test_vsock_guest.sh.
 *   guest.cid=N        the CID the host configured (checked against config space)
 *   guest.vsockslot=N  the device's virtio-mmio slot (default 0)
 * First the guest connects out: to CID 2 port 5000 it sends 100 KiB of a pattern and
 * shuts its write side; the host listener checks it and answers 200 KiB of another
 * pattern, then closes; to port 5001 (no listener) it must get RST. Then it prints
 * "guest: vsock ready" and serves: port 1234 echoes every byte back (and shuts down
 * after the host's EOF), any other port gets RST, and a connection to port 9999 ends the
 * test.
 *   guest.vsockbench=MIB  throughput mode for tests/integration/bench_vsock.sh: no
 *                      client test; besides the echo, port 1235 is a sink (the guest
 *                      discards what it gets and shuts down after the host's EOF) and
 *                      port 1236 a source (the guest sends MIB MiB, then shuts down).
 */
#include "tests/guest/virtio.h"

#include "vmm/boot/layout.h"

#define DEV(n) (VIRTIO_MMIO_START + (n) * VIRTIO_MMIO_SIZE)
#define NQ 64
#define NRX 32
#define NTX 32
#define BUFSZ 16384
#define HDR 44
#define CRED 65536u /* what the guest advertises per connection */
#define MAXC 48
#define ECHO_PORT 1234
#define QUIT_PORT 9999
#define SINK_PORT 1235
#define SOURCE_PORT 1236

#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { C_FREE, C_CONNECTING, C_OPEN };

struct conn {
	int state;
	bool echo, sink, rst, peer_shut_send, shut_sent;
	uint64_t src_left; /* source: bytes still to send */
	uint32_t lport, pport;
	uint32_t peer_buf, peer_fwd, tx_cnt; /* our sending */
	uint32_t rx_cnt, fwd_cnt, fwd_sent; /* our receiving */
	uint32_t rhead, rlen; /* echo ring */
	uint64_t got; /* client: bytes received and checked */
	bool bad;
	uint8_t ring[CRED];
};

static struct vq rxq __attribute__((aligned(4096)));
static struct vq txq __attribute__((aligned(4096)));
static struct vq evq __attribute__((aligned(4096)));
static uint8_t rxbuf[NRX][HDR + BUFSZ] __attribute__((aligned(64)));
static uint8_t txbuf[NTX][HDR + BUFSZ] __attribute__((aligned(64)));
static uint8_t evbuf[4][8];
static bool tx_busy[NTX];
static struct conn conns[MAXC];
static uint64_t base, my_cid;
static bool quit, rx_kick, tx_kick;
static uint32_t next_port = 40000;
static unsigned int protocol_errors;
static uint64_t bench_bytes; /* guest.vsockbench in bytes; 0: the functional test */

static uint32_t rd(uint32_t off)
{
	return mmio_read32(base + off);
}

static void wr(uint32_t off, uint32_t v)
{
	mmio_write32(base + off, v);
}

static bool queue_setup(unsigned int i, struct vq *q)
{
	memset(q, 0, sizeof(*q));
	q->num = NQ;
	q->avail.flags = VRING_AVAIL_F_NO_INTERRUPT; /* the guest polls */
	wr(VM_QUEUE_SEL, i);
	if (rd(VM_QUEUE_NUM_MAX) < NQ)
		return false;
	wr(VM_QUEUE_NUM, NQ);
	wr(VM_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)q->desc);
	wr(VM_QUEUE_DESC_HIGH, 0);
	wr(VM_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)&q->avail);
	wr(VM_QUEUE_DRIVER_HIGH, 0);
	wr(VM_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)&q->used);
	wr(VM_QUEUE_DEVICE_HIGH, 0);
	wr(VM_QUEUE_READY, 1);
	return rd(VM_QUEUE_READY) == 1;
}

static bool dev_init(void)
{
	wr(VM_STATUS, 0);
	for (int i = 0; i < 1000000 && rd(VM_STATUS); i++)
		__asm__ volatile("pause");
	wr(VM_STATUS, S_ACK);
	wr(VM_STATUS, S_ACK | S_DRIVER);
	wr(VM_DEVICE_FEATURES_SEL, 1);
	if (!(rd(VM_DEVICE_FEATURES) & 1))
		return false;
	wr(VM_DRIVER_FEATURES_SEL, 0);
	wr(VM_DRIVER_FEATURES, 0);
	wr(VM_DRIVER_FEATURES_SEL, 1);
	wr(VM_DRIVER_FEATURES, 1); /* VERSION_1 only */
	wr(VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(VM_STATUS) & S_FEATURES_OK))
		return false;
	if (!queue_setup(0, &rxq) || !queue_setup(1, &txq) || !queue_setup(2, &evq))
		return false;
	wr(VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return (rd(VM_STATUS) & (S_DRIVER_OK | S_NEEDS_RESET | S_FAILED)) == S_DRIVER_OK;
}

static void post(struct vq *q, uint16_t head)
{
	q->avail.ring[q->avail.idx % q->num] = head;
	barrier();
	q->avail.idx++;
	barrier();
}

static bool next_used(struct vq *q, uint32_t *id, uint32_t *len)
{
	if (*(volatile uint16_t *)&q->used.idx == q->last_used)
		return false;
	barrier();
	*id = q->used.ring[q->last_used % q->num].id;
	*len = q->used.ring[q->last_used % q->num].len;
	q->last_used++;
	return true;
}

static void rx_post(uint16_t i)
{
	rxq.desc[i] = (struct vdesc){ (uint64_t)(uintptr_t)rxbuf[i], HDR + BUFSZ,
				      VRING_DESC_F_WRITE, 0 };
	post(&rxq, i);
	rx_kick = true;
}

static void kicks(void)
{
	if (tx_kick)
		wr(VM_QUEUE_NOTIFY, 1);
	if (rx_kick)
		wr(VM_QUEUE_NOTIFY, 0);
	tx_kick = rx_kick = false;
}

/* A free TX buffer, reclaiming completed ones; NULL after a long wait. */
static int tx_slot(void)
{
	for (uint64_t spin = 0; spin < 2000000000ULL; spin++) {
		uint32_t id, len;

		while (next_used(&txq, &id, &len))
			if (id < NTX)
				tx_busy[id] = false;
		for (int i = 0; i < NTX; i++)
			if (!tx_busy[i])
				return i;
		kicks();
		__asm__ volatile("pause");
	}
	return -1;
}

static bool send_raw(uint32_t lport, uint32_t pport, uint16_t op, uint32_t flags, uint32_t fwd,
		     const uint8_t *data, uint32_t len)
{
	int i = tx_slot();
	struct hdr h = { .src_cid = my_cid, .dst_cid = 2, .src_port = lport, .dst_port = pport,
			 .len = len, .type = 1, .op = op, .flags = flags, .buf_alloc = CRED,
			 .fwd_cnt = fwd };

	if (i < 0) {
		protocol_errors++;
		return false;
	}
	memcpy(txbuf[i], &h, HDR);
	if (len)
		memcpy(txbuf[i] + HDR, data, len);
	txq.desc[i] = (struct vdesc){ (uint64_t)(uintptr_t)txbuf[i], HDR + len, 0, 0 };
	tx_busy[i] = true;
	post(&txq, (uint16_t)i);
	tx_kick = true;
	return true;
}

static bool send_c(struct conn *c, uint16_t op, uint32_t flags, const uint8_t *data,
		   uint32_t len)
{
	c->fwd_sent = c->fwd_cnt;
	if (op == OP_RW)
		c->tx_cnt += len;
	return send_raw(c->lport, c->pport, op, flags, c->fwd_cnt, data, len);
}

static uint32_t credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd;

	return in_flight >= c->peer_buf ? 0 : c->peer_buf - in_flight;
}

static struct conn *find(uint32_t lport, uint32_t pport)
{
	for (int i = 0; i < MAXC; i++)
		if (conns[i].state != C_FREE && conns[i].lport == lport && conns[i].pport == pport)
			return &conns[i];
	return NULL;
}

static struct conn *alloc_conn(void)
{
	for (int i = 0; i < MAXC; i++)
		if (conns[i].state == C_FREE) {
			struct conn *c = &conns[i];

			c->echo = c->sink = c->rst = c->peer_shut_send = c->shut_sent = c->bad = false;
			c->src_left = 0;
			c->tx_cnt = c->rx_cnt = c->fwd_cnt = c->fwd_sent = 0;
			c->rhead = c->rlen = 0;
			c->got = 0;
			return c;
		}
	return NULL;
}

static uint8_t pat_host(uint64_t k)
{
	return (uint8_t)(k * 13 + 7 + (k >> 10));
}

static uint8_t pat_guest(uint64_t k)
{
	return (uint8_t)(k * 7 + 3 + (k >> 12));
}

static void on_packet(const struct hdr *h, const uint8_t *data, uint32_t len)
{
	struct conn *c;

	if (h->dst_cid != my_cid || h->src_cid != 2 || h->len != len) {
		protocol_errors++;
		return;
	}
	c = find(h->dst_port, h->src_port);
	if (!c) {
		if (h->op == OP_REQUEST &&
		    (h->dst_port == ECHO_PORT ||
		     (bench_bytes && (h->dst_port == SINK_PORT || h->dst_port == SOURCE_PORT))) &&
		    (c = alloc_conn())) {
			c->state = C_OPEN;
			c->echo = h->dst_port == ECHO_PORT;
			c->sink = h->dst_port == SINK_PORT;
			c->src_left = h->dst_port == SOURCE_PORT ? bench_bytes : 0;
			c->lport = h->dst_port;
			c->pport = h->src_port;
			c->peer_buf = h->buf_alloc;
			c->peer_fwd = h->fwd_cnt;
			send_c(c, OP_RESPONSE, 0, NULL, 0);
			return;
		}
		if (h->op == OP_REQUEST && h->dst_port == QUIT_PORT)
			quit = true;
		if (h->op != OP_RST)
			send_raw(h->dst_port, h->src_port, OP_RST, 0, 0, NULL, 0);
		return;
	}
	c->peer_buf = h->buf_alloc;
	c->peer_fwd = h->fwd_cnt;
	switch (h->op) {
	case OP_RESPONSE:
		if (c->state == C_CONNECTING)
			c->state = C_OPEN;
		break;
	case OP_RST:
		c->rst = true;
		c->state = C_FREE;
		break;
	case OP_SHUTDOWN:
		if (h->flags & 2)
			c->peer_shut_send = true;
		break;
	case OP_CREDIT_REQUEST:
		send_c(c, OP_CREDIT_UPDATE, 0, NULL, 0);
		break;
	case OP_RW:
		/* The device must respect our credit. */
		if (c->rx_cnt - c->fwd_cnt + len > CRED) {
			protocol_errors++;
			c->bad = true;
			break;
		}
		c->rx_cnt += len;
		if (c->sink) {
			c->fwd_cnt += len;
		} else if (c->echo) {
			for (uint32_t i = 0; i < len; i++)
				c->ring[(c->rhead + c->rlen + i) % CRED] = data[i];
			c->rlen += len;
		} else {
			for (uint32_t i = 0; i < len; i++)
				if (data[i] != pat_host(c->got + i))
					c->bad = true;
			c->got += len;
			c->fwd_cnt += len;
		}
		break;
	default:
		break;
	}
}

/* One round: receive everything there is, echo what credit allows, tell credit. */
static void service(void)
{
	uint32_t id, len;
	unsigned int n = 0;

	while (n++ < NRX && next_used(&rxq, &id, &len)) {
		if (id < NRX && len >= HDR && len <= HDR + BUFSZ) {
			struct hdr h;

			memcpy(&h, rxbuf[id], HDR);
			on_packet(&h, rxbuf[id] + HDR, len - HDR);
		} else {
			protocol_errors++;
		}
		if (id < NRX)
			rx_post((uint16_t)id);
	}
	for (int i = 0; i < MAXC; i++) {
		struct conn *c = &conns[i];

		if (c->state != C_OPEN)
			continue;
		while (c->echo && c->rlen && credit(c)) {
			uint32_t chunk = MIN_U32(MIN_U32(c->rlen, CRED - c->rhead), credit(c));

			chunk = MIN_U32(chunk, BUFSZ);
			c->fwd_cnt += chunk; /* consumed as it goes out: the header says so */
			send_c(c, OP_RW, 0, c->ring + c->rhead, chunk);
			c->rhead = (c->rhead + chunk) % CRED;
			c->rlen -= chunk;
		}
		while (c->src_left && credit(c)) {
			uint32_t chunk = MIN_U32(MIN_U32(BUFSZ, credit(c)), (uint32_t)MIN_U64(
							 c->src_left, BUFSZ));

			send_c(c, OP_RW, 0, c->ring, chunk);
			c->src_left -= chunk;
			if (!c->src_left) {
				send_c(c, OP_SHUTDOWN, 3, NULL, 0);
				c->shut_sent = true;
			}
		}
		if ((c->echo || c->sink) && !c->rlen && c->peer_shut_send && !c->shut_sent) {
			send_c(c, OP_SHUTDOWN, 3, NULL, 0);
			c->shut_sent = true;
		}
		/* The device stops at our credit: tell it once half is consumed. */
		if (c->fwd_cnt - c->fwd_sent >= CRED / 2)
			send_c(c, OP_CREDIT_UPDATE, 0, NULL, 0);
	}
	kicks();
}

static bool wait_for(bool (*cond)(struct conn *), struct conn *c)
{
	for (uint64_t i = 0; i < 400000000ULL; i++) {
		service();
		if (cond(c))
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

static bool not_connecting(struct conn *c)
{
	return c->state != C_CONNECTING;
}

static bool eof_or_rst(struct conn *c)
{
	return c->peer_shut_send || c->rst;
}

static bool is_rst(struct conn *c)
{
	return c->rst;
}

static struct conn *connect_to(uint32_t port)
{
	struct conn *c = alloc_conn();

	if (!c)
		return NULL;
	c->state = C_CONNECTING;
	c->lport = next_port++;
	c->pport = port;
	c->peer_buf = 0;
	send_c(c, OP_REQUEST, 0, NULL, 0);
	kicks();
	wait_for(not_connecting, c);
	return c;
}

static void client_test(void)
{
	static uint8_t chunk[BUFSZ];
	struct conn *c = connect_to(5000);
	uint64_t sent = 0, total = 100 * 1024;

	check(c && c->state == C_OPEN && !c->rst, "guest connection to CID 2 port 5000 accepted",
	      NULL);
	if (!c || c->state != C_OPEN)
		return;
	for (uint64_t i = 0; i < 400000000ULL && sent < total && !c->rst; i++) {
		uint32_t n = MIN_U32(MIN_U32((uint32_t)(total - sent), BUFSZ), credit(c));

		if (n) {
			for (uint32_t k = 0; k < n; k++)
				chunk[k] = pat_guest(sent + k);
			send_c(c, OP_RW, 0, chunk, n);
			sent += n;
		}
		service();
	}
	check_eq(sent, total, "guest sent 100 KiB to the host within its credit");
	send_c(c, OP_SHUTDOWN, 2, NULL, 0);
	kicks();
	check(wait_for(eof_or_rst, c) && c->peer_shut_send, "host's answer ended with SHUTDOWN",
	      NULL);
	check_eq(c->got, 200 * 1024, "guest received the host's 200 KiB");
	check(!c->bad, "host's bytes intact and within the guest's credit", NULL);
	send_c(c, OP_SHUTDOWN, 3, NULL, 0);
	kicks();
	check(wait_for(is_rst, c), "device answered the guest's full shutdown with RST", NULL);

	c = connect_to(5001);
	check(c && c->rst && c->state == C_FREE, "connection to a port nobody listens on: RST",
	      NULL);
}

void test_vsock(void)
{
	uint64_t cid_want = param_u64("cid", 3), cid;
	uint32_t id, len;

	base = DEV(param_u64("vsockslot", 0));
	check_eq(rd(VM_MAGIC), 0x74726976, "virtio-mmio magic");
	check_eq(rd(VM_DEVICE_ID), 19, "device id 19 (vsock)");
	if (!dev_init()) {
		check(false, "driver set-up with three queues", NULL);
		finish();
	}
	check(true, "driver set-up with three queues", NULL);
	cid = rd(VM_CONFIG) | (uint64_t)rd(VM_CONFIG + 4) << 32;
	check_eq(cid, cid_want, "guest CID from config space");
	my_cid = cid;
	for (uint16_t i = 0; i < NRX; i++)
		rx_post(i);
	for (uint16_t i = 0; i < 4; i++) {
		evq.desc[i] = (struct vdesc){ (uint64_t)(uintptr_t)evbuf[i], 8, VRING_DESC_F_WRITE, 0 };
		post(&evq, i);
	}
	wr(VM_QUEUE_NOTIFY, 2);
	kicks();

	bench_bytes = param_u64("vsockbench", 0) << 20;
	if (!bench_bytes)
		client_test();

	puts_serial("guest: vsock ready\n");
	for (uint64_t i = 0; i < 20000000000ULL && !quit; i++)
		service();
	check(quit, "host asked to finish (connection to port 9999)", NULL);
	/* Let the last RST go out. */
	for (int i = 0; i < 1000; i++)
		service();
	check_eq(protocol_errors, 0, "no protocol errors seen by the guest");
	check(!next_used(&evq, &id, &len), "event queue unused", NULL);
	check((rd(VM_STATUS) & S_NEEDS_RESET) == 0, "device still usable", NULL);
	/* A device reset from this vCPU (vhost-vsock: stopped from the vCPU thread, under its
	   seccomp filter). */
	wr(VM_STATUS, 0);
	check_eq(rd(VM_STATUS), 0, "device reset");
	finish();
}
