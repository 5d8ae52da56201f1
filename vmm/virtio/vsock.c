// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock device, userspace Unix-socket backend (Firecracker's hybrid design).
 *
 * Connections live in a fixed pool allocated with the device: an event already fetched
 * by epoll_wait for a connection closed earlier in the same batch then lands on valid
 * memory, and every handler copes with a spurious event (a read or write that returns
 * EAGAIN). A host socket is watched only for what the device can act on now, and taken
 * off epoll when that is nothing: a hung-up socket whose data the guest cannot take yet
 * would otherwise wake the loop forever.
 *
 * Host to guest (RX, queue 0): nothing is buffered in the VMM. A connection with work
 * (a control packet to send, or a readable socket while the guest has credit) sits on
 * a round-robin list; each guest buffer gets one packet, data read from the socket
 * straight into it. RSTs for connections already gone go through a bounded queue.
 *
 * Guest to host (TX, queue 1): data goes to the socket at once; what the socket cannot
 * take is kept in a per-connection ring of VSOCK_BUF_ALLOC bytes, the buf_alloc the
 * device advertises, so a guest that respects its credit never overruns it; one that
 * does not gets RST. Malformed packets are dropped and counted.
 */
#include "vmm/virtio/vsock.h"

#include <errno.h>
#include <linux/vhost.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/virtio/vhost.h"
#include "vmm/virtio/vsock_bridge.h"

#define RXQ 0
#define TXQ 1
#define EVQ 2
#define HDR_LEN ((uint32_t)sizeof(struct vsock_hdr))
#define RST_QUEUE_LEN 2048
#define HASH_BUCKETS 2048
#define ACCEPTS_PER_EVENT 16
/* Host-initiated connections take local ports from here up (as Firecracker). */
#define LOCAL_PORT_FIRST (1u << 30)
#define NS_PER_S 1000000000ULL

enum conn_state {
	CONN_FREE = 0,
	CONN_CONNECT_LINE, /* host client accepted, waiting for "CONNECT <port>\n" */
	CONN_REQ_SENT, /* REQUEST queued/sent to the guest, waiting for RESPONSE */
	CONN_ESTABLISHED,
};

/* Control packets a connection owes the guest. */
#define P_REQUEST 1
#define P_RESPONSE 2
#define P_SHUTDOWN 4
#define P_CREDIT_UPDATE 8

struct vsock_conn {
	struct ev_source src;
	struct virtio_vsock *dev;
	enum conn_state state;
	int fd;
	uint32_t events; /* what the socket is watched for; 0: off epoll */
	int32_t idx, hash_next;
	uint32_t local_port, peer_port;
	bool hashed;

	/* Flow control (counters wrap). */
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's, from its last header */
	uint32_t tx_cnt; /* payload bytes sent to the guest */
	uint32_t rx_cnt; /* payload bytes received from the guest */
	uint32_t fwd_cnt; /* of those, written to the host socket */
	uint32_t last_fwd_cnt_sent; /* fwd_cnt in the last header the guest got */

	/* Guest data the host socket has not taken yet: ring of VSOCK_BUF_ALLOC bytes. */
	uint8_t *buf;
	uint32_t buf_head, buf_len;

	unsigned int pending; /* P_* */
	uint32_t shutdown_flags; /* for P_SHUTDOWN */
	bool want_read; /* the socket polled readable since the last EAGAIN */
	bool host_eof, guest_shut_send, guest_shut_rcv, shut_wr_done;
	uint64_t deadline_ns; /* CONNECT line or RESPONSE; 0: none */

	bool on_rx_list;
	struct vsock_conn *rx_next, *rx_prev;

	char line[VSOCK_CONNECT_LINE_MAX];
	uint32_t line_len;
};

struct rst_entry {
	uint32_t local_port, peer_port;
};

struct virtio_vsock {
	struct virtio_mmio_dev mmio;
	uint64_t guest_cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	int listen_fd, timer_fd, work_fd;
	struct ev_source listen_src, timer_src, work_src;
	bool listen_on, timer_on, work_on, timer_armed;
	/* accept4 ran out of fds or memory: the listen fd is off epoll until the next tick */
	bool listen_paused;
	struct log_ratelimit accept_rl;
	bool reset_pending; /* set by a vCPU thread; connections torn down on the VMM thread */
	/* Like reset_pending, but only work_event (VMM thread: close() allowed) consumes it. */
	bool bridge_reset_pending;
	unsigned int ndeadlines;
	uint32_t next_local_port;

	struct vsock_conn *conns;
	unsigned int nlive;
	int32_t *free_ring; /* FIFO of free slots: a slot just freed is reused last */
	unsigned int free_head, free_count;
	int32_t hash[HASH_BUCKETS];
	struct vsock_conn *rx_head, *rx_tail;

	struct rst_entry rst[RST_QUEUE_LEN];
	unsigned int rst_head, rst_count;

	/* vhost-vsock backend: fd >= 0 when chosen; running while the kernel owns rx/tx. */
	enum virtio_vsock_backend backend;
	int vh_fd, vh_call_fd, vh_err_fd;
	uint64_t vh_features;
	bool vh_running, kicks_to_vhost, call_on, err_on;
	struct ev_source call_src, err_src;
	struct vsock_bridge *bridge;

	struct virtio_vsock_stats stats;
	struct virtq_chain chain; /* scratch for the walker */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* ---- protocol helpers ---- */

int vsock_parse_connect(const char *buf, size_t len, uint32_t *port)
{
	static const char word[] = "CONNECT";
	const size_t wlen = sizeof(word) - 1;
	/* Without a newline in the first VSOCK_CONNECT_LINE_MAX bytes the line is overlong. */
	const int more = len < VSOCK_CONNECT_LINE_MAX ? 0 : -EINVAL;
	size_t i, end = MIN(len, (size_t)VSOCK_CONNECT_LINE_MAX), digits = 0;
	uint64_t v = 0;

	/* Check what is there so far, so a bad line fails before the timeout. */
	for (i = 0; i < end && i < wlen; i++)
		if (buf[i] != word[i])
			return -EINVAL;
	if (i == end)
		return more;
	if (buf[i] != ' ')
		return -EINVAL;
	while (i < end && buf[i] == ' ')
		i++;
	while (i < end && buf[i] >= '0' && buf[i] <= '9') {
		if (++digits > 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(buf[i] - '0');
		i++;
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	while (i < end && buf[i] == ' ')
		i++;
	if (i < end && buf[i] == '\r')
		i++;
	if (i == end)
		return more;
	if (buf[i] != '\n' || digits == 0)
		return -EINVAL;
	*port = (uint32_t)v;
	return (int)(i + 1);
}

enum vsock_hdr_verdict vsock_hdr_check(const struct vsock_hdr *h, uint64_t guest_cid,
				       uint64_t payload)
{
	if (h->src_cid != guest_cid || h->dst_cid != VSOCK_HOST_CID)
		return VSOCK_HDR_DROP;
	if (h->len > VSOCK_MAX_PAYLOAD || h->len > payload)
		return VSOCK_HDR_DROP;
	if (h->op == VSOCK_OP_RST)
		return VSOCK_HDR_OK; /* whatever its type: never answered */
	if (h->type != VSOCK_TYPE_STREAM)
		return VSOCK_HDR_RST;
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST)
		return VSOCK_HDR_RST;
	if (h->op != VSOCK_OP_RW && h->len)
		return VSOCK_HDR_RST;
	if (h->op == VSOCK_OP_SHUTDOWN &&
	    (h->flags & ~(uint32_t)(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)))
		return VSOCK_HDR_RST;
	return VSOCK_HDR_OK;
}

/* ---- small helpers ---- */

static struct virtio_vsock *to_vsock(struct virtio_mmio_dev *vdev)
{
	return vdev->priv;
}

static enum virtio_vsock_backend default_backend = VIRTIO_VSOCK_BACKEND_AUTO;

static bool running(struct virtio_vsock *v, unsigned int qidx)
{
	return v->vh_fd < 0 && v->mmio.activated && !v->reset_pending && v->mmio.queues[qidx].active &&
	       !(v->mmio.status & VIRTIO_STATUS_NEEDS_RESET);
}

static unsigned int hash_of(uint32_t local, uint32_t peer)
{
	return (local * 2654435761u ^ peer * 40503u) % HASH_BUCKETS;
}

static struct vsock_conn *conn_find(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	int32_t i = v->hash[hash_of(local, peer)];
	unsigned int guard = VSOCK_MAX_CONNS;

	while (i >= 0 && guard--) {
		struct vsock_conn *c = &v->conns[i];

		if (c->local_port == local && c->peer_port == peer)
			return c;
		i = c->hash_next;
	}
	return NULL;
}

static void hash_insert(struct virtio_vsock *v, struct vsock_conn *c)
{
	unsigned int b = hash_of(c->local_port, c->peer_port);

	c->hash_next = v->hash[b];
	v->hash[b] = c->idx;
	c->hashed = true;
}

static void hash_remove(struct virtio_vsock *v, struct vsock_conn *c)
{
	int32_t *p = &v->hash[hash_of(c->local_port, c->peer_port)];
	unsigned int guard = VSOCK_MAX_CONNS;

	while (*p >= 0 && guard--) {
		if (*p == c->idx) {
			*p = c->hash_next;
			break;
		}
		p = &v->conns[*p].hash_next;
	}
	c->hashed = false;
}

static void arm_timer(struct virtio_vsock *v)
{
	struct itimerspec its = { .it_interval = { 0, 500000000 }, .it_value = { 0, 500000000 } };

	if (!v->timer_armed && timerfd_settime(v->timer_fd, 0, &its, NULL) == 0)
		v->timer_armed = true;
}

static void set_deadline(struct virtio_vsock *v, struct vsock_conn *c, bool on)
{
	if (on && !c->deadline_ns) {
		v->ndeadlines++;
		arm_timer(v);
	} else if (!on && c->deadline_ns) {
		v->ndeadlines--;
	}
	c->deadline_ns = on ? util_now_ns() + VSOCK_CONNECT_TIMEOUT_S * NS_PER_S : 0;
}

/* Watch the socket for exactly what the device can act on now. */
static void conn_update_events(struct virtio_vsock *v, struct vsock_conn *c)
{
	uint32_t want = 0;
	int r = 0;

	if (c->state == CONN_CONNECT_LINE) {
		want = EPOLLIN;
	} else if (c->state == CONN_ESTABLISHED) {
		if (!c->want_read && !c->host_eof && !c->guest_shut_rcv)
			want |= EPOLLIN;
		if (c->buf_len)
			want |= EPOLLOUT;
	}
	if (want == c->events)
		return;
	if (!want)
		r = ev_del(v->mmio.env.loop, &c->src);
	else if (!c->events)
		r = ev_add(v->mmio.env.loop, &c->src, want);
	else
		r = ev_mod(v->mmio.env.loop, &c->src, want);
	if (r < 0)
		log_warn("vsock: epoll for port %u: %s", c->local_port, strerror(-r));
	else
		c->events = want;
}

static void rst_push(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	if (v->rst_count == RST_QUEUE_LEN) {
		v->stats.rst_dropped++;
		return;
	}
	v->rst[(v->rst_head + v->rst_count) % RST_QUEUE_LEN] =
		(struct rst_entry){ .local_port = local, .peer_port = peer };
	v->rst_count++;
}

static void rx_list_remove(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (!c->on_rx_list)
		return;
	if (c->rx_prev)
		c->rx_prev->rx_next = c->rx_next;
	else
		v->rx_head = c->rx_next;
	if (c->rx_next)
		c->rx_next->rx_prev = c->rx_prev;
	else
		v->rx_tail = c->rx_prev;
	c->rx_next = c->rx_prev = NULL;
	c->on_rx_list = false;
}

static bool conn_has_rx_work(const struct vsock_conn *c)
{
	if (c->pending & (P_REQUEST | P_RESPONSE | P_SHUTDOWN | P_CREDIT_UPDATE))
		return true;
	return c->state == CONN_ESTABLISHED && c->want_read && !c->host_eof &&
	       !c->guest_shut_rcv && vsock_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
}

/* Put c on the RX list if it has something for the guest. */
static void conn_kick(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->on_rx_list || !conn_has_rx_work(c))
		return;
	c->rx_prev = v->rx_tail;
	c->rx_next = NULL;
	if (v->rx_tail)
		v->rx_tail->rx_next = c;
	else
		v->rx_head = c;
	v->rx_tail = c;
	c->on_rx_list = true;
}

static void conn_event(void *opaque, uint32_t events);

static struct vsock_conn *conn_alloc(struct virtio_vsock *v, int fd)
{
	struct vsock_conn *c;
	int32_t i;

	if (!v->free_count)
		return NULL;
	i = v->free_ring[v->free_head];
	v->free_head = (v->free_head + 1) % VSOCK_MAX_CONNS;
	v->free_count--;
	c = &v->conns[i];
	*c = (struct vsock_conn){ .dev = v, .idx = i, .fd = fd, .hash_next = -1 };
	c->src = (struct ev_source){ .fd = fd, .fn = conn_event, .opaque = c };
	v->nlive++;
	v->stats.conns_live = v->nlive;
	return c;
}

/* Close the host side and free the slot; with rst, tell the guest (if it knows it). */
static void conn_kill(struct virtio_vsock *v, struct vsock_conn *c, bool rst)
{
	if (c->state == CONN_FREE)
		return;
	if (rst && c->state != CONN_CONNECT_LINE) {
		rst_push(v, c->local_port, c->peer_port);
		v->stats.rst_sent++;
	}
	rx_list_remove(v, c);
	if (c->hashed)
		hash_remove(v, c);
	if (c->events)
		ev_del(v->mmio.env.loop, &c->src);
	set_deadline(v, c, false);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	if (c->state != CONN_CONNECT_LINE)
		v->stats.conns_closed++;
	*c = (struct vsock_conn){ .state = CONN_FREE, .fd = -1, .idx = c->idx, .dev = v,
				  .hash_next = -1 };
	c->src = (struct ev_source){ .fd = -1, .opaque = c };
	v->free_ring[(v->free_head + v->free_count) % VSOCK_MAX_CONNS] = c->idx;
	v->free_count++;
	v->nlive--;
	v->stats.conns_live = v->nlive;
}

static void kill_all(struct virtio_vsock *v)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
		conn_kill(v, &v->conns[i], false);
	v->rst_count = 0;
	v->rst_head = 0;
	v->reset_pending = false;
}

/* The guest may have stopped sending for want of credit: tell it what it got. */
static void conn_credit_check(struct vsock_conn *c)
{
	uint32_t seen_free = vsock_credit(VSOCK_BUF_ALLOC, c->last_fwd_cnt_sent, c->rx_cnt);

	if (c->fwd_cnt != c->last_fwd_cnt_sent && seen_free < VSOCK_BUF_ALLOC / 2)
		c->pending |= P_CREDIT_UPDATE;
}

/*
 * After the guest shut down or the ring drained: shut the host socket's write side, or
 * close the connection once the guest is done both ways. false when c is gone.
 */
static bool conn_finish_shutdown(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->buf_len)
		return true;
	if (c->guest_shut_send && c->guest_shut_rcv) {
		/* Linux waits for the peer's RST to complete its close. */
		conn_kill(v, c, true);
		return false;
	}
	if (c->guest_shut_send && !c->shut_wr_done) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr_done = true;
	}
	return true;
}

/* Write the ring to the socket. 0, or -errno (the connection must be reset). */
static int conn_flush(struct vsock_conn *c)
{
	while (c->buf_len) {
		uint32_t chunk = MIN(c->buf_len, VSOCK_BUF_ALLOC - c->buf_head);
		ssize_t n = send(c->fd, c->buf + c->buf_head, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_BUF_ALLOC;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (!c->buf_len)
		c->buf_head = 0;
	conn_credit_check(c);
	return 0;
}

/* Bytes of the chain's readable part after the header, as iovecs (at most len bytes). */
static int chain_iov(const struct virtq_chain *ch, bool writable, uint64_t skip, uint64_t len,
		     struct iovec *iov)
{
	unsigned int first = writable ? ch->nread : 0, end = writable ? ch->nsegs : ch->nread;
	int n = 0;

	for (unsigned int i = first; i < end && len; i++) {
		uint64_t sl = ch->segs[i].len;

		if (skip >= sl) {
			skip -= sl;
			continue;
		}
		iov[n].iov_base = ch->segs[i].hva + skip;
		iov[n].iov_len = MIN(sl - skip, len);
		len -= iov[n].iov_len;
		skip = 0;
		n++;
	}
	return n;
}

/* Copy between buf and the chain's readable (or writable) bytes at offset 0. */
static void chain_copy(const struct virtq_chain *ch, bool writable, void *buf, size_t len,
		       bool to_chain)
{
	unsigned int first = writable ? ch->nread : 0, end = writable ? ch->nsegs : ch->nread;
	uint8_t *p = buf;

	for (unsigned int i = first; i < end && len; i++) {
		size_t n = MIN(len, (size_t)ch->segs[i].len);

		if (to_chain)
			memcpy(ch->segs[i].hva, p, n);
		else
			memcpy(p, ch->segs[i].hva, n);
		p += n;
		len -= n;
	}
}

/* ---- TX: guest to host ---- */

/* Guest payload for c: to the socket, the rest into the ring. false when c is gone. */
static bool conn_guest_data(struct virtio_vsock *v, struct vsock_conn *c, uint32_t len)
{
	struct iovec *iov = v->iov;
	int niov = chain_iov(&v->chain, false, HDR_LEN, len, iov);
	size_t done = 0;

	if (c->state != CONN_ESTABLISHED || c->guest_shut_send || c->buf_len + len > VSOCK_BUF_ALLOC) {
		/* Data after SHUTDOWN, or beyond the credit we gave. */
		v->stats.bad_packets++;
		conn_kill(v, c, true);
		return false;
	}
	c->rx_cnt += len;
	if (!c->buf_len) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)MIN(niov, IOV_MAX) };
		ssize_t n;

		do
			n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			log_debug("vsock: port %u: host socket: %s", c->local_port, strerror(errno));
			conn_kill(v, c, true);
			return false;
		}
		done = n > 0 ? (size_t)n : 0;
		c->fwd_cnt += (uint32_t)done;
	}
	if (done < len) {
		if (!c->buf) {
			c->buf = malloc(VSOCK_BUF_ALLOC);
			if (!c->buf) {
				conn_kill(v, c, true);
				return false;
			}
		}
		/* Skip what went out, copy the rest behind what is queued. */
		for (int i = 0; i < niov; i++) {
			uint8_t *p = iov[i].iov_base;
			size_t l = iov[i].iov_len;

			if (done >= l) {
				done -= l;
				continue;
			}
			p += done;
			l -= done;
			done = 0;
			while (l) {
				uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
				size_t n = MIN(l, (size_t)(VSOCK_BUF_ALLOC - tail));

				memcpy(c->buf + tail, p, n);
				c->buf_len += (uint32_t)n;
				p += n;
				l -= n;
			}
		}
	}
	conn_credit_check(c);
	conn_update_events(v, c);
	return true;
}

/* A guest REQUEST to the host: connect to "<uds_path>_<port>". */
static void guest_connect(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds_path, h->dst_port);
	if (v->nlive >= VSOCK_MAX_CONNS || n < 0 || (size_t)n >= sizeof(sa.sun_path))
		goto refuse;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto refuse;
	/* Non-blocking: a Unix connect succeeds at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("vsock: guest connect to %s: %s", sa.sun_path, strerror(errno));
		close(fd);
		goto refuse;
	}
	c = conn_alloc(v, fd);
	if (!c) {
		close(fd);
		goto refuse;
	}
	c->state = CONN_ESTABLISHED;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = P_RESPONSE;
	hash_insert(v, c);
	v->stats.conns_opened++;
	conn_update_events(v, c);
	conn_kick(v, c);
	return;
refuse:
	v->stats.conns_refused++;
	v->stats.rst_sent++;
	rst_push(v, h->dst_port, h->src_port);
}

static void handle_tx_packet(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct vsock_conn *c;

	switch (vsock_hdr_check(h, v->guest_cid, v->chain.read_len - HDR_LEN)) {
	case VSOCK_HDR_OK:
		break;
	case VSOCK_HDR_RST:
		v->stats.bad_packets++;
		c = conn_find(v, h->dst_port, h->src_port);
		if (c)
			conn_kill(v, c, true);
		else {
			v->stats.rst_sent++;
			rst_push(v, h->dst_port, h->src_port);
		}
		return;
	default:
		v->stats.bad_packets++;
		return;
	}
	v->stats.tx_packets++;
	v->stats.tx_bytes += h->len;
	c = conn_find(v, h->dst_port, h->src_port);
	if (h->op == VSOCK_OP_RST) {
		v->stats.rst_received++;
		if (c)
			conn_kill(v, c, false);
		return;
	}
	if (!c) {
		if (h->op == VSOCK_OP_REQUEST) {
			guest_connect(v, h);
			return;
		}
		v->stats.rst_sent++;
		rst_push(v, h->dst_port, h->src_port);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state == CONN_REQ_SENT && !(c->pending & P_REQUEST)) {
			char ok[32];
			int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);

			if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
				conn_kill(v, c, true);
				return;
			}
			c->state = CONN_ESTABLISHED;
			set_deadline(v, c, false);
			conn_update_events(v, c);
			v->stats.conns_opened++;
			break;
		}
		__attribute__((fallthrough)); /* RESPONSE out of place */
	case VSOCK_OP_REQUEST: /* duplicate */
		v->stats.bad_packets++;
		conn_kill(v, c, true);
		return;
	case VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED) {
			v->stats.bad_packets++;
			conn_kill(v, c, true);
			return;
		}
		if (h->len && !conn_guest_data(v, c, h->len))
			return;
		break;
	case VSOCK_OP_SHUTDOWN:
		if (h->flags & VSOCK_SHUTDOWN_SEND)
			c->guest_shut_send = true;
		if (h->flags & VSOCK_SHUTDOWN_RCV)
			c->guest_shut_rcv = true;
		if (c->state != CONN_ESTABLISHED) {
			conn_kill(v, c, true);
			return;
		}
		if (!conn_finish_shutdown(v, c))
			return;
		conn_update_events(v, c);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT_UPDATE;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
	default:
		break;
	}
	conn_kick(v, c); /* new credit may let data flow */
}

static void process_tx(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queues[TXQ];
	struct virtq_chain *ch = &v->chain;
	unsigned int budget = 2 * VIRTQ_MAX_SIZE;
	bool pushed = false;

	while (running(v, TXQ)) {
		struct vsock_hdr h;
		int r;

		if (budget-- == 0) {
			virtio_mmio_kick_self(&v->mmio, TXQ); /* let other devices run */
			break;
		}
		r = virtq_pop(q, ch);
		if (r == 0) {
			if (virtq_enable_notify(q))
				continue;
			break;
		}
		if (r == -EPROTO) {
			virtio_mmio_needs_reset(&v->mmio);
			break;
		}
		if (r < 0 || ch->nread != ch->nsegs || ch->read_len < HDR_LEN) {
			v->stats.bad_packets++;
		} else {
			chain_copy(ch, false, &h, sizeof(h), false);
			handle_tx_packet(v, &h);
		}
		virtq_push(q, ch->head, 0);
		pushed = true;
	}
	if (pushed && virtq_should_signal(q))
		virtio_mmio_interrupt(&v->mmio, VIRTIO_INT_USED);
}

/* ---- RX: host to guest ---- */

static void fill_hdr(struct virtio_vsock *v, struct vsock_hdr *h, uint32_t local, uint32_t peer,
		     uint16_t op, uint32_t fwd_cnt)
{
	*h = (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID, .dst_cid = v->guest_cid,
				 .src_port = local, .dst_port = peer, .type = VSOCK_TYPE_STREAM,
				 .op = op, .buf_alloc = VSOCK_BUF_ALLOC, .fwd_cnt = fwd_cnt };
}

/*
 * Write one packet for c into the chain: control first, then data read from the socket.
 * Returns the bytes written to the chain, 0 when c had nothing after all.
 */
static uint32_t conn_fill(struct virtio_vsock *v, struct vsock_conn *c)
{
	struct virtq_chain *ch = &v->chain;
	struct vsock_hdr h;
	uint32_t len = 0;
	uint16_t op = 0;

	if (c->pending & P_REQUEST) {
		op = VSOCK_OP_REQUEST;
		c->pending &= ~P_REQUEST;
	} else if (c->pending & P_RESPONSE) {
		op = VSOCK_OP_RESPONSE;
		c->pending &= ~P_RESPONSE;
	} else if (c->state == CONN_ESTABLISHED && c->want_read && !c->host_eof &&
		   !c->guest_shut_rcv &&
		   vsock_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt)) {
		/* Credit and chain room are both >= 1 here: readv() == 0 is a real EOF. */
		uint32_t credit = vsock_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
		uint64_t max = MIN(MIN((uint64_t)credit, ch->write_len - HDR_LEN),
				   (uint64_t)VSOCK_MAX_PAYLOAD);
		int niov = chain_iov(ch, true, HDR_LEN, max, v->iov);
		ssize_t n;

		do
			n = readv(c->fd, v->iov, MIN(niov, IOV_MAX));
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			op = VSOCK_OP_RW;
			len = (uint32_t)n;
			c->tx_cnt += len;
		} else if (n == 0) {
			/* The host shut its write side: the guest reads EOF after the data. */
			c->host_eof = true;
			c->pending |= P_SHUTDOWN;
			c->shutdown_flags |= VSOCK_SHUTDOWN_SEND;
			conn_update_events(v, c);
		} else if (errno == EAGAIN) {
			c->want_read = false;
			conn_update_events(v, c);
		} else {
			log_debug("vsock: port %u: host socket: %s", c->local_port,
				  strerror(errno));
			conn_kill(v, c, true);
			return 0;
		}
	}
	if (!op && (c->pending & P_SHUTDOWN)) {
		op = VSOCK_OP_SHUTDOWN;
		c->pending &= ~P_SHUTDOWN;
	} else if (!op && (c->pending & P_CREDIT_UPDATE)) {
		op = VSOCK_OP_CREDIT_UPDATE;
	}
	if (!op)
		return 0;
	fill_hdr(v, &h, c->local_port, c->peer_port, op, c->fwd_cnt);
	h.len = len;
	if (op == VSOCK_OP_SHUTDOWN)
		h.flags = c->shutdown_flags;
	/* Every header carries fwd_cnt: no separate update is owed any more. */
	c->pending &= ~P_CREDIT_UPDATE;
	c->last_fwd_cnt_sent = c->fwd_cnt;
	chain_copy(ch, true, &h, sizeof(h), true);
	v->stats.rx_packets++;
	v->stats.rx_bytes += len;
	return HDR_LEN + len;
}

static void process_rx(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queues[RXQ];
	struct virtq_chain *ch = &v->chain;
	unsigned int budget = 2 * VIRTQ_MAX_SIZE;
	bool pushed = false;

	while (running(v, RXQ) && (v->rst_count || v->rx_head)) {
		uint32_t n = 0;
		int r;

		if (budget-- == 0) {
			virtio_mmio_kick_self(&v->mmio, RXQ);
			break;
		}
		r = virtq_pop(q, ch);
		if (r == 0) {
			if (virtq_enable_notify(q))
				continue;
			break; /* resumes at the guest's next RX kick */
		}
		if (r == -EPROTO) {
			virtio_mmio_needs_reset(&v->mmio);
			break;
		}
		/* Room for a header and at least one byte: a data packet always fits. */
		if (r < 0 || ch->nread || ch->write_len <= HDR_LEN) {
			v->stats.rx_bad_chains++;
			virtq_push(q, ch->head, 0);
			pushed = true;
			continue;
		}
		if (v->rst_count) {
			struct rst_entry e = v->rst[v->rst_head];
			struct vsock_hdr h;

			v->rst_head = (v->rst_head + 1) % RST_QUEUE_LEN;
			v->rst_count--;
			fill_hdr(v, &h, e.local_port, e.peer_port, VSOCK_OP_RST, 0);
			chain_copy(ch, true, &h, sizeof(h), true);
			v->stats.rx_packets++;
			n = HDR_LEN;
		} else {
			struct vsock_conn *c = v->rx_head;

			rx_list_remove(v, c);
			n = conn_fill(v, c);
			if (c->state != CONN_FREE)
				conn_kick(v, c); /* to the tail if it has more */
		}
		if (!n) {
			virtq_unpop(q);
			continue;
		}
		virtq_push(q, ch->head, n);
		pushed = true;
	}
	if (pushed && virtq_should_signal(q))
		virtio_mmio_interrupt(&v->mmio, VIRTIO_INT_USED);
}

/* ---- host sockets (VMM thread, lock taken here) ---- */

/* Start a host-initiated connection once its CONNECT line is in. */
static void host_connect(struct virtio_vsock *v, struct vsock_conn *c, uint32_t port)
{
	uint32_t local;
	unsigned int tries;

	for (tries = 0; tries < 2 * VSOCK_MAX_CONNS; tries++) {
		bool used = false;

		local = v->next_local_port;
		v->next_local_port = local == UINT32_MAX ? LOCAL_PORT_FIRST : local + 1;
		for (unsigned int i = 0; i < VSOCK_MAX_CONNS && !used; i++)
			used = v->conns[i].state != CONN_FREE && v->conns[i].hashed &&
			       v->conns[i].local_port == local;
		if (!used)
			break;
	}
	c->local_port = local;
	c->peer_port = port;
	if (conn_find(v, local, port)) {
		v->stats.conns_refused++;
		conn_kill(v, c, false);
		return;
	}
	hash_insert(v, c);
	log_debug("vsock: host connection to guest port %u from host port %u", port, local);
	c->state = CONN_REQ_SENT;
	c->pending = P_REQUEST;
	/* Until the guest answers, the socket is not read: the client waits for "OK". */
	conn_update_events(v, c);
	set_deadline(v, c, true); /* now for the guest's RESPONSE */
	conn_kick(v, c);
}

static void conn_read_line(struct virtio_vsock *v, struct vsock_conn *c)
{
	char peek[VSOCK_CONNECT_LINE_MAX];
	size_t room = VSOCK_CONNECT_LINE_MAX - c->line_len, take;
	ssize_t n;
	char *nl;
	uint32_t port = 0;
	int r;

	/* Peek first: bytes after the newline are stream data for the guest. */
	n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_kill(v, c, false);
		return;
	}
	nl = memchr(peek, '\n', (size_t)n);
	take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	if (recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn_kill(v, c, false);
		return;
	}
	c->line_len += (uint32_t)take;
	r = vsock_parse_connect(c->line, c->line_len, &port);
	if (r < 0 || (r == 0 && nl)) {
		log_debug("vsock: bad CONNECT line from a host client");
		v->stats.conns_refused++;
		conn_kill(v, c, false);
		return;
	}
	if (r > 0)
		host_connect(v, c, port);
}

static void conn_event(void *opaque, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct virtio_vsock *v = c->dev;

	pthread_mutex_lock(&v->mmio.lock);
	if (c->state == CONN_CONNECT_LINE) {
		conn_read_line(v, c);
	} else if (c->state == CONN_ESTABLISHED) {
		/* Events may be stale (a slot reused in this batch): act only on what is watched,
		   and let read/send say what is true. */
		if ((c->events & EPOLLOUT) && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
			int r = conn_flush(c);

			if (r < 0) {
				log_debug("vsock: port %u: host socket: %s", c->local_port,
					  strerror(-r));
				conn_kill(v, c, true);
			} else if (conn_finish_shutdown(v, c)) {
				conn_update_events(v, c);
				conn_kick(v, c);
			}
		}
		if (c->state == CONN_ESTABLISHED && (c->events & EPOLLIN) &&
		    (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
			c->want_read = true;
			conn_update_events(v, c);
			conn_kick(v, c);
		}
	}
	process_rx(v);
	pthread_mutex_unlock(&v->mmio.lock);
}

/*
 * Out of fds or memory: the client stays in the backlog and the level-triggered listen
 * fd would fire again at once, so it leaves epoll until the timer's next tick.
 */
static void listen_pause(struct virtio_vsock *v, int err)
{
	log_warn_ratelimited(&v->accept_rl, "vsock: accept on %s: %s; retrying in 500 ms",
			     v->uds_path, strerror(err));
	if (v->listen_on && ev_del(v->mmio.env.loop, &v->listen_src) == 0)
		v->listen_on = false;
	v->listen_paused = true;
	arm_timer(v);
}

static void listen_resume(struct virtio_vsock *v)
{
	if (!v->listen_paused)
		return;
	if (ev_add(v->mmio.env.loop, &v->listen_src, EPOLLIN) == 0) {
		v->listen_on = true;
		v->listen_paused = false;
	}
}

static void listen_event(void *opaque, uint32_t events)
{
	struct virtio_vsock *v = opaque;

	pthread_mutex_lock(&v->mmio.lock);
	for (unsigned int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				listen_pause(v, errno);
			break;
		}
		if (v->bridge) {
			vsock_bridge_accept(v->bridge, fd);
			continue;
		}
		c = conn_alloc(v, fd);
		if (!c) {
			v->stats.conns_refused++;
			close(fd);
			continue;
		}
		c->src.fn = conn_event;
		c->state = CONN_CONNECT_LINE;
		set_deadline(v, c, true);
		conn_update_events(v, c);
	}
	pthread_mutex_unlock(&v->mmio.lock);
}

static void timer_event(void *opaque, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	uint64_t ticks, now = util_now_ns();

	if (read(v->timer_fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	pthread_mutex_lock(&v->mmio.lock);
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS && v->ndeadlines; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state == CONN_FREE || !c->deadline_ns || c->deadline_ns > now)
			continue;
		log_debug("vsock: %s timed out", c->state == CONN_CONNECT_LINE ?
			  "CONNECT line" : "guest RESPONSE");
		v->stats.conns_refused++;
		conn_kill(v, c, c->state == CONN_REQ_SENT && !(c->pending & P_REQUEST));
	}
	listen_resume(v);
	if (!v->ndeadlines && !v->listen_paused && v->timer_armed &&
	    timerfd_settime(v->timer_fd, 0, &off, NULL) == 0)
		v->timer_armed = false;
	process_rx(v);
	pthread_mutex_unlock(&v->mmio.lock);
}

/* Deferred work from vCPU threads (device reset). */
static void work_event(void *opaque, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	eventfd_t val;

	if (eventfd_read(v->work_fd, &val) < 0 && errno == EAGAIN)
		return;
	pthread_mutex_lock(&v->mmio.lock);
	if (v->reset_pending)
		kill_all(v);
	/* The bridged streams belonged to the guest that reset: their clients get EOF. */
	if (v->bridge_reset_pending) {
		vsock_bridge_reset(v->bridge);
		v->bridge_reset_pending = false;
	}
	pthread_mutex_unlock(&v->mmio.lock);
}

/* ---- vhost-vsock backend ---- */

/* Give the rx/tx kicks back to the loop (vhost stopped). */
static void kicks_to_loop(struct virtio_vsock *v)
{
	if (!v->kicks_to_vhost)
		return;
	virtio_mmio_kick_to_device(&v->mmio, RXQ, false);
	virtio_mmio_kick_to_device(&v->mmio, TXQ, false);
	v->kicks_to_vhost = false;
}

/*
 * The kernel stops walking the rings: when SET_RUNNING 0 returns it no longer touches
 * guest memory (it takes each queue's mutex). Any thread (device reset: a vCPU).
 */
static void vhost_stop(struct virtio_vsock *v)
{
	int off = 0;

	if (!v->vh_running)
		return;
	if (ioctl(v->vh_fd, VHOST_VSOCK_SET_RUNNING, &off) < 0)
		log_error("vsock: VHOST_VSOCK_SET_RUNNING 0: %s", strerror(errno));
	v->vh_running = false;
	kicks_to_loop(v);
}

/*
 * Hand rx and tx to vhost (DRIVER_OK, VMM thread). -EINVAL: a queue missing or outside
 * guest RAM, the guest's fault (needs reset).
 */
static int vhost_activate(struct virtio_vsock *v)
{
	struct virtio_mmio_dev *vdev = &v->mmio;
	uint64_t features = vdev->acked & VHOST_TRANSPORT_BITS;
	int kicks[2], on = 1, r;

	for (unsigned int i = RXQ; i <= TXQ; i++) {
		/* vhost sees host addresses only: what they point to is checked here. */
		if (!vdev->queues[i].active || !vhost_ring_ok(&vdev->queues[i], vdev->env.mem)) {
			log_warn_ratelimited(&vdev->guest_err_rl,
					     "vsock: queue %u missing or outside guest RAM", i);
			return -EINVAL;
		}
		kicks[i] = virtio_mmio_kick_fd(vdev, i);
	}
	if (features & ~v->vh_features) {
		log_error("vsock: vhost-vsock lacks features %#llx",
			  (unsigned long long)(features & ~v->vh_features));
		return -ENOTSUP;
	}
	virtio_mmio_kick_to_device(vdev, RXQ, true);
	virtio_mmio_kick_to_device(vdev, TXQ, true);
	v->kicks_to_vhost = true;
	r = vhost_setup(v->vh_fd, vdev->env.mem, features, vdev->queues, kicks, 2, v->vh_call_fd,
			v->vh_err_fd);
	if (!r && ioctl(v->vh_fd, VHOST_VSOCK_SET_RUNNING, &on) < 0)
		r = -errno;
	if (r < 0) {
		log_error("vsock: vhost-vsock: %s", strerror(-r));
		kicks_to_loop(v);
		return r;
	}
	v->vh_running = true;
	/* Kicks that came before DRIVER_OK went to the loop: let vhost look at the rings. */
	virtio_mmio_kick_self(vdev, RXQ);
	virtio_mmio_kick_self(vdev, TXQ);
	log_debug("vsock: vhost-vsock running, features %#llx", (unsigned long long)features);
	return 0;
}

/* vhost used buffers and wants the driver interrupted (it applied EVENT_IDX already). */
static void vhost_call_event(void *opaque, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	eventfd_t val;

	(void)events;
	if (eventfd_read(v->vh_call_fd, &val) < 0)
		return;
	pthread_mutex_lock(&v->mmio.lock);
	if (v->vh_running && v->mmio.activated) {
		v->stats.vhost_irqs++;
		virtio_mmio_interrupt(&v->mmio, VIRTIO_INT_USED);
	}
	pthread_mutex_unlock(&v->mmio.lock);
}

/* vhost met a descriptor or ring it cannot use: the guest broke the device. */
static void vhost_err_event(void *opaque, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	eventfd_t val;

	(void)events;
	if (eventfd_read(v->vh_err_fd, &val) < 0)
		return;
	pthread_mutex_lock(&v->mmio.lock);
	if (v->vh_running) {
		v->stats.vhost_ring_errors++;
		log_warn_ratelimited(&v->mmio.guest_err_rl,
				     "vsock: vhost-vsock refused a ring or descriptor");
		vhost_stop(v);
		virtio_mmio_needs_reset(&v->mmio);
	}
	pthread_mutex_unlock(&v->mmio.lock);
}

int virtio_vsock_set_backend(const char *name)
{
	if (!strcmp(name, "auto"))
		default_backend = VIRTIO_VSOCK_BACKEND_AUTO;
	else if (!strcmp(name, "vhost"))
		default_backend = VIRTIO_VSOCK_BACKEND_VHOST;
	else if (!strcmp(name, "userspace"))
		default_backend = VIRTIO_VSOCK_BACKEND_USERSPACE;
	else
		return -EINVAL;
	return 0;
}

/* --vsock-backend vhost: open /dev/vhost-vsock and claim the CID, or a config error. */
static int vhost_open_cid(struct virtio_vsock *v, struct config_err *err)
{
	uint64_t cid = v->guest_cid;
	int r;

	r = vhost_open("/dev/vhost-vsock", &v->vh_fd, &v->vh_call_fd, &v->vh_err_fd,
		       &v->vh_features);
	if (r < 0) {
		config_err_set(err, "vsock: /dev/vhost-vsock: %s (--vsock-backend vhost)",
			       strerror(-r));
		return r;
	}
	if (ioctl(v->vh_fd, VHOST_VSOCK_SET_GUEST_CID, &cid) < 0) {
		r = -errno;
		if (r == -EADDRINUSE)
			config_err_set(err, "vsock.guest_cid: %llu is already used by another VM "
				       "on this host (--vsock-backend vhost)",
				       (unsigned long long)cid);
		else
			config_err_set(err, "vsock: VHOST_VSOCK_SET_GUEST_CID %llu: %s",
				       (unsigned long long)cid, strerror(-r));
		return r;
	}
	return 0;
}

/* ---- transport callbacks ---- */

static uint64_t vsock_features(struct virtio_mmio_dev *vdev)
{
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_INDIRECT_DESC) |
	       (1ULL << VIRTIO_F_RING_EVENT_IDX);
}

static void vsock_config_read(struct virtio_mmio_dev *vdev, uint32_t off, uint8_t *data,
			      uint32_t len)
{
	uint64_t cid = to_vsock(vdev)->guest_cid;

	memcpy(data, (const uint8_t *)&cid + off, len);
}

static int vsock_activate(struct virtio_mmio_dev *vdev)
{
	struct virtio_vsock *v = to_vsock(vdev);

	if (v->reset_pending)
		kill_all(v);
	log_debug("vsock: active, features %#llx", (unsigned long long)vdev->acked);
	return v->vh_fd >= 0 ? vhost_activate(v) : 0;
}

/*
 * Status 0, on a vCPU thread whose seccomp filter has no close(): nothing here touches
 * guest memory outside the VMM thread, so the connections are torn down there, and
 * running() is false until then.
 */
static void vsock_reset(struct virtio_mmio_dev *vdev)
{
	struct virtio_vsock *v = to_vsock(vdev);

	/* One ioctl, which waits for the vhost worker: the kernel lets go of the rings
	   before the transport forgets them. */
	vhost_stop(v);
	v->reset_pending = true;
	v->bridge_reset_pending = v->bridge != NULL;
	eventfd_write(v->work_fd, 1);
}

static void vsock_queue_notify(struct virtio_mmio_dev *vdev, unsigned int qidx)
{
	struct virtio_vsock *v = to_vsock(vdev);

	if (v->reset_pending)
		kill_all(v);
	if (v->vh_fd >= 0)
		return; /* vhost runs rx and tx; the event queue is never used */
	if (qidx == TXQ)
		process_tx(v);
	/* TX may have queued answers; the event queue is never used. */
	process_rx(v);
}

static const struct virtio_dev_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.features = vsock_features,
	.config_len = sizeof(uint64_t),
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
};

/* ---- lifecycle ---- */

static int listen_on(struct virtio_vsock *v, struct config_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v->uds_path);
	/* A socket left by an earlier run is replaced; any other file is not ours to remove. */
	if (lstat(v->uds_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			config_err_set(err, "vsock.uds_path: %s exists and is not a socket",
				       v->uds_path);
			return -EEXIST;
		}
		unlink(v->uds_path);
	}
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0)
		r = -errno;
	else if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	else if (listen(v->listen_fd, 128) < 0)
		r = -errno;
	else
		return 0;
	config_err_set(err, "vsock.uds_path: %s: %s", v->uds_path, strerror(-r));
	return r;
}

static int add_src(struct virtio_vsock *v, struct ev_source *src, int fd, ev_handler_fn fn,
		   bool *on)
{
	int r;

	*src = (struct ev_source){ .fd = fd, .fn = fn, .opaque = v };
	r = ev_add(v->mmio.env.loop, src, EPOLLIN);
	if (r == 0)
		*on = true;
	return r;
}

static void free_vsock(struct virtio_vsock *v, bool unlink_path)
{
	struct event_loop *loop = v->mmio.env.loop;

	if (v->conns)
		for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
			conn_kill(v, &v->conns[i], false);
	if (v->listen_on)
		ev_del(loop, &v->listen_src);
	if (v->timer_on)
		ev_del(loop, &v->timer_src);
	if (v->work_on)
		ev_del(loop, &v->work_src);
	if (v->call_on)
		ev_del(loop, &v->call_src);
	if (v->err_on)
		ev_del(loop, &v->err_src);
	vsock_bridge_destroy(v->bridge);
	if (v->vh_fd >= 0)
		close(v->vh_fd);
	if (v->vh_call_fd >= 0)
		close(v->vh_call_fd);
	if (v->vh_err_fd >= 0)
		close(v->vh_err_fd);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		if (unlink_path)
			unlink(v->uds_path);
	}
	if (v->timer_fd >= 0)
		close(v->timer_fd);
	if (v->work_fd >= 0)
		close(v->work_fd);
	free(v->conns);
	free(v->free_ring);
	free(v);
}

int virtio_vsock_create(struct virtio_vsock **out, const struct vsock_cfg *cfg,
			const struct virtio_mmio_env *env, uint64_t mmio_base,
			struct config_err *err)
{
	struct virtio_vsock *v;
	bool listening = false;
	int r;

	if (!cfg->uds_path || !cfg->uds_path[0] ||
	    strlen(cfg->uds_path) >= sizeof(v->uds_path)) {
		config_err_set(err, "vsock.uds_path: missing or too long");
		return -EINVAL;
	}
	if (cfg->guest_cid <= VSOCK_HOST_CID || cfg->guest_cid == UINT32_MAX) {
		config_err_set(err, "vsock.guest_cid: must be 3..%u", UINT32_MAX - 1);
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->listen_fd = v->timer_fd = v->work_fd = -1;
	v->vh_fd = v->vh_call_fd = v->vh_err_fd = -1;
	v->backend = default_backend;
	v->mmio.env = *env; /* for free_vsock before virtio_mmio_init */
	v->guest_cid = cfg->guest_cid;
	v->next_local_port = LOCAL_PORT_FIRST;
	snprintf(v->uds_path, sizeof(v->uds_path), "%s", cfg->uds_path);
	for (unsigned int i = 0; i < HASH_BUCKETS; i++)
		v->hash[i] = -1;
	v->conns = calloc(VSOCK_MAX_CONNS, sizeof(*v->conns));
	v->free_ring = calloc(VSOCK_MAX_CONNS, sizeof(*v->free_ring));
	if (!v->conns || !v->free_ring) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		v->conns[i] = (struct vsock_conn){ .fd = -1, .idx = (int32_t)i, .dev = v,
						   .hash_next = -1 };
		v->conns[i].src = (struct ev_source){ .fd = -1, .opaque = &v->conns[i] };
		v->free_ring[i] = (int32_t)i;
	}
	v->free_count = VSOCK_MAX_CONNS;

	if (v->backend == VIRTIO_VSOCK_BACKEND_VHOST) {
		r = vhost_open_cid(v, err);
		if (r < 0)
			goto fail;
		r = vsock_bridge_create(&v->bridge, env->loop, cfg->guest_cid, &v->mmio.lock);
		if (r < 0)
			goto fail;
	}
	r = listen_on(v, err);
	if (r < 0)
		goto fail;
	listening = true;
	v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	v->work_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->timer_fd < 0 || v->work_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = add_src(v, &v->listen_src, v->listen_fd, listen_event, &v->listen_on);
	if (!r)
		r = add_src(v, &v->timer_src, v->timer_fd, timer_event, &v->timer_on);
	if (!r)
		r = add_src(v, &v->work_src, v->work_fd, work_event, &v->work_on);
	if (!r && v->vh_fd >= 0)
		r = add_src(v, &v->call_src, v->vh_call_fd, vhost_call_event, &v->call_on);
	if (!r && v->vh_fd >= 0)
		r = add_src(v, &v->err_src, v->vh_err_fd, vhost_err_event, &v->err_on);
	if (!r)
		r = virtio_mmio_init(&v->mmio, &vsock_ops, v, env, mmio_base);
	if (r < 0)
		goto fail;
	if (v->vh_fd >= 0)
		log_info("vsock: guest CID %u, vhost-vsock backend: host programs use AF_VSOCK, "
			 "%s bridges CONNECT to it", cfg->guest_cid, v->uds_path);
	else if (v->backend == VIRTIO_VSOCK_BACKEND_AUTO)
		log_info("vsock: guest CID %u, host socket %s, userspace backend (auto: "
			 "vhost-vsock cannot keep the <uds_path>_<port> contract for guest "
			 "connections; --vsock-backend vhost asks for it)", cfg->guest_cid,
			 v->uds_path);
	else
		log_info("vsock: guest CID %u, host socket %s, userspace backend", cfg->guest_cid,
			 v->uds_path);
	*out = v;
	return 0;
fail:
	if (err && !err->msg[0])
		config_err_set(err, "vsock: %s", strerror(-r));
	v->mmio.env = *env;
	free_vsock(v, listening);
	return r;
}

struct virtio_mmio_dev *virtio_vsock_mmio(struct virtio_vsock *v)
{
	return &v->mmio;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	struct event_loop *loop;

	if (!v)
		return;
	loop = v->mmio.env.loop;
	/* vhost first: it holds the kick eventfds and writes guest memory until stopped. */
	vhost_stop(v);
	virtio_mmio_uninit(&v->mmio);
	v->mmio.env.loop = loop;
	free_vsock(v, true);
}

void virtio_vsock_get_stats(struct virtio_vsock *v, struct virtio_vsock_stats *out)
{
	pthread_mutex_lock(&v->mmio.lock);
	*out = v->stats;
	out->vhost = v->vh_running;
	if (v->bridge) {
		struct vsock_bridge_stats b;

		vsock_bridge_get_stats(v->bridge, &b);
		out->conns_opened = b.opened;
		out->conns_closed = b.closed;
		out->conns_refused = b.refused;
		out->conns_live = b.live;
		out->rx_bytes = b.to_guest_bytes;
		out->tx_bytes = b.from_guest_bytes;
	}
	pthread_mutex_unlock(&v->mmio.lock);
}
