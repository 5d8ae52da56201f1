// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net device, userspace TAP backend.
 *
 * RX (queue 0): a frame is read from the TAP straight into the writable part of one
 * guest chain. When the guest has no buffer, the TAP leaves the epoll set (EPOLLIN off)
 * until the guest kicks the RX queue: the kernel's TAP queue does the buffering, the
 * VMM holds at most one frame (one waiting for the RX rate limiter). MRG_RXBUF is not
 * offered: each frame goes into one chain, so a guest that accepts TSO posts 64 KiB
 * chains (Linux's "big packets" mode) and no frame is ever split across chains.
 *
 * TX (queue 1): each chain's readable part (header and frame) goes to the TAP with one
 * writev. The TAP returning EAGAIN puts the chain back on the ring and waits for
 * EPOLLOUT, so no frame is lost.
 *
 * Guest chains are hostile: a chain the walker refuses, a chain of the wrong direction,
 * a too-short or oversized frame, or a header asking for an offload the guest did not
 * negotiate is dropped and counted; the chain goes back with length 0.
 *
 * vhost-net backend (net_vhost.c): picked at creation when /dev/vhost-net opens and no
 * rate limiter is configured (the kernel cannot apply them), or as --net-backend says.
 * At each activation the rings, once checked to lie in guest RAM, go to the kernel with
 * the queues' kick eventfds, which the loop then stops watching; the VMM keeps the
 * interrupt path (the call eventfd sets InterruptStatus and fires the irqfd) and turns a
 * ring error vhost reports into DEVICE_NEEDS_RESET. A reset detaches the TAP from vhost
 * before the transport forgets the rings; a rate limiter PATCHed in while vhost runs
 * hands the rings over to the userspace path in place. The frame counters are the
 * userspace path's: on vhost only vhost_irqs and vhost_ring_errors move.
 */
#include "vmm/virtio/net.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/net/tap.h"
#include "vmm/rate_limiter.h"
#include "vmm/util.h"
#include "vmm/virtio/net_vhost.h"

/* Feature bits (5.1.3). */
#define NET_F_CSUM 0
#define NET_F_GUEST_CSUM 1
#define NET_F_MTU 3
#define NET_F_MAC 5
#define NET_F_GUEST_TSO4 7
#define NET_F_GUEST_TSO6 8
#define NET_F_HOST_TSO4 11
#define NET_F_HOST_TSO6 12
#define NET_F_STATUS 16

#define NET_S_LINK_UP 1

/* virtio_net_hdr flags and gso_type values (5.1.6). */
#define HDR_F_NEEDS_CSUM 1
#define HDR_F_DATA_VALID 2
#define HDR_GSO_NONE 0
#define HDR_GSO_TCPV4 1
#define HDR_GSO_TCPV6 4
#define HDR_GSO_ECN 0x80

#define RXQ 0
#define TXQ 1
enum { net_ops_num_queues = 2 };

#define ETH_HDR_LEN 14
/* The largest frame either way: 64 KiB of IP payload plus Ethernet and VLAN headers. */
#define NET_MAX_FRAME (65535 + ETH_HDR_LEN + 4)

struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

_Static_assert(sizeof(struct net_hdr) == TAP_VNET_HDR_LEN, "virtio_net_hdr_v1 layout");

struct net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

_Static_assert(sizeof(struct net_config) == 12, "virtio_net_config layout");

struct virtio_net {
	struct virtio_mmio_dev mmio;
	char id[CONFIG_ID_MAX + 1];
	char tap_name[64];
	bool has_mac, has_mtu;
	struct net_config config;

	int tap_fd;
	struct ev_source tap_src;
	uint32_t tap_events; /* what the TAP is registered for now */
	bool tap_on_loop;
	bool tap_gone;
	bool tx_wait_out; /* TX stopped on EAGAIN until EPOLLOUT */

	/* One received frame held back by the RX rate limiter (already in guest memory). */
	bool rx_pending;
	uint16_t rx_pending_head;
	uint32_t rx_pending_len;

	struct rate_limiter rx_rl, tx_rl;
	struct ev_source rx_rl_src, tx_rl_src;
	bool rx_rl_on_loop, tx_rl_on_loop;

	/* vhost-net: open when the backend was chosen; running while it owns the rings. */
	enum virtio_net_backend backend;
	struct net_vhost vhost;
	struct ev_source call_src, err_src;
	bool call_on_loop, err_on_loop;
	bool kicks_to_vhost; /* the loop no longer watches the kick eventfds */

	struct virtio_net_stats stats;
	struct virtq_chain chain; /* scratch for the walker */
	struct iovec iov[VIRTQ_MAX_SEGS + 1]; /* + the RX truncation probe */
	uint8_t rx_probe;
};

static struct virtio_net *to_net(struct virtio_mmio_dev *vdev)
{
	return vdev->priv;
}

static enum virtio_net_backend default_backend = VIRTIO_NET_BACKEND_AUTO;

/* Whether the userspace path moves frames on qidx now. */
static bool running(struct virtio_net *net, unsigned int qidx)
{
	return net->mmio.activated && !net->tap_gone && net->mmio.queues[qidx].active &&
	       !net->vhost.running && !(net->mmio.status & VIRTIO_STATUS_NEEDS_RESET);
}

static bool rate_limited(const struct virtio_net *net)
{
	return net->rx_rl.bw.enabled || net->rx_rl.ops.enabled || net->tx_rl.bw.enabled ||
	       net->tx_rl.ops.enabled;
}

/* Give the kicks back to the loop (vhost stopped). */
static void kicks_to_loop(struct virtio_net *net)
{
	if (!net->kicks_to_vhost)
		return;
	for (unsigned int i = 0; i < net_ops_num_queues; i++)
		virtio_mmio_kick_to_device(&net->mmio, i, false);
	net->kicks_to_vhost = false;
}

/* Register the TAP for exactly these events (level-triggered). */
static void tap_watch(struct virtio_net *net, uint32_t events)
{
	int r;

	if (!net->tap_on_loop || events == net->tap_events)
		return;
	r = ev_mod(net->mmio.env.loop, &net->tap_src, events);
	if (r < 0) {
		log_error("virtio-net %s: epoll: %s", net->id, strerror(-r));
		return;
	}
	net->tap_events = events;
}

static void tap_set_reading(struct virtio_net *net, bool reading)
{
	tap_watch(net, (net->tap_events & ~EPOLLIN) | (reading ? EPOLLIN : 0));
}

/* The TAP went away: stop moving frames for good, report the link down. */
static void tap_lost(struct virtio_net *net, int err)
{
	if (net->tap_gone)
		return;
	log_error("virtio-net %s: TAP %s gone (%s): device stopped", net->id, net->tap_name,
		  strerror(-err));
	net->tap_gone = true;
	net_vhost_stop(&net->vhost, net_ops_num_queues, NULL);
	kicks_to_loop(net);
	/* A detached TAP polls EPOLLERR whatever it is watched for: off the loop it goes. */
	if (net->tap_on_loop)
		ev_del(net->mmio.env.loop, &net->tap_src);
	net->tap_on_loop = false;
	net->tap_events = 0;
	net->config.status = 0;
	if (net->mmio.activated)
		virtio_mmio_config_changed(&net->mmio);
}

static void signal_used(struct virtio_net *net, unsigned int qidx)
{
	if (virtq_should_signal(&net->mmio.queues[qidx]))
		virtio_mmio_interrupt(&net->mmio, VIRTIO_INT_USED);
}

/* iovecs over the chain's readable (or writable) segments. */
static int chain_iov(const struct virtq_chain *c, bool writable, struct iovec *iov)
{
	unsigned int first = writable ? c->nread : 0, end = writable ? c->nsegs : c->nread;
	int n = 0;

	for (unsigned int i = first; i < end; i++) {
		if (!c->segs[i].len)
			continue;
		iov[n].iov_base = c->segs[i].hva;
		iov[n].iov_len = c->segs[i].len;
		n++;
	}
	return n;
}

/* Copy len bytes at off of the iovecs from or to buf. */
static bool iov_copy(const struct iovec *iov, int niov, size_t off, void *buf, size_t len,
		     bool to_iov)
{
	uint8_t *p = buf;

	for (int i = 0; i < niov && len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = MIN(len, iov[i].iov_len - off);
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, p, n);
		else
			memcpy(p, (uint8_t *)iov[i].iov_base + off, n);
		p += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

/* ---- TX: guest to TAP ---- */

static bool tx_hdr_ok(struct virtio_net *net, const struct net_hdr *h)
{
	uint8_t gso = h->gso_type & ~HDR_GSO_ECN;

	if ((h->flags & HDR_F_NEEDS_CSUM) && !virtio_mmio_has_feature(&net->mmio, NET_F_CSUM))
		return false;
	if (h->flags & ~(HDR_F_NEEDS_CSUM | HDR_F_DATA_VALID))
		return false;
	switch (gso) {
	case HDR_GSO_NONE:
		return !(h->gso_type & HDR_GSO_ECN);
	case HDR_GSO_TCPV4:
		return virtio_mmio_has_feature(&net->mmio, NET_F_HOST_TSO4) && h->gso_size;
	case HDR_GSO_TCPV6:
		return virtio_mmio_has_feature(&net->mmio, NET_F_HOST_TSO6) && h->gso_size;
	default:
		return false; /* UDP fragmentation and the rest are not offered */
	}
}

static void tx_drop(struct virtio_net *net, uint16_t head, bool *pushed)
{
	net->stats.tx_dropped_bad++;
	virtq_push(&net->mmio.queues[TXQ], head, 0);
	*pushed = true;
}

static void process_tx(struct virtio_net *net)
{
	struct virtq *q = &net->mmio.queues[TXQ];
	struct virtq_chain *c = &net->chain;
	unsigned int budget = 2 * VIRTQ_MAX_SIZE;
	bool pushed = false;

	while (running(net, TXQ) && !net->tx_wait_out && !rate_limiter_blocked(&net->tx_rl)) {
		struct net_hdr hdr;
		ssize_t n;
		int niov, r;

		if (budget-- == 0) {
			virtio_mmio_kick_self(&net->mmio, TXQ); /* let other devices run */
			break;
		}
		r = virtq_pop(q, c);
		if (r == 0) {
			if (virtq_enable_notify(q))
				continue;
			break;
		}
		if (r == -EPROTO) {
			virtio_mmio_needs_reset(&net->mmio);
			break;
		}
		if (r < 0 || c->nread != c->nsegs || c->read_len < TAP_VNET_HDR_LEN + ETH_HDR_LEN ||
		    c->read_len > TAP_VNET_HDR_LEN + NET_MAX_FRAME) {
			log_debug("virtio-net %s: TX chain %u dropped (malformed or %llu bytes)",
				  net->id, c->head, (unsigned long long)c->read_len);
			tx_drop(net, c->head, &pushed);
			continue;
		}
		niov = chain_iov(c, false, net->iov);
		iov_copy(net->iov, niov, 0, &hdr, sizeof(hdr), false);
		if (!tx_hdr_ok(net, &hdr)) {
			tx_drop(net, c->head, &pushed);
			continue;
		}
		if (!rate_limiter_consume(&net->tx_rl, c->read_len - TAP_VNET_HDR_LEN)) {
			net->stats.tx_throttled++;
			virtq_unpop(q);
			break;
		}
		n = writev(net->tap_fd, net->iov, MIN(niov, IOV_MAX));
		if (n < 0) {
			int e = -errno;

			if (e == -EAGAIN || e == -EINTR) {
				/* The frame stays on the ring; the limiter gets its tokens back. */
				token_bucket_refund(&net->tx_rl.bw, c->read_len - TAP_VNET_HDR_LEN);
				token_bucket_refund(&net->tx_rl.ops, 1);
				virtq_unpop(q);
				if (e == -EINTR)
					continue;
				net->stats.tx_eagain++;
				net->tx_wait_out = true;
				tap_watch(net, net->tap_events | EPOLLOUT);
				break;
			}
			if (tap_error_is_gone(e)) {
				virtq_push(q, c->head, 0);
				pushed = true;
				tap_lost(net, e);
				break;
			}
			/* The kernel refused the header (EINVAL) or the frame: drop it. */
			log_debug("virtio-net %s: TAP refused a frame: %s", net->id, strerror(-e));
			net->stats.tx_dropped_tap++;
			virtq_push(q, c->head, 0);
			pushed = true;
			continue;
		}
		net->stats.tx_packets++;
		net->stats.tx_bytes += c->read_len - TAP_VNET_HDR_LEN;
		virtq_push(q, c->head, 0);
		pushed = true;
	}
	if (pushed)
		signal_used(net, TXQ);
}

/* ---- RX: TAP to guest ---- */

static void rx_bad(struct virtio_net *net, uint16_t head, bool *pushed)
{
	net->stats.rx_bad_chains++;
	virtq_push(&net->mmio.queues[RXQ], head, 0);
	*pushed = true;
}

static void process_rx(struct virtio_net *net)
{
	struct virtq *q = &net->mmio.queues[RXQ];
	struct virtq_chain *c = &net->chain;
	unsigned int budget = 2 * VIRTQ_MAX_SIZE;
	bool pushed = false, reading = false;

	if (!running(net, RXQ))
		goto out;
	if (net->rx_pending) {
		if (!rate_limiter_consume(&net->rx_rl, net->rx_pending_len - TAP_VNET_HDR_LEN))
			goto out; /* the timer calls us again */
		virtq_push(q, net->rx_pending_head, net->rx_pending_len);
		net->rx_pending = false;
		pushed = true;
	}
	while (running(net, RXQ)) {
		struct net_hdr hdr;
		ssize_t n;
		int niov, r;

		if (rate_limiter_blocked(&net->rx_rl))
			break;
		if (budget-- == 0) {
			reading = true; /* level-triggered: the loop calls us again */
			break;
		}
		r = virtq_pop(q, c);
		if (r == 0) {
			if (virtq_enable_notify(q))
				continue;
			net->stats.rx_no_buffers++;
			break; /* reading resumes at the guest's next RX kick */
		}
		if (r == -EPROTO) {
			virtio_mmio_needs_reset(&net->mmio);
			break;
		}
		if (r < 0 || c->nread || c->write_len < TAP_VNET_HDR_LEN + ETH_HDR_LEN) {
			rx_bad(net, c->head, &pushed);
			continue;
		}
		niov = chain_iov(c, true, net->iov);
		/* The TAP truncates silently and reports the truncated length: one byte past
		   the chain tells a frame that did not fit from one that filled it exactly. */
		net->iov[niov].iov_base = &net->rx_probe;
		net->iov[niov].iov_len = 1;
		n = readv(net->tap_fd, net->iov, MIN(niov + 1, IOV_MAX));
		if (n < 0) {
			int e = -errno;

			virtq_unpop(q);
			if (e == -EINTR)
				continue;
			if (e == -EAGAIN) {
				reading = true;
				break;
			}
			tap_lost(net, tap_error_is_gone(e) ? e : -EIO);
			break;
		}
		if ((uint64_t)n > c->write_len || n < TAP_VNET_HDR_LEN + ETH_HDR_LEN) {
			/* Truncated, or a runt: the frame is gone, the chain is reused as if
			   untouched. */
			net->stats.rx_dropped_too_big++;
			virtq_unpop(q);
			continue;
		}
		/* One buffer per frame; checksum hints only for a guest that asked for them. */
		iov_copy(net->iov, niov, 0, &hdr, sizeof(hdr), false);
		hdr.num_buffers = 1;
		if (!virtio_mmio_has_feature(&net->mmio, NET_F_GUEST_CSUM))
			hdr.flags = 0;
		iov_copy(net->iov, niov, 0, &hdr, sizeof(hdr), true);
		if (!rate_limiter_consume(&net->rx_rl, (uint64_t)n - TAP_VNET_HDR_LEN)) {
			net->stats.rx_throttled++;
			net->rx_pending = true;
			net->rx_pending_head = c->head;
			net->rx_pending_len = (uint32_t)n;
			net->stats.rx_packets++;
			net->stats.rx_bytes += (uint64_t)n - TAP_VNET_HDR_LEN;
			break;
		}
		net->stats.rx_packets++;
		net->stats.rx_bytes += (uint64_t)n - TAP_VNET_HDR_LEN;
		virtq_push(q, c->head, (uint32_t)n);
		pushed = true;
	}
out:
	tap_set_reading(net, reading && running(net, RXQ));
	if (pushed)
		signal_used(net, RXQ);
}

/* ---- event sources (VMM thread, lock taken here) ---- */

static void tap_event(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	pthread_mutex_lock(&net->mmio.lock);
	if (events & EPOLLERR) {
		/* The TAP polls EPOLLERR only once its interface is gone (detached or deleted). */
		tap_lost(net, -EBADFD);
		pthread_mutex_unlock(&net->mmio.lock);
		return;
	}
	if ((events & (EPOLLOUT | EPOLLHUP)) && net->tx_wait_out) {
		net->tx_wait_out = false;
		tap_watch(net, net->tap_events & ~EPOLLOUT);
		process_tx(net);
	}
	if (events & (EPOLLIN | EPOLLHUP))
		process_rx(net);
	pthread_mutex_unlock(&net->mmio.lock);
}

static void rx_rl_event(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	pthread_mutex_lock(&net->mmio.lock);
	rate_limiter_timer_event(&net->rx_rl);
	process_rx(net);
	pthread_mutex_unlock(&net->mmio.lock);
}

static void tx_rl_event(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	pthread_mutex_lock(&net->mmio.lock);
	rate_limiter_timer_event(&net->tx_rl);
	process_tx(net);
	pthread_mutex_unlock(&net->mmio.lock);
}

/* vhost used buffers and wants the driver interrupted (it applied EVENT_IDX already). */
static void vhost_call_event(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;
	eventfd_t v;

	(void)events;
	if (eventfd_read(net->vhost.call_fd, &v) < 0)
		return;
	pthread_mutex_lock(&net->mmio.lock);
	if (net->vhost.running && net->mmio.activated) {
		net->stats.vhost_irqs++;
		virtio_mmio_interrupt(&net->mmio, VIRTIO_INT_USED);
	}
	pthread_mutex_unlock(&net->mmio.lock);
}

/* vhost met a descriptor or ring it cannot use: the guest broke the device. */
static void vhost_err_event(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;
	eventfd_t v;

	(void)events;
	if (eventfd_read(net->vhost.err_fd, &v) < 0)
		return;
	pthread_mutex_lock(&net->mmio.lock);
	if (net->vhost.running) {
		net->stats.vhost_ring_errors++;
		log_warn_ratelimited(&net->mmio.guest_err_rl,
				     "virtio-net %s: vhost-net refused a ring or descriptor", net->id);
		net_vhost_stop(&net->vhost, net_ops_num_queues, NULL);
		virtio_mmio_needs_reset(&net->mmio);
	}
	pthread_mutex_unlock(&net->mmio.lock);
}

/*
 * A rate limiter arrived while vhost runs: take the rings back where vhost left them (its
 * next avail index; the used index is in the ring) and carry on in userspace. Lock held.
 */
static void vhost_to_userspace(struct virtio_net *net)
{
	eventfd_t v;
	int r = net_vhost_take_back(&net->vhost, net->mmio.queues, net_ops_num_queues);

	kicks_to_loop(net);
	if (r < 0) {
		virtio_mmio_needs_reset(&net->mmio); /* where vhost left the rings is unknown */
		return;
	}
	/* vhost may have used buffers and signalled a call vhost_call_event now drops (not
	   running): interrupt anyway, a spurious one is harmless. */
	(void)eventfd_read(net->vhost.call_fd, &v);
	if (net->mmio.activated)
		virtio_mmio_interrupt(&net->mmio, VIRTIO_INT_USED);
	/* vhost_activate stopped reading the TAP: read it again and look at both rings. */
	tap_set_reading(net, true);
	if (net->mmio.activated) {
		virtio_mmio_kick_self(&net->mmio, RXQ);
		virtio_mmio_kick_self(&net->mmio, TXQ);
	}
	log_info("virtio-net %s: rate limiter set: vhost-net stopped, userspace backend until "
		 "the next reset", net->id);
}

/* ---- transport callbacks ---- */

static uint64_t net_features(struct virtio_mmio_dev *vdev)
{
	struct virtio_net *net = to_net(vdev);
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_INDIRECT_DESC) |
		     (1ULL << VIRTIO_F_RING_EVENT_IDX) | (1ULL << NET_F_CSUM) |
		     (1ULL << NET_F_GUEST_CSUM) | (1ULL << NET_F_GUEST_TSO4) |
		     (1ULL << NET_F_GUEST_TSO6) | (1ULL << NET_F_HOST_TSO4) |
		     (1ULL << NET_F_HOST_TSO6) | (1ULL << NET_F_STATUS);

	if (net->has_mac)
		f |= 1ULL << NET_F_MAC;
	if (net->has_mtu)
		f |= 1ULL << NET_F_MTU;
	return f;
}

static void net_config_read(struct virtio_mmio_dev *vdev, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	memcpy(data, (const uint8_t *)&to_net(vdev)->config + off, len);
}

/*
 * Hand both rings to vhost. -EINVAL: a ring outside guest RAM (the guest's fault: needs
 * reset); other errors leave the userspace path in charge (unless vhost was forced).
 */
static int vhost_activate(struct virtio_net *net)
{
	struct virtio_mmio_dev *vdev = &net->mmio;
	int kicks[net_ops_num_queues];
	uint64_t features;
	int r;

	for (unsigned int i = 0; i < net_ops_num_queues; i++) {
		if (!vdev->queues[i].active)
			return -ENXIO; /* vhost runs both queues; the userspace path copes */
		/* vhost sees host addresses only: what they point to is checked here. */
		if (!net_vhost_ring_ok(&vdev->queues[i], vdev->env.mem)) {
			log_warn_ratelimited(&vdev->guest_err_rl,
					     "virtio-net %s: queue %u outside guest RAM", net->id, i);
			return -EINVAL;
		}
		kicks[i] = virtio_mmio_kick_fd(vdev, i);
	}
	r = net_vhost_features(&net->vhost, vdev->acked, &features);
	if (r < 0)
		return r;
	for (unsigned int i = 0; i < net_ops_num_queues; i++)
		virtio_mmio_kick_to_device(vdev, i, true);
	net->kicks_to_vhost = true;
	tap_watch(net, 0); /* vhost reads the TAP; EPOLLERR still tells us it is gone */
	r = net_vhost_start(&net->vhost, vdev->env.mem, features, vdev->queues, kicks,
			    net_ops_num_queues, net->tap_fd);
	if (r < 0) {
		kicks_to_loop(net);
		return r;
	}
	/* Kicks that came before DRIVER_OK went to the loop: let vhost look at the rings. */
	for (unsigned int i = 0; i < net_ops_num_queues; i++)
		virtio_mmio_kick_self(vdev, i);
	log_debug("virtio-net %s: vhost-net running, vhost features %#llx", net->id,
		  (unsigned long long)features);
	return 0;
}

static int net_activate(struct virtio_mmio_dev *vdev)
{
	struct virtio_net *net = to_net(vdev);
	unsigned int off = 0;
	int r;

	if (net->tap_gone)
		return 0; /* the link reads down; the queues stay idle */
	/* TSO needs checksum offload (5.1.3.1); the offloads say what the guest can take. */
	if (virtio_mmio_has_feature(vdev, NET_F_GUEST_CSUM)) {
		off |= TAP_OFFLOAD_CSUM;
		if (virtio_mmio_has_feature(vdev, NET_F_GUEST_TSO4))
			off |= TAP_OFFLOAD_TSO4;
		if (virtio_mmio_has_feature(vdev, NET_F_GUEST_TSO6))
			off |= TAP_OFFLOAD_TSO6;
	}
	r = tap_set_offload(net->tap_fd, off);
	if (r < 0) {
		log_error("virtio-net %s: TUNSETOFFLOAD %#x: %s", net->id, off, strerror(-r));
		return r;
	}
	log_debug("virtio-net %s: active, features %#llx, TAP offloads %#x", net->id,
		  (unsigned long long)vdev->acked, off);
	if (net->vhost.fd >= 0 && !rate_limited(net)) {
		r = vhost_activate(net);
		if (r == 0)
			return 0;
		if (r == -EINVAL || net->backend == VIRTIO_NET_BACKEND_VHOST) {
			log_error("virtio-net %s: vhost-net: %s", net->id, strerror(-r));
			return r;
		}
		log_warn("virtio-net %s: vhost-net: %s: userspace backend until the next reset",
			 net->id, strerror(-r));
	} else if (net->vhost.fd >= 0) {
		log_info("virtio-net %s: rate limiter set: userspace backend until the next reset",
			 net->id);
	}
	tap_set_reading(net, true);
	return 0;
}

static void net_reset(struct virtio_mmio_dev *vdev)
{
	struct virtio_net *net = to_net(vdev);

	/* The kernel lets go of the rings before the transport forgets them (a vCPU thread:
	   one ioctl per queue, which waits for the vhost worker). */
	net_vhost_stop(&net->vhost, net_ops_num_queues, NULL);
	kicks_to_loop(net);
	/* Nothing else is in flight outside the VMM thread: forgetting state is enough. */
	net->rx_pending = false;
	net->tx_wait_out = false;
	tap_watch(net, 0);
}

static void net_queue_notify(struct virtio_mmio_dev *vdev, unsigned int qidx)
{
	struct virtio_net *net = to_net(vdev);

	if (qidx == RXQ)
		process_rx(net);
	else if (qidx == TXQ)
		process_tx(net);
}

static const struct virtio_dev_ops net_ops = {
	.device_id = VIRTIO_ID_NET,
	.num_queues = net_ops_num_queues,
	.features = net_features,
	.config_len = sizeof(struct net_config),
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
};

/* ---- lifecycle ---- */

static int add_src(struct virtio_net *net, const struct virtio_mmio_env *env,
		   struct ev_source *src, int fd, ev_handler_fn fn, uint32_t events, bool *on)
{
	int r;

	*src = (struct ev_source){ .fd = fd, .fn = fn, .opaque = net };
	r = ev_add(env->loop, src, events);
	if (r == 0)
		*on = true;
	return r;
}

static void del_srcs(struct virtio_net *net, struct event_loop *loop)
{
	if (net->tap_on_loop)
		ev_del(loop, &net->tap_src);
	if (net->rx_rl_on_loop)
		ev_del(loop, &net->rx_rl_src);
	if (net->tx_rl_on_loop)
		ev_del(loop, &net->tx_rl_src);
	if (net->call_on_loop)
		ev_del(loop, &net->call_src);
	if (net->err_on_loop)
		ev_del(loop, &net->err_src);
	net->tap_on_loop = net->rx_rl_on_loop = net->tx_rl_on_loop = false;
	net->call_on_loop = net->err_on_loop = false;
}

/* Open vhost-net unless the backend choice or a rate limiter says otherwise; log why. */
static int pick_backend(struct virtio_net *net, struct config_err *err)
{
	const char *why;
	int r;

	if (net->backend == VIRTIO_NET_BACKEND_USERSPACE) {
		why = "not used (--net-backend userspace)";
	} else if (rate_limited(net)) {
		if (net->backend == VIRTIO_NET_BACKEND_VHOST) {
			config_err_set(err, "network-interfaces.%s: rate limiters need the "
				       "userspace backend (--net-backend vhost)", net->id);
			return -EINVAL;
		}
		why = "not used (rate limiters need the userspace backend)";
	} else {
		r = net_vhost_open(&net->vhost);
		if (r == 0) {
			log_info("virtio-net %s: vhost-net backend (TAP %s)", net->id, net->tap_name);
			return 0;
		}
		if (net->backend == VIRTIO_NET_BACKEND_VHOST) {
			config_err_set(err, "network-interfaces.%s: /dev/vhost-net: %s "
				       "(--net-backend vhost)", net->id, strerror(-r));
			return r;
		}
		why = strerror(-r);
	}
	log_info("virtio-net %s: TAP %s, userspace backend: /dev/vhost-net: %s", net->id,
		 net->tap_name, why);
	return 0;
}

static void free_net(struct virtio_net *net)
{
	rate_limiter_destroy(&net->rx_rl);
	rate_limiter_destroy(&net->tx_rl);
	net_vhost_stop(&net->vhost, net_ops_num_queues, NULL);
	net_vhost_close(&net->vhost);
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	free(net);
}

int virtio_net_create(struct virtio_net **out, const struct net_cfg *cfg,
		      const struct virtio_mmio_env *env, uint64_t mmio_base, struct config_err *err)
{
	struct virtio_net *net;
	int r;

	if (!cfg->host_dev_name || !cfg->host_dev_name[0]) {
		config_err_set(err, "network-interfaces.%s.host_dev_name: missing", cfg->iface_id);
		return -EINVAL;
	}
	if (cfg->mtu && (cfg->mtu < 68 || cfg->mtu > 65535)) {
		config_err_set(err, "network-interfaces.%s.mtu: must be 68..65535", cfg->iface_id);
		return -EINVAL;
	}
	net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	net->tap_fd = -1;
	net->rx_rl.timerfd = net->tx_rl.timerfd = -1;
	net_vhost_init(&net->vhost);
	net->backend = default_backend;
	snprintf(net->id, sizeof(net->id), "%s", cfg->iface_id);
	snprintf(net->tap_name, sizeof(net->tap_name), "%s", cfg->host_dev_name);
	net->has_mac = cfg->has_guest_mac;
	memcpy(net->config.mac, cfg->guest_mac, sizeof(net->config.mac));
	net->has_mtu = cfg->mtu != 0;
	net->config.mtu = (uint16_t)cfg->mtu;
	net->config.max_virtqueue_pairs = 1;
	net->config.status = NET_S_LINK_UP;

	r = tap_open(cfg->host_dev_name, &net->tap_fd);
	if (r < 0) {
		config_err_set(err, "network-interfaces.%s: TAP %s: %s", cfg->iface_id,
			cfg->host_dev_name, strerror(-r));
		goto fail;
	}
	r = rate_limiter_init(&net->rx_rl, &cfg->rx_rate_limiter);
	if (!r)
		r = rate_limiter_init(&net->tx_rl, &cfg->tx_rate_limiter);
	if (!r)
		r = pick_backend(net, err);
	if (!r && net->vhost.fd >= 0)
		r = add_src(net, env, &net->call_src, net->vhost.call_fd, vhost_call_event, EPOLLIN,
			    &net->call_on_loop);
	if (!r && net->vhost.fd >= 0)
		r = add_src(net, env, &net->err_src, net->vhost.err_fd, vhost_err_event, EPOLLIN,
			    &net->err_on_loop);
	if (!r)
		r = add_src(net, env, &net->rx_rl_src, rate_limiter_fd(&net->rx_rl), rx_rl_event,
			    EPOLLIN, &net->rx_rl_on_loop);
	if (!r)
		r = add_src(net, env, &net->tx_rl_src, rate_limiter_fd(&net->tx_rl), tx_rl_event,
			    EPOLLIN, &net->tx_rl_on_loop);
	/* The TAP is watched for nothing until the driver is ready. */
	if (!r)
		r = add_src(net, env, &net->tap_src, net->tap_fd, tap_event, 0, &net->tap_on_loop);
	if (!r)
		r = virtio_mmio_init(&net->mmio, &net_ops, net, env, mmio_base);
	if (r < 0) {
		del_srcs(net, env->loop);
		goto fail;
	}
	*out = net;
	return 0;
fail:
	if (err && !err->msg[0])
		config_err_set(err, "network-interfaces.%s: %s", cfg->iface_id, strerror(-r));
	free_net(net);
	return r;
}

struct virtio_mmio_dev *virtio_net_mmio(struct virtio_net *net)
{
	return &net->mmio;
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	/* vhost first: it holds the kick eventfds and writes guest memory until stopped. */
	net_vhost_stop(&net->vhost, net_ops_num_queues, NULL);
	del_srcs(net, net->mmio.env.loop);
	virtio_mmio_uninit(&net->mmio);
	free_net(net);
}

int virtio_net_update(struct virtio_net *net, const struct rate_limiter_cfg *rx,
		      const struct rate_limiter_cfg *tx, struct config_err *err)
{
	(void)err; /* replacing buckets cannot fail */
	pthread_mutex_lock(&net->mmio.lock);
	if (rx)
		rate_limiter_update(&net->rx_rl, rx);
	if (tx)
		rate_limiter_update(&net->tx_rl, tx);
	if (net->vhost.running && rate_limited(net))
		vhost_to_userspace(net);
	/*
	 * A throttled direction waits for its timer, which the old limiter may have armed for
	 * long: kick the queue instead. process_rx() delivers the frame held back, then reads
	 * the TAP until EAGAIN and turns EPOLLIN back on; process_tx() takes the chains left on
	 * the ring. The stale timer later finds nothing to do.
	 */
	if (net->mmio.activated) {
		if (rx)
			virtio_mmio_kick_self(&net->mmio, RXQ);
		if (tx)
			virtio_mmio_kick_self(&net->mmio, TXQ);
	}
	pthread_mutex_unlock(&net->mmio.lock);
	return 0;
}

int virtio_net_set_backend(const char *name)
{
	if (!strcmp(name, "auto"))
		default_backend = VIRTIO_NET_BACKEND_AUTO;
	else if (!strcmp(name, "vhost"))
		default_backend = VIRTIO_NET_BACKEND_VHOST;
	else if (!strcmp(name, "userspace"))
		default_backend = VIRTIO_NET_BACKEND_USERSPACE;
	else
		return -EINVAL;
	return 0;
}

const char *virtio_net_id(const struct virtio_net *net)
{
	return net->id;
}

void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *out)
{
	pthread_mutex_lock(&net->mmio.lock);
	*out = net->stats;
	out->vhost = net->vhost.running;
	pthread_mutex_unlock(&net->mmio.lock);
}

bool virtio_net_tap_gone(struct virtio_net *net)
{
	bool gone;

	pthread_mutex_lock(&net->mmio.lock);
	gone = net->tap_gone;
	pthread_mutex_unlock(&net->mmio.lock);
	return gone;
}
