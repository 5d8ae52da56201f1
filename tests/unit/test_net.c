// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net through the MMIO transport with fake guest RAM and a real TAP. Every test
 * forks a child that enters a fresh network namespace, creates a persistent TAP there,
 * and drives the device like a guest; a raw AF_PACKET socket on the TAP is the other
 * host end (it sees what the guest transmits, and what it sends reaches the guest).
 * Skips when the host has no /dev/net/tun or no CAP_NET_ADMIN for a namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "tests/unit/test_virtio_mmio_driver.h"
#include "vmm/config.h"
#include "vmm/util.h"
#include "vmm/virtio/net.h"

#define MMIO_BASE 0xd0000000ULL
#define TAP_NAME "vtaptest0"
#define HDR 12
#define QSIZE 64

#define F_CSUM 0
#define F_GUEST_CSUM 1
#define F_MTU 3
#define F_MAC 5
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_HOST_TSO4 11
#define F_HOST_TSO6 12
#define F_MRG_RXBUF 15
#define F_STATUS 16

/* One split queue of the fake driver: rings at fixed spots per queue. */
struct nq {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc;
};

struct nett {
	struct fake_drv d;
	struct virtio_net *net;
	struct nq q[2]; /* 0: RX, 1: TX */
	int pkt; /* AF_PACKET socket on the TAP */
	int ifindex;
};

/* The backend the next net_start asks for: the frame tests are the userspace path's. */
static const char *test_backend = "userspace";
static char tap_name[] = TAP_NAME;
static char missing_name[] = "nosuchtap0";
static const uint8_t guest_mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 };

/* ---- host side: namespace, TAP, packet socket ---- */

static int make_tap(void)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s, r = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	/* Persistent: the device attaches by name after the creator lets go. */
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		goto out;
	close(fd);
	fd = -1;
	/* No IPv6 autoconfiguration frames in the way. */
	s = open("/proc/sys/net/ipv6/conf/" TAP_NAME "/disable_ipv6", O_WRONLY | O_CLOEXEC);
	if (s >= 0) {
		if (write(s, "1", 1) != 1)
			fprintf(stderr, "  disable_ipv6: %s\n", strerror(errno));
		close(s);
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		goto out;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	ifr.ifr_flags = IFF_UP;
	r = ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int packet_socket(int *ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

	if (s < 0)
		return -1;
	*ifindex = (int)if_nametoindex(TAP_NAME);
	sll.sll_ifindex = *ifindex;
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* Run fn in a child inside a fresh network namespace; 77 from the child means skip. */
static void in_netns(void (*fn)(void))
{
	pid_t pid;
	int st;

	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		SKIP("/dev/net/tun: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "  skip: unshare(CLONE_NEWNET): %s (needs CAP_SYS_ADMIN)\n",
				strerror(errno));
			_exit(77);
		}
		fn();
		fflush(NULL);
		_exit(test_failed_now ? 1 : test_skipped_now ? 77 : 0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		SKIP("see the child's reason above");
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}

/* ---- guest side: a two-queue driver over the fake one ---- */

static void nq_setup(struct nett *t, unsigned int i)
{
	struct nq *q = &t->q[i];

	q->desc = 0x4000 + i * 0x3000;
	q->avail = q->desc + 0x1000;
	q->used = q->desc + 0x2000;
	memset(drv_ptr(&t->d, q->desc), 0, 0x3000);
	drv_queue(&t->d, i, QSIZE, q->desc, q->avail, q->used);
}

static void nq_desc(struct nett *t, unsigned int qi, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	drv_desc(&t->d, t->q[qi].desc, i, addr, len, flags, next);
}

static void nq_post(struct nett *t, unsigned int qi, uint16_t head)
{
	struct nq *q = &t->q[qi];
	uint16_t *avail = drv_ptr(&t->d, q->avail);

	avail[2 + q->avail_idx % QSIZE] = head;
	q->avail_idx++;
	__atomic_store_n(&avail[1], q->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t nq_used_idx(struct nett *t, unsigned int qi)
{
	return __atomic_load_n((uint16_t *)drv_ptr(&t->d, t->q[qi].used + 2), __ATOMIC_ACQUIRE);
}

/* Wait (running the loop) for the next used entry of queue qi; false after ~1 s. */
static bool nq_next_used(struct nett *t, unsigned int qi, uint32_t *id, uint32_t *len)
{
	struct nq *q = &t->q[qi];
	uint32_t *e;

	for (int i = 0; i < 200 && nq_used_idx(t, qi) == q->used_seen; i++)
		ev_loop_run_once(&t->d.loop, 5);
	if (nq_used_idx(t, qi) == q->used_seen)
		return false;
	e = (uint32_t *)drv_ptr(&t->d, q->used + 4) + 2 * (q->used_seen % QSIZE);
	*id = e[0];
	*len = e[1];
	q->used_seen++;
	return true;
}

static void kick(struct nett *t, unsigned int qi)
{
	drv_wr(&t->d, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

static int net_setup(struct nett *t, uint64_t mask)
{
	struct fake_drv *d = &t->d;
	uint32_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	drv_wr(d, VIRTIO_MMIO_STATUS, 0);
	drv_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	drv_wr(d, VIRTIO_MMIO_STATUS, s);
	drv_set_features(d, drv_features(d) & mask);
	s |= VIRTIO_STATUS_FEATURES_OK;
	drv_wr(d, VIRTIO_MMIO_STATUS, s);
	if (!(drv_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return -1;
	memset(t->q, 0, sizeof(t->q));
	nq_setup(t, 0);
	nq_setup(t, 1);
	drv_wr(d, VIRTIO_MMIO_STATUS, s | VIRTIO_STATUS_DRIVER_OK);
	drv_spin(d, 3);
	return (drv_rd(d, VIRTIO_MMIO_STATUS) &
		(VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK
		       ? 0
		       : -1;
}

#define BASIC_FEATURES                                                               \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_EVENT_IDX) | (1ULL << F_MAC) | \
	 (1ULL << F_STATUS) | (1ULL << F_MTU))

static int net_start_cfg(struct nett *t, struct net_cfg *cfg, uint64_t mask)
{
	struct config_err err = { { 0 } };
	int r;

	memset(t, 0, sizeof(*t));
	t->pkt = -1;
	if (make_tap() < 0) {
		fprintf(stderr, "  make_tap: %s\n", strerror(errno));
		return -1;
	}
	t->pkt = packet_socket(&t->ifindex);
	if (t->pkt < 0 || drv_init(&t->d))
		return -1;
	if (virtio_net_set_backend(test_backend))
		return -1;
	r = virtio_net_create(&t->net, cfg, &t->d.env, MMIO_BASE, &err);
	if (r) {
		fprintf(stderr, "  create: %d %s\n", r, err.msg);
		return -1;
	}
	t->d.dev = virtio_net_mmio(t->net);
	return mask ? net_setup(t, mask) : 0;
}

static int net_start(struct nett *t, uint64_t mask)
{
	struct net_cfg cfg = { .iface_id = "eth0", .host_dev_name = tap_name,
			       .has_guest_mac = true, .mtu = 1500 };

	memcpy(cfg.guest_mac, guest_mac, 6);
	return net_start_cfg(t, &cfg, mask);
}

static void net_stop(struct nett *t)
{
	virtio_net_destroy(t->net);
	t->net = NULL;
	drv_fini(&t->d);
	if (t->pkt >= 0)
		close(t->pkt);
}

static struct virtio_net_stats stats(struct nett *t)
{
	struct virtio_net_stats s;

	virtio_net_get_stats(t->net, &s);
	return s;
}

/* An Ethernet frame of len bytes: to dst from src, a local ethertype, patterned payload. */
static void make_frame(uint8_t *f, size_t len, const uint8_t *dst, uint8_t seed)
{
	static const uint8_t src[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5; /* local experimental ethertype */
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 3);
}

/* The next frame on the packet socket with our ethertype (the TAP sees other traffic). */
static ssize_t host_recv(struct nett *t, uint8_t *buf, size_t size)
{
	for (int i = 0; i < 200; i++) {
		ssize_t n = recv(t->pkt, buf, size, 0);

		if (n >= 14 && buf[12] == 0x88 && buf[13] == 0xb5)
			return n;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n < 0)
			ev_loop_run_once(&t->d.loop, 5);
	}
	return -1;
}

static int host_send(struct nett *t, const uint8_t *f, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = t->ifindex,
				   .sll_halen = 6 };

	memcpy(sll.sll_addr, f, 6);
	return sendto(t->pkt, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len ?
		       0 :
		       -1;
}

/* TX one frame as header + two data descriptors at descriptor index base. */
static void guest_tx(struct nett *t, uint16_t base, const uint8_t *frame, uint32_t len,
		     const uint8_t *hdr)
{
	uint64_t h = drv_alloc(&t->d, HDR), a = drv_alloc(&t->d, len);
	uint32_t half = len / 2;

	memset(drv_ptr(&t->d, h), 0, HDR);
	if (hdr)
		memcpy(drv_ptr(&t->d, h), hdr, HDR);
	memcpy(drv_ptr(&t->d, a), frame, len);
	nq_desc(t, 1, base, h, HDR, VIRTQ_DESC_F_NEXT, (uint16_t)(base + 1));
	nq_desc(t, 1, (uint16_t)(base + 1), a, half, VIRTQ_DESC_F_NEXT, (uint16_t)(base + 2));
	nq_desc(t, 1, (uint16_t)(base + 2), a + half, len - half, 0, 0);
	nq_post(t, 1, base);
}

/* n RX buffers of size bytes each, one descriptor each, at indices 0..n-1. */
static void guest_rx_bufs(struct nett *t, uint16_t first, uint16_t n, uint32_t size,
			  uint64_t *gpas)
{
	for (uint16_t i = 0; i < n; i++) {
		uint64_t b = drv_alloc(&t->d, size);

		memset(drv_ptr(&t->d, b), 0xee, size);
		nq_desc(t, 0, (uint16_t)(first + i), b, size, VIRTQ_DESC_F_WRITE, 0);
		nq_post(t, 0, (uint16_t)(first + i));
		if (gpas)
			gpas[i] = b;
	}
}

/* ---- tests ---- */

static void do_config(void)
{
	struct nett t;
	uint64_t f;
	uint8_t mac[6];
	uint16_t status, mtu;

	CHECK(net_start(&t, 0) == 0);
	CHECK_EQ(drv_rd(&t.d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	f = drv_features(&t.d);
	CHECK(f & (1ULL << F_MAC));
	CHECK(f & (1ULL << F_STATUS));
	CHECK(f & (1ULL << F_MTU));
	CHECK(f & (1ULL << F_CSUM));
	CHECK(f & (1ULL << F_GUEST_TSO4));
	CHECK(f & (1ULL << F_HOST_TSO6));
	CHECK(!(f & (1ULL << F_MRG_RXBUF)));
	for (int i = 0; i < 6; i++)
		virtio_mmio_bus_ops.read(t.d.dev, VIRTIO_MMIO_CONFIG + i, &mac[i], 1);
	CHECK(!memcmp(mac, guest_mac, 6));
	virtio_mmio_bus_ops.read(t.d.dev, VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&status, 2);
	CHECK_EQ(status, 1);
	virtio_mmio_bus_ops.read(t.d.dev, VIRTIO_MMIO_CONFIG + 10, (uint8_t *)&mtu, 2);
	CHECK_EQ(mtu, 1500);
	net_stop(&t);
}

TEST(config_mac_status_mtu)
{
	in_netns(do_config);
}

static void do_no_mac(void)
{
	struct nett t;
	struct net_cfg cfg = { .iface_id = "eth0", .host_dev_name = tap_name };
	struct net_cfg missing = { .iface_id = "eth1", .host_dev_name = missing_name };
	struct config_err err = { { 0 } };
	struct virtio_net *n = NULL;
	uint64_t f;

	CHECK(net_start_cfg(&t, &cfg, 0) == 0);
	f = drv_features(&t.d);
	CHECK(!(f & (1ULL << F_MAC)));
	CHECK(!(f & (1ULL << F_MTU)));
	/* Attaching creates nothing: a missing TAP is an error... */
	CHECK(virtio_net_create(&n, &missing, &t.d.env, MMIO_BASE + 0x1000, &err) < 0);
	CHECK(strstr(err.msg, "nosuchtap0") != NULL);
	/* ...and so is a TAP already attached elsewhere (one queue, no IFF_MULTI_QUEUE). */
	memset(&err, 0, sizeof(err));
	CHECK(virtio_net_create(&n, &cfg, &t.d.env, MMIO_BASE + 0x1000, &err) == -EBUSY);
	net_stop(&t);
}

TEST(config_no_mac_and_bad_taps)
{
	in_netns(do_no_mac);
}

static void do_tx(void)
{
	struct nett t;
	uint8_t f[300], got[2048];
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	make_frame(f, sizeof(f), (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 1);
	guest_tx(&t, 0, f, sizeof(f), NULL);
	kick(&t, 1);
	CHECK(nq_next_used(&t, 1, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(host_recv(&t, got, sizeof(got)), sizeof(f));
	CHECK(!memcmp(got, f, sizeof(f)));
	/* Many in one batch, one kick. */
	for (uint16_t i = 0; i < 10; i++) {
		make_frame(f, 100 + i, guest_mac, (uint8_t)i);
		guest_tx(&t, (uint16_t)(3 + 3 * i), f, 100 + i, NULL);
	}
	kick(&t, 1);
	for (int i = 0; i < 10; i++) {
		CHECK(nq_next_used(&t, 1, &id, &len));
		CHECK_EQ(id, 3 + 3 * i);
		CHECK_EQ(host_recv(&t, got, sizeof(got)), 100 + i);
		make_frame(f, 100 + i, guest_mac, (uint8_t)i);
		CHECK(!memcmp(got, f, 100 + i));
	}
	CHECK_EQ(stats(&t).tx_packets, 11);
	CHECK_EQ(stats(&t).tx_bytes, 300 + 10 * 100 + 45);
	CHECK(drv_irq(&t.d));
	net_stop(&t);
}

TEST(tx_frames_reach_tap)
{
	in_netns(do_tx);
}

static void do_rx(void)
{
	struct nett t;
	uint8_t f[1000];
	uint64_t gpa[4];
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	guest_rx_bufs(&t, 0, 4, 2048, gpa);
	kick(&t, 0);
	drv_spin(&t.d, 2);
	for (int i = 0; i < 4; i++) {
		const uint8_t *hdr;

		make_frame(f, 200 + 200 * i, guest_mac, (uint8_t)(i + 7));
		CHECK(host_send(&t, f, 200 + 200 * i) == 0);
		CHECK(nq_next_used(&t, 0, &id, &len));
		CHECK_EQ(id, i);
		CHECK_EQ(len, HDR + 200 + 200 * i);
		hdr = drv_ptr(&t.d, gpa[i]);
		CHECK_EQ(hdr[0], 0); /* flags: no GUEST_CSUM negotiated */
		CHECK_EQ(hdr[1], 0); /* gso none */
		CHECK_EQ(hdr[10] | hdr[11] << 8, 1); /* num_buffers */
		CHECK(!memcmp(hdr + HDR, f, 200 + 200 * i));
	}
	CHECK_EQ(stats(&t).rx_packets, 4);
	CHECK_EQ(stats(&t).rx_bytes, 200 + 400 + 600 + 800);
	CHECK(drv_irq(&t.d));
	net_stop(&t);
}

TEST(rx_frames_reach_guest)
{
	in_netns(do_rx);
}

static void do_rx_no_buffers(void)
{
	struct nett t;
	uint8_t f[100];
	uint64_t gpa;
	uint32_t id, len;
	uint64_t t0;
	int handled = 0;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	make_frame(f, sizeof(f), guest_mac, 3);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	/* No buffers: the TAP must leave the loop instead of waking it over and over. */
	t0 = util_now_ns();
	for (int i = 0; i < 20; i++) {
		int r = ev_loop_run_once(&t.d.loop, 5);

		if (r > 0)
			handled += r;
	}
	CHECK(handled <= 2);
	CHECK(util_now_ns() - t0 >= 50 * 1000000ULL);
	CHECK_EQ(nq_used_idx(&t, 0), 0);
	CHECK(stats(&t).rx_no_buffers >= 1);
	/* A buffer and a kick: the frame the kernel kept arrives. */
	guest_rx_bufs(&t, 0, 1, 2048, &gpa);
	kick(&t, 0);
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(len, HDR + sizeof(f));
	CHECK(!memcmp((uint8_t *)drv_ptr(&t.d, gpa) + HDR, f, sizeof(f)));
	net_stop(&t);
}

TEST(rx_waits_for_guest_buffers)
{
	in_netns(do_rx_no_buffers);
}

static void do_rx_too_big(void)
{
	struct nett t;
	uint8_t big[1500], small[60];
	uint64_t gpa;
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	guest_rx_bufs(&t, 0, 1, 512, &gpa);
	kick(&t, 0);
	make_frame(big, sizeof(big), guest_mac, 1);
	CHECK(host_send(&t, big, sizeof(big)) == 0);
	for (int i = 0; i < 200 && !stats(&t).rx_dropped_too_big; i++)
		ev_loop_run_once(&t.d.loop, 5);
	CHECK_EQ(nq_used_idx(&t, 0), 0);
	CHECK_EQ(stats(&t).rx_dropped_too_big, 1);
	/* The same chain takes the next frame that fits. */
	make_frame(small, sizeof(small), guest_mac, 2);
	CHECK(host_send(&t, small, sizeof(small)) == 0);
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(len, HDR + sizeof(small));
	CHECK(!memcmp((uint8_t *)drv_ptr(&t.d, gpa) + HDR, small, sizeof(small)));
	net_stop(&t);
}

TEST(rx_frame_too_big_dropped)
{
	in_netns(do_rx_too_big);
}

static void do_rx_bad_chains(void)
{
	struct nett t;
	uint8_t f[80];
	uint64_t b = 0, good;
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	b = drv_alloc(&t.d, 4096);
	/* 0: device-readable buffer; 1: too small for a header; 2: outside RAM; 3: loop. */
	nq_desc(&t, 0, 0, b, 2048, 0, 0);
	nq_desc(&t, 0, 1, b, 8, VIRTQ_DESC_F_WRITE, 0);
	nq_desc(&t, 0, 2, DRV_RAM_SIZE - 16, 2048, VIRTQ_DESC_F_WRITE, 0);
	nq_desc(&t, 0, 3, b, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	for (uint16_t i = 0; i < 4; i++)
		nq_post(&t, 0, i);
	guest_rx_bufs(&t, 4, 1, 2048, &good);
	kick(&t, 0);
	make_frame(f, sizeof(f), guest_mac, 9);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	for (uint16_t i = 0; i < 4; i++) {
		CHECK(nq_next_used(&t, 0, &id, &len));
		CHECK_EQ(id, i);
		CHECK_EQ(len, 0);
	}
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 4);
	CHECK_EQ(len, HDR + sizeof(f));
	CHECK_EQ(stats(&t).rx_bad_chains, 4);
	CHECK(!(drv_rd(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	net_stop(&t);
}

TEST(rx_malformed_chains_dropped)
{
	in_netns(do_rx_bad_chains);
}

static void do_tx_bad(void)
{
	struct nett t;
	uint8_t f[200], got[2048];
	uint8_t gso_hdr[HDR] = { 0, 1 /* TCPV4, not negotiated */, 54, 0, 0x5a, 0x05 };
	uint8_t csum_hdr[HDR] = { 1 /* NEEDS_CSUM, CSUM not negotiated */ };
	uint64_t big, h;
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	make_frame(f, sizeof(f), guest_mac, 5);
	/* 0..2: offloads the guest did not negotiate. */
	guest_tx(&t, 0, f, sizeof(f), gso_hdr);
	/* 3..5 */
	guest_tx(&t, 3, f, sizeof(f), csum_hdr);
	/* 6: header only, no frame. */
	h = drv_alloc(&t.d, HDR);
	nq_desc(&t, 1, 6, h, HDR, 0, 0);
	nq_post(&t, 1, 6);
	/* 7: a device-writable descriptor in a TX chain. */
	nq_desc(&t, 1, 7, h, HDR, VIRTQ_DESC_F_NEXT, 8);
	nq_desc(&t, 1, 8, drv_alloc(&t.d, 200), 200, VIRTQ_DESC_F_WRITE, 0);
	nq_post(&t, 1, 7);
	/* 9: more than 64 KiB of frame. */
	big = drv_alloc(&t.d, 70000);
	make_frame(drv_ptr(&t.d, big), 70000, guest_mac, 1);
	nq_desc(&t, 1, 9, h, HDR, VIRTQ_DESC_F_NEXT, 10);
	nq_desc(&t, 1, 10, big, 70000, 0, 0);
	nq_post(&t, 1, 9);
	/* 11: a length that runs past the end of RAM. */
	nq_desc(&t, 1, 11, DRV_RAM_SIZE - 100, 4096, 0, 0);
	nq_post(&t, 1, 11);
	/* 12: a next index out of the table. */
	nq_desc(&t, 1, 12, h, HDR, VIRTQ_DESC_F_NEXT, 999);
	nq_post(&t, 1, 12);
	/* 13..15: a good frame still goes through. */
	guest_tx(&t, 13, f, sizeof(f), NULL);
	kick(&t, 1);
	for (uint16_t want = 0; want < 8; want++) {
		static const uint16_t heads[] = { 0, 3, 6, 7, 9, 11, 12, 13 };

		CHECK(nq_next_used(&t, 1, &id, &len));
		CHECK_EQ(id, heads[want]);
		CHECK_EQ(len, 0);
	}
	CHECK_EQ(stats(&t).tx_dropped_bad, 7);
	CHECK_EQ(stats(&t).tx_packets, 1);
	/* Only the good frame reached the host. */
	CHECK_EQ(host_recv(&t, got, sizeof(got)), sizeof(f));
	CHECK(!memcmp(got, f, sizeof(f)));
	CHECK(recv(t.pkt, got, sizeof(got), 0) < 0 || got[12] != 0x88);
	CHECK(!(drv_rd(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	net_stop(&t);
}

TEST(tx_malformed_chains_dropped)
{
	in_netns(do_tx_bad);
}

/* A UDP/IPv4 frame to the guest's MAC, IP header checksum filled in, UDP's not. */
static void make_udp(uint8_t *f, size_t len)
{
	uint32_t sum = 0;

	make_frame(f, len, guest_mac, 0);
	f[12] = 0x08;
	f[13] = 0x00;
	memcpy(f + 14, (const uint8_t[]){ 0x45, 0, (uint8_t)((len - 14) >> 8), (uint8_t)(len - 14),
					  0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1 },
	       20);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(f[14 + i] << 8 | f[15 + i]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	memcpy(f + 34, (const uint8_t[]){ 0x30, 0x39, 0x30, 0x3a, (uint8_t)((len - 34) >> 8),
					  (uint8_t)(len - 34), 0, 0 },
	       8);
}

static ssize_t host_recv_ip(struct nett *t, uint8_t *buf, size_t size)
{
	for (int i = 0; i < 200; i++) {
		ssize_t n = recv(t->pkt, buf, size, 0);

		if (n >= 34 && buf[12] == 0x08 && buf[13] == 0x00 && buf[23] == 17)
			return n;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n < 0)
			ev_loop_run_once(&t->d.loop, 5);
	}
	return -1;
}

/* ETHTOOL_G* value of the TAP: what TUNSETOFFLOAD turned on. */
static int tap_ethtool(uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	ifr.ifr_data = (char *)&ev;
	r = ioctl(s, SIOCETHTOOL, &ifr);
	close(s);
	return r < 0 ? -1 : (int)ev.data;
}

static void do_offloads(void)
{
	struct nett t;
	uint64_t all = BASIC_FEATURES | (1ULL << F_CSUM) | (1ULL << F_GUEST_CSUM) |
		       (1ULL << F_GUEST_TSO4) | (1ULL << F_GUEST_TSO6) | (1ULL << F_HOST_TSO4) |
		       (1ULL << F_HOST_TSO6);
	uint8_t f[200], got[2048];
	/* Checksum offload from the guest: the TAP accepts a NEEDS_CSUM frame. */
	uint8_t csum_hdr[HDR] = { 1, 0, 0, 0, 0, 0, 14, 0, 16, 0 };
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	CHECK_EQ(tap_ethtool(ETHTOOL_GTSO), 0);
	CHECK_EQ(tap_ethtool(ETHTOOL_GTXCSUM), 0);
	/* A new driver, all offloads: the TAP follows the acked set. */
	CHECK(net_setup(&t, all) == 0);
	CHECK_EQ(tap_ethtool(ETHTOOL_GTSO), 1);
	CHECK_EQ(tap_ethtool(ETHTOOL_GTXCSUM), 1);
	/* Partial checksum on a non-IP frame: the TAP refuses it, the device counts it. */
	make_frame(f, sizeof(f), guest_mac, 4);
	guest_tx(&t, 0, f, sizeof(f), csum_hdr);
	/* A UDP/IPv4 frame with its checksum left to the host. */
	make_udp(f, sizeof(f));
	csum_hdr[6] = 34;
	csum_hdr[8] = 6;
	guest_tx(&t, 3, f, sizeof(f), csum_hdr);
	kick(&t, 1);
	CHECK(nq_next_used(&t, 1, &id, &len));
	CHECK(nq_next_used(&t, 1, &id, &len));
	CHECK_EQ(stats(&t).tx_dropped_tap, 1);
	CHECK_EQ(stats(&t).tx_packets, 1);
	CHECK_EQ(host_recv_ip(&t, got, sizeof(got)), sizeof(f));
	CHECK(!memcmp(got, f, 34 + 6)); /* up to the checksum field */
	/* And back to none after a reset with fewer features. */
	CHECK(net_setup(&t, BASIC_FEATURES | (1ULL << F_GUEST_CSUM)) == 0);
	CHECK_EQ(tap_ethtool(ETHTOOL_GTSO), 0);
	CHECK_EQ(tap_ethtool(ETHTOOL_GTXCSUM), 1);
	net_stop(&t);
}

TEST(offloads_follow_negotiation)
{
	in_netns(do_offloads);
}

static void do_tap_gone(void)
{
	struct nett t;
	uint8_t f[100];
	uint16_t status = 0xffff;
	uint32_t id, len;
	int handled = 0;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	guest_rx_bufs(&t, 0, 2, 2048, NULL);
	kick(&t, 0);
	drv_spin(&t.d, 2);
	CHECK(system("ip link del " TAP_NAME " 2>/dev/null") == 0);
	drv_spin(&t.d, 5);
	/* TX after the TAP left: the chain comes back, nothing crashes. */
	make_frame(f, sizeof(f), guest_mac, 1);
	guest_tx(&t, 0, f, sizeof(f), NULL);
	kick(&t, 1);
	drv_spin(&t.d, 5);
	CHECK(virtio_net_tap_gone(t.net));
	virtio_mmio_bus_ops.read(t.d.dev, VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&status, 2);
	CHECK_EQ(status, 0);
	/* The loop is quiet afterwards (no EPOLLERR storm). */
	for (int i = 0; i < 10; i++) {
		int r = ev_loop_run_once(&t.d.loop, 2);

		if (r > 0)
			handled += r;
	}
	CHECK(handled <= 1);
	(void)id;
	(void)len;
	net_stop(&t);
}

TEST(tap_removed_stops_device)
{
	if (access("/usr/sbin/ip", X_OK) && access("/sbin/ip", X_OK))
		SKIP("no ip(8) to delete the TAP");
	in_netns(do_tap_gone);
}

static void do_reset(void)
{
	struct nett t;
	uint8_t f[100], got[2048];
	uint32_t id, len;

	CHECK(net_start(&t, BASIC_FEATURES) == 0);
	guest_rx_bufs(&t, 0, 2, 2048, NULL);
	kick(&t, 0);
	drv_wr(&t.d, VIRTIO_MMIO_STATUS, 0);
	/* While reset, frames wait in the kernel and the loop stays quiet. */
	make_frame(f, sizeof(f), guest_mac, 1);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	drv_spin(&t.d, 5);
	CHECK(net_setup(&t, BASIC_FEATURES) == 0);
	guest_rx_bufs(&t, 0, 1, 2048, NULL);
	kick(&t, 0);
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(len, HDR + sizeof(f));
	guest_tx(&t, 0, f, sizeof(f), NULL);
	kick(&t, 1);
	CHECK(nq_next_used(&t, 1, &id, &len));
	CHECK_EQ(host_recv(&t, got, sizeof(got)), sizeof(f));
	net_stop(&t);
}

TEST(reset_and_renegotiate)
{
	in_netns(do_reset);
}

static void do_rx_rate_limit(void)
{
	struct nett t;
	struct net_cfg cfg = { .iface_id = "eth0", .host_dev_name = tap_name };
	uint8_t f[1000];
	uint32_t id, len;
	uint64_t t0, dt;

	/* 2 frames per 100 ms, starting full. */
	cfg.rx_rate_limiter.ops.present = true;
	cfg.rx_rate_limiter.ops.size = 2;
	cfg.rx_rate_limiter.ops.refill_time_ms = 100;
	CHECK(net_start_cfg(&t, &cfg, BASIC_FEATURES) == 0);
	guest_rx_bufs(&t, 0, 8, 2048, NULL);
	kick(&t, 0);
	t0 = util_now_ns();
	for (int i = 0; i < 4; i++) {
		make_frame(f, sizeof(f), guest_mac, (uint8_t)i);
		CHECK(host_send(&t, f, sizeof(f)) == 0);
	}
	for (int i = 0; i < 4; i++) {
		CHECK(nq_next_used(&t, 0, &id, &len));
		CHECK_EQ(id, i);
	}
	dt = util_now_ns() - t0;
	CHECK(dt >= 60 * 1000000ULL); /* frames 3 and 4 waited for the refill */
	CHECK(stats(&t).rx_throttled >= 1);
	net_stop(&t);
}

TEST(rx_rate_limited)
{
	in_netns(do_rx_rate_limit);
}

/* Frames of the used ring of queue qi that arrive within about ms milliseconds. */
static unsigned int used_within(struct nett *t, unsigned int qi, int ms)
{
	for (int i = 0; i < ms / 5; i++)
		ev_loop_run_once(&t->d.loop, 5);
	return (uint16_t)(nq_used_idx(t, qi) - t->q[qi].used_seen);
}

/*
 * PATCH after boot: limiters of one frame per minute throttle both directions; lifting
 * them lets the held-back frames through at once (the old timers are a minute away), and
 * updating one direction leaves the other alone.
 */
static void do_rate_limit_update(void)
{
	struct nett t;
	struct net_cfg cfg = { .iface_id = "eth0", .host_dev_name = tap_name };
	struct rate_limiter_cfg slow = { .ops = { .present = true, .size = 1,
						  .refill_time_ms = 60000 } };
	struct rate_limiter_cfg none = { 0 };
	struct config_err err = { { 0 } };
	uint8_t f[200], got[2048];
	uint64_t gpa[8];
	uint32_t id, len;
	uint64_t t0;

	cfg.rx_rate_limiter = slow;
	cfg.tx_rate_limiter = slow;
	CHECK(net_start_cfg(&t, &cfg, BASIC_FEATURES) == 0);

	/* TX: 3 frames, 1 goes. */
	for (uint16_t i = 0; i < 3; i++) {
		make_frame(f, sizeof(f), guest_mac, (uint8_t)i);
		guest_tx(&t, (uint16_t)(3 * i), f, sizeof(f), NULL);
	}
	kick(&t, 1);
	CHECK(nq_next_used(&t, 1, &id, &len));
	CHECK_EQ(used_within(&t, 1, 100), 0);
	CHECK(stats(&t).tx_throttled >= 1);

	/* RX: 3 frames, 1 arrives; one waits in guest memory, one in the TAP. */
	guest_rx_bufs(&t, 0, 8, 2048, gpa);
	kick(&t, 0);
	drv_spin(&t.d, 2);
	for (int i = 0; i < 3; i++) {
		make_frame(f, sizeof(f), guest_mac, (uint8_t)(10 + i));
		CHECK(host_send(&t, f, sizeof(f)) == 0);
	}
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(used_within(&t, 0, 100), 0);
	CHECK(stats(&t).rx_throttled >= 1);

	/* TX only: RX stays throttled. */
	t0 = util_now_ns();
	CHECK_EQ(virtio_net_update(t.net, NULL, &none, &err), 0);
	for (int i = 1; i < 3; i++) {
		CHECK(nq_next_used(&t, 1, &id, &len));
		CHECK_EQ(id, 3 * i);
	}
	for (int i = 0; i < 3; i++) {
		make_frame(f, sizeof(f), guest_mac, (uint8_t)i);
		CHECK_EQ(host_recv(&t, got, sizeof(got)), sizeof(f));
		CHECK(!memcmp(got, f, sizeof(f)));
	}
	CHECK(util_now_ns() - t0 < 2000 * 1000000ULL);
	CHECK_EQ(stats(&t).tx_packets, 3);
	CHECK_EQ(used_within(&t, 0, 50), 0);

	/* RX lifted: the held frame and the one the TAP kept arrive, in order. */
	t0 = util_now_ns();
	CHECK_EQ(virtio_net_update(t.net, &none, NULL, &err), 0);
	for (int i = 1; i < 3; i++) {
		uint8_t *p;

		CHECK(nq_next_used(&t, 0, &id, &len));
		CHECK_EQ(id, i);
		CHECK_EQ(len, HDR + sizeof(f));
		make_frame(f, sizeof(f), guest_mac, (uint8_t)(10 + i));
		p = drv_ptr(&t.d, gpa[i]);
		CHECK(!memcmp(p + HDR, f, sizeof(f)));
	}
	CHECK(util_now_ns() - t0 < 2000 * 1000000ULL);
	/* And reading went back on: a new frame flows at once. */
	make_frame(f, sizeof(f), guest_mac, 20);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 3);
	CHECK_EQ(stats(&t).rx_packets, 4);
	net_stop(&t);
}

TEST(rate_limit_update_resumes)
{
	in_netns(do_rate_limit_update);
}

/*
 * Random descriptor tables on both queues while frames flow both ways: nothing may crash
 * (run it under ASan), every completion must name a posted head with a sane length, and
 * after a reset the device must work again.
 */
static void do_random_chains(void)
{
	struct nett t;
	uint8_t f[600], got[2048];
	uint64_t area;
	uint32_t seed = 12345, id, len;

	CHECK(net_start(&t, BASIC_FEATURES | (1ULL << VIRTIO_F_RING_INDIRECT_DESC)) == 0);
	area = drv_alloc(&t.d, 1 << 20);
	for (int round = 0; round < 200; round++) {
		for (unsigned int qi = 0; qi < 2; qi++) {
			for (uint16_t i = 0; i < QSIZE; i++) {
				uint32_t r1, r2;

				seed = seed * 1103515245 + 12345;
				r1 = seed >> 8;
				seed = seed * 1103515245 + 12345;
				r2 = seed >> 8;
				/* Mostly in RAM, sometimes past its end; any flags, any next. */
				nq_desc(&t, qi, i,
					(r1 & 7) ? area + (r1 % (1 << 20)) : DRV_RAM_SIZE - (r1 & 0xff),
					(r2 & 3) ? r2 % 3000 : r2 % 100000, (uint16_t)(r2 >> 20 & 7),
					(uint16_t)((r1 >> 20) % (QSIZE + 4)));
			}
			for (int k = 0; k < 4; k++) {
				seed = seed * 1103515245 + 12345;
				nq_post(&t, qi, (uint16_t)((seed >> 8) % QSIZE));
			}
			kick(&t, qi);
		}
		make_frame(f, 60 + (seed >> 8) % 540, guest_mac, (uint8_t)round);
		host_send(&t, f, 60 + (seed >> 8) % 540);
		drv_spin(&t.d, 1);
		for (unsigned int qi = 0; qi < 2; qi++) {
			while (nq_used_idx(&t, qi) != t.q[qi].used_seen) {
				CHECK(nq_next_used(&t, qi, &id, &len));
				CHECK(id < QSIZE);
				CHECK(len <= (qi == 0 ? HDR + 600 : 0));
			}
		}
		/* A corrupt ring (a head out of range) asks for a reset: give it one. */
		if (drv_rd(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
			CHECK(net_setup(&t, BASIC_FEATURES) == 0);
		/* Posted chains pile up unused: start over now and then. */
		if (round % 8 == 7)
			CHECK(net_setup(&t, BASIC_FEATURES | (1ULL << VIRTIO_F_RING_INDIRECT_DESC)) == 0);
	}
	{
		struct virtio_net_stats st = stats(&t);

		printf("  random: rx %llu bad %llu too big %llu, tx %llu bad %llu refused %llu\n",
		       (unsigned long long)st.rx_packets, (unsigned long long)st.rx_bad_chains,
		       (unsigned long long)st.rx_dropped_too_big, (unsigned long long)st.tx_packets,
		       (unsigned long long)st.tx_dropped_bad, (unsigned long long)st.tx_dropped_tap);
		CHECK(st.rx_bad_chains > 0 && st.tx_dropped_bad > 0);
	}
	/* Still a working device. */
	CHECK(net_setup(&t, BASIC_FEATURES) == 0);
	while (recv(t.pkt, got, sizeof(got), 0) > 0)
		;
	make_frame(f, 100, guest_mac, 1);
	guest_tx(&t, 0, f, 100, NULL);
	kick(&t, 1);
	CHECK(nq_next_used(&t, 1, &id, &len));
	CHECK_EQ(host_recv(&t, got, sizeof(got)), 100);
	CHECK(!memcmp(got, f, 100));
	net_stop(&t);
}

TEST(random_chains_survive)
{
	in_netns(do_random_chains);
}

/* ---- vhost-net backend (needs /dev/vhost-net: inside tests/kvmhost, for one) ---- */

static bool vhost_missing(void)
{
	return access("/dev/vhost-net", R_OK | W_OK) != 0;
}

/* One TX frame at descriptor base; true when it completed and reached the TAP intact. */
static bool tx_one(struct nett *t, uint16_t base, uint8_t seed)
{
	uint8_t f[120], got[2048];
	uint32_t id, len;

	make_frame(f, sizeof(f), guest_mac, seed);
	guest_tx(t, base, f, sizeof(f), NULL);
	kick(t, 1);
	return nq_next_used(t, 1, &id, &len) && id == base &&
	       host_recv(t, got, sizeof(got)) == (ssize_t)sizeof(f) && !memcmp(got, f, sizeof(f));
}

static void do_vhost(void)
{
	struct nett t;
	struct config_err err = { { 0 } };
	struct rate_limiter_cfg rl = { .bandwidth = { .present = true, .size = 1 << 20,
						      .refill_time_ms = 100 } };
	uint8_t f[200];
	uint64_t gpa[4], h, b;
	uint32_t id, len;
	int i;

	test_backend = "vhost";
	CHECK(net_start(&t, BASIC_FEATURES | (1ULL << VIRTIO_F_RING_INDIRECT_DESC)) == 0);
	CHECK(stats(&t).vhost);
	/* Both ways through the kernel; the VMM only relays the interrupts. */
	CHECK(tx_one(&t, 0, 1));
	guest_rx_bufs(&t, 0, 4, 2048, gpa);
	kick(&t, 0);
	make_frame(f, sizeof(f), guest_mac, 9);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(len, HDR + sizeof(f));
	CHECK(!memcmp((uint8_t *)drv_ptr(&t.d, gpa[0]) + HDR, f, sizeof(f)));
	/* The used entry can show before the loop has handled vhost's call eventfd. */
	for (i = 0; i < 400 && !stats(&t).vhost_irqs; i++)
		ev_loop_run_once(&t.d.loop, 5);
	CHECK(stats(&t).vhost_irqs > 0);
	CHECK(drv_irq(&t.d));
	CHECK_EQ(drv_rd(&t.d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_USED, VIRTIO_INT_USED);
	CHECK_EQ(stats(&t).tx_packets + stats(&t).rx_packets, 0); /* userspace-only counters */

	/* Reset: vhost lets go of the rings; the next DRIVER_OK starts it on the new ones. */
	drv_wr(&t.d, VIRTIO_MMIO_STATUS, 0);
	CHECK(!stats(&t).vhost);
	CHECK(net_setup(&t, BASIC_FEATURES) == 0);
	CHECK(stats(&t).vhost);
	CHECK(tx_one(&t, 0, 2));

	/* A TX chain with a device-writable descriptor: vhost refuses it, the device asks
	   for a reset (and stops), and a reset brings it back. */
	h = drv_alloc(&t.d, HDR);
	b = drv_alloc(&t.d, 64);
	nq_desc(&t, 1, 5, h, HDR, VIRTQ_DESC_F_NEXT, 6);
	nq_desc(&t, 1, 6, b, 64, VIRTQ_DESC_F_WRITE, 0);
	nq_post(&t, 1, 5);
	kick(&t, 1);
	for (i = 0; i < 200 && !(drv_rd(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET); i++)
		ev_loop_run_once(&t.d.loop, 5);
	CHECK(drv_rd(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(stats(&t).vhost_ring_errors, 1);
	CHECK(!stats(&t).vhost);
	CHECK(net_setup(&t, BASIC_FEATURES) == 0);
	CHECK(stats(&t).vhost);
	CHECK(tx_one(&t, 0, 3));

	/* A rate limiter PATCHed in: the rings move to the userspace path where vhost left
	   them, and frames keep flowing (now counted). */
	CHECK(tx_one(&t, 3, 4));
	/* vhost used an RX buffer but the loop has not relayed its call yet (not run): the
	   PATCH still interrupts the guest, which would otherwise never look. */
	guest_rx_bufs(&t, 0, 4, 2048, gpa);
	kick(&t, 0);
	make_frame(f, sizeof(f), guest_mac, 10);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	for (i = 0; i < 400 && nq_used_idx(&t, 0) == t.q[0].used_seen; i++)
		usleep(5000);
	CHECK(nq_used_idx(&t, 0) != t.q[0].used_seen);
	drv_irq(&t.d);
	CHECK(virtio_net_update(t.net, NULL, &rl, &err) == 0);
	CHECK(!stats(&t).vhost);
	drv_spin(&t.d, 20);
	CHECK(drv_irq(&t.d));
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 0);
	/* A TX-only PATCH: the TAP is read again for RX with no kick from the guest. */
	make_frame(f, sizeof(f), guest_mac, 11);
	CHECK(host_send(&t, f, sizeof(f)) == 0);
	CHECK(nq_next_used(&t, 0, &id, &len));
	CHECK_EQ(id, 1);
	CHECK(!memcmp((uint8_t *)drv_ptr(&t.d, gpa[1]) + HDR, f, sizeof(f)));
	CHECK(tx_one(&t, 6, 5));
	CHECK_EQ(stats(&t).tx_packets, 1);
	net_stop(&t);

	/* Forced vhost with a rate limiter is a configuration error. */
	{
		struct net_cfg cfg = { .iface_id = "eth0", .host_dev_name = tap_name,
				       .tx_rate_limiter = rl };
		struct virtio_net *n = NULL;

		CHECK(make_tap() == 0);
		CHECK(drv_init(&t.d) == 0);
		memset(&err, 0, sizeof(err));
		CHECK(virtio_net_create(&n, &cfg, &t.d.env, MMIO_BASE, &err) == -EINVAL);
		CHECK(strstr(err.msg, "rate limiter") != NULL);
		test_backend = "auto"; /* auto picks userspace for it */
		CHECK(virtio_net_set_backend(test_backend) == 0);
		CHECK(virtio_net_create(&n, &cfg, &t.d.env, MMIO_BASE, &err) == 0);
		virtio_net_destroy(n);
		drv_fini(&t.d);
	}
	test_backend = "userspace";
}

TEST(vhost_backend)
{
	if (vhost_missing())
		SKIP("/dev/vhost-net: %s", strerror(errno));
	in_netns(do_vhost);
}

#ifdef NET_BENCH
/*
 * Throughput of the userspace backend on this host (no KVM: the fake guest above), with
 * the cost of the same TAP I/O done directly as the peer. Built as test_net_bench by
 * `make bench-net`; not part of the unit run.
 */
#define BENCH_FRAMES 20000

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Keep QSIZE/2 TX chains of len-byte frames in flight until n completed. */
static uint64_t bench_tx(struct nett *t, uint32_t len, unsigned int n)
{
	uint8_t *f = malloc(len);
	uint16_t slots = QSIZE / 2; /* two descriptors per chain */
	unsigned int posted = 0, done = 0;
	uint32_t id, l;
	uint64_t t0;

	make_frame(f, len, (const uint8_t[]){ 0x02, 0, 0, 0, 0, 1 }, 1);
	t->d.next_buf = DRV_BUF;
	for (uint16_t i = 0; i < slots; i++) {
		uint64_t h = drv_alloc(&t->d, HDR), a = drv_alloc(&t->d, len);

		memset(drv_ptr(&t->d, h), 0, HDR);
		memcpy(drv_ptr(&t->d, a), f, len);
		nq_desc(t, 1, (uint16_t)(2 * i), h, HDR, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * i + 1));
		nq_desc(t, 1, (uint16_t)(2 * i + 1), a, len, 0, 0);
	}
	t0 = util_now_ns();
	for (uint16_t i = 0; i < slots && posted < n; i++, posted++)
		nq_post(t, 1, (uint16_t)(2 * i));
	kick(t, 1);
	while (done < n && nq_next_used(t, 1, &id, &l)) {
		done++;
		if (posted < n) {
			nq_post(t, 1, (uint16_t)id);
			posted++;
		}
		/* A kick per 16 frames, as a driver batching under load would. */
		if (done % 16 == 0 || posted == n)
			kick(t, 1);
	}
	free(f);
	return done == n ? util_now_ns() - t0 : 0;
}

/* The peer: the same frames written to the TAP directly, header included. */
static uint64_t bench_tx_direct(uint32_t len, unsigned int n)
{
	struct ifreq ifr = { 0 };
	uint8_t hdr[HDR] = { 0 }, *f = malloc(len);
	struct iovec iov[2] = { { hdr, HDR }, { f, len } };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), hs = HDR;
	uint64_t t0;
	unsigned int done = 0;

	make_frame(f, len, (const uint8_t[]){ 0x02, 0, 0, 0, 0, 1 }, 1);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", "vtapbench1");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hs) < 0)
		return 0;
	{
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		ifr.ifr_flags = IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
		close(s);
	}
	t0 = util_now_ns();
	for (; done < n; done++)
		if (writev(fd, iov, 2) != (ssize_t)(HDR + len))
			break;
	t0 = done == n ? util_now_ns() - t0 : 0;
	close(fd);
	free(f);
	return t0;
}

/* RX: the host sends n frames in bursts of 32; the device fills recycled guest chains. */
static uint64_t bench_rx(struct nett *t, uint32_t len, unsigned int n)
{
	uint8_t *f = malloc(len);
	unsigned int sent = 0, got = 0;
	uint32_t id, l;
	uint64_t t0;

	make_frame(f, len, guest_mac, 2);
	/* A fresh ring: the last run left its buffers posted. */
	if (net_setup(t, BASIC_FEATURES | (1ULL << VIRTIO_F_RING_INDIRECT_DESC)) < 0)
		return 0;
	t->d.next_buf = DRV_BUF;
	for (uint16_t i = 0; i < QSIZE; i++) {
		uint64_t b = drv_alloc(&t->d, 2048);

		nq_desc(t, 0, i, b, 2048, VIRTQ_DESC_F_WRITE, 0);
		nq_post(t, 0, i);
	}
	kick(t, 0);
	t0 = util_now_ns();
	while (got < n) {
		for (int i = 0; i < 32 && sent < n && sent - got < QSIZE / 2; i++, sent++)
			if (host_send(t, f, len) < 0)
				break;
		if (!nq_next_used(t, 0, &id, &l))
			break;
		got++;
		nq_post(t, 0, (uint16_t)id);
		if (got % 16 == 0)
			kick(t, 0);
	}
	free(f);
	return got == n ? util_now_ns() - t0 : 0;
}

/* The RX peer: the same sender, frames read from a TAP directly into one buffer. */
static uint64_t bench_rx_direct(int pkt, uint32_t len, unsigned int n)
{
	struct ifreq ifr = { 0 };
	uint8_t *f = malloc(len), buf[HDR + 2048];
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC), hs = HDR, s;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = 6 };
	unsigned int sent = 0, got = 0;
	uint64_t t0;

	make_frame(f, len, guest_mac, 2);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", "vtapbench2");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hs) < 0)
		return 0;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifr.ifr_flags = IFF_UP;
	ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	sll.sll_ifindex = (int)if_nametoindex("vtapbench2");
	memcpy(sll.sll_addr, f, 6);
	t0 = util_now_ns();
	while (got < n) {
		for (int i = 0; i < 32 && sent < n && sent - got < QSIZE / 2; i++, sent++)
			if (sendto(pkt, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) != (ssize_t)len)
				break;
		if (read(fd, buf, sizeof(buf)) == (ssize_t)(HDR + len))
			got++;
		else if (errno != EAGAIN)
			break;
	}
	t0 = got == n ? util_now_ns() - t0 : 0;
	close(fd);
	free(f);
	return t0;
}

static void bench_backend(const char *backend)
{
	static const uint32_t sizes[] = { 60, 1514, 9014 };
	struct nett t;

	test_backend = backend;
	CHECK(net_start(&t, BASIC_FEATURES | (1ULL << VIRTIO_F_RING_INDIRECT_DESC)) == 0);
	/* The packet socket would queue every frame: bench without it. */
	close(t.pkt);
	t.pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* send-only, binds nothing */
	printf("virtio-net %s backend, %d frames each (fake guest, real TAP, this host)\n",
	       backend, BENCH_FRAMES);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t dev = bench_tx(&t, sizes[i], BENCH_FRAMES);
		uint64_t direct = bench_tx_direct(sizes[i], BENCH_FRAMES);

		CHECK(dev && direct);
		printf("  TX %5u B: device %8.0f frames/s %7.1f MB/s | writev to TAP directly %8.0f "
		       "frames/s | device/direct time %.2f\n",
		       sizes[i], BENCH_FRAMES / secs(dev), BENCH_FRAMES * sizes[i] / secs(dev) / 1e6,
		       BENCH_FRAMES / secs(direct), (double)dev / (double)direct);
	}
	for (size_t i = 0; i < 2; i++) {
		uint64_t dev = bench_rx(&t, sizes[i], BENCH_FRAMES);
		uint64_t direct = bench_rx_direct(t.pkt, sizes[i], BENCH_FRAMES);

		CHECK(dev && direct);
		printf("  RX %5u B: device %8.0f frames/s %7.1f MB/s | read from TAP directly %8.0f "
		       "frames/s | device/direct time %.2f (host sender in the same thread)\n",
		       sizes[i], BENCH_FRAMES / secs(dev), BENCH_FRAMES * sizes[i] / secs(dev) / 1e6,
		       BENCH_FRAMES / secs(direct), (double)dev / (double)direct);
	}
	net_stop(&t);
	test_backend = "userspace";
}

/* Both backends side by side when the kernel one exists (inside tests/kvmhost, say). */
static void do_bench(void)
{
	bench_backend("userspace");
	if (vhost_missing())
		printf("virtio-net vhost-net backend: skipped (/dev/vhost-net: %s)\n",
		       strerror(errno));
	else
		bench_backend("vhost");
}

TEST(bench)
{
	in_netns(do_bench);
}
#endif
