// SPDX-License-Identifier: Apache-2.0
/*
 * Unix socket <-> AF_VSOCK bridge of the vhost-vsock backend (see vsock_bridge.h).
 *
 * Connections live in a fixed pool, so an event fetched for a connection closed earlier
 * in the same epoll batch lands on valid memory; every handler copes with a spurious
 * event (EAGAIN). Each connection is driven by one function, bconn_pump(), that moves
 * whatever can move and then watches each socket for exactly what would let it move
 * more, taking a socket off epoll when that is nothing (a hung-up socket would otherwise
 * wake the loop forever).
 */
#include "vmm/virtio/vsock_bridge.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/virtio/vsock.h"

#define NS_PER_S 1000000000ULL
#define PUMP_ROUNDS 16

enum bstate {
	B_FREE = 0,
	B_LINE, /* waiting for "CONNECT <port>\n" */
	B_CONNECTING, /* AF_VSOCK connect in progress */
	B_SPLICE,
};

/* Bytes on their way from one socket to the other: [off, len) is still to be written. */
struct bbuf {
	uint8_t *data;
	uint32_t off, len;
	bool eof; /* the source said EOF */
	bool shut; /* passed on: SHUT_WR done on the destination */
};

struct bside {
	struct ev_source src;
	int fd;
	uint32_t events; /* watched for; 0: off epoll */
};

struct bconn {
	struct vsock_bridge *b;
	enum bstate state;
	struct bside u, v; /* the Unix client, the AF_VSOCK stream */
	struct bbuf u2v, v2u;
	char line[VSOCK_CONNECT_LINE_MAX];
	uint32_t line_len;
	uint64_t deadline_ns; /* B_LINE, B_CONNECTING; 0: none */
};

struct vsock_bridge {
	struct event_loop *loop;
	pthread_mutex_t *lock;
	uint32_t guest_cid;
	int timer_fd;
	struct ev_source timer_src;
	bool timer_on, timer_armed;
	struct bconn conns[VSOCK_BRIDGE_MAX_CONNS];
	struct vsock_bridge_stats stats;
};

static void side_watch(struct vsock_bridge *b, struct bside *s, uint32_t events)
{
	int r = 0;

	if (s->fd < 0 || events == s->events)
		return;
	s->src.fd = s->fd;
	if (!events)
		r = ev_del(b->loop, &s->src);
	else if (!s->events)
		r = ev_add(b->loop, &s->src, events);
	else
		r = ev_mod(b->loop, &s->src, events);
	if (r < 0)
		log_error("vsock bridge: epoll: %s", strerror(-r));
	else
		s->events = events;
}

static void side_close(struct vsock_bridge *b, struct bside *s)
{
	side_watch(b, s, 0);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->events = 0;
}

static void bconn_close(struct bconn *c, bool refused)
{
	struct vsock_bridge *b = c->b;

	if (c->state == B_FREE)
		return;
	if (refused)
		b->stats.refused++;
	else
		b->stats.closed++;
	b->stats.live--;
	side_close(b, &c->u);
	side_close(b, &c->v);
	free(c->u2v.data);
	free(c->v2u.data);
	c->u2v = (struct bbuf){ 0 };
	c->v2u = (struct bbuf){ 0 };
	c->state = B_FREE;
	c->deadline_ns = 0;
}

static void arm_timer(struct vsock_bridge *b)
{
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };

	if (!b->timer_armed && timerfd_settime(b->timer_fd, 0, &its, NULL) == 0)
		b->timer_armed = true;
}

/* Move data from fd into buf. 0: progress or EAGAIN; -errno: the connection is broken. */
static int fill(int fd, struct bbuf *buf, uint64_t *count)
{
	ssize_t n;

	if (buf->eof || buf->len >= VSOCK_BRIDGE_BUF)
		return 0;
	n = recv(fd, buf->data + buf->len, VSOCK_BRIDGE_BUF - buf->len, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		buf->eof = true;
	buf->len += (uint32_t)n;
	*count += (uint64_t)n;
	return 0;
}

/* Move buf's bytes to fd (adding them to *moved), and the EOF once they are gone. */
static int drain(int fd, struct bbuf *buf, uint64_t *moved)
{
	if (buf->off < buf->len) {
		ssize_t n = send(fd, buf->data + buf->off, buf->len - buf->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		buf->off += (uint32_t)n;
		*moved += (uint64_t)n;
		if (buf->off == buf->len)
			buf->off = buf->len = 0;
	}
	if (buf->eof && !buf->shut && buf->off == buf->len) {
		if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
		buf->shut = true;
	}
	return 0;
}

static void start_connect(struct bconn *c, uint32_t port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = c->b->guest_cid,
				  .svm_port = port };

	c->v.fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->v.fd < 0) {
		log_warn("vsock bridge: AF_VSOCK socket: %s", strerror(errno));
		bconn_close(c, true);
		return;
	}
	if (connect(c->v.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		log_debug("vsock bridge: connect to %u:%u: %s", c->b->guest_cid, port,
			  strerror(errno));
		bconn_close(c, true);
		return;
	}
	log_debug("vsock bridge: connecting to guest port %u", port);
	c->state = B_CONNECTING;
}

/* B_LINE: read the CONNECT line; bytes after it are the stream's first. */
static void read_line(struct bconn *c)
{
	uint32_t port = 0;
	ssize_t n;
	int r;

	n = recv(c->u.fd, c->line + c->line_len, sizeof(c->line) - c->line_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		bconn_close(c, true);
		return;
	}
	c->line_len += (uint32_t)n;
	r = vsock_parse_connect(c->line, c->line_len, &port);
	if (r == 0)
		return;
	if (r < 0) {
		log_debug("vsock bridge: malformed CONNECT line");
		bconn_close(c, true);
		return;
	}
	memcpy(c->u2v.data, c->line + r, c->line_len - (uint32_t)r);
	c->u2v.len = c->line_len - (uint32_t)r;
	c->b->stats.to_guest_bytes += c->u2v.len;
	start_connect(c, port);
}

/* B_CONNECTING: did the guest accept? */
static void check_connected(struct bconn *c)
{
	struct sockaddr_vm sa;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->v.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	len = sizeof(sa);
	if (!err && getsockname(c->v.fd, (struct sockaddr *)&sa, &len) < 0)
		err = errno;
	if (!err) {
		struct sockaddr_vm peer;
		socklen_t plen = sizeof(peer);

		/* Writable without an error but not connected yet: keep waiting. */
		if (getpeername(c->v.fd, (struct sockaddr *)&peer, &plen) < 0) {
			if (errno == ENOTCONN)
				return;
			err = errno;
		}
	}
	if (err) {
		log_debug("vsock bridge: connect: %s", strerror(err));
		bconn_close(c, true);
		return;
	}
	/* The answer goes ahead of anything the guest sends. */
	c->v2u.len = (uint32_t)snprintf((char *)c->v2u.data, VSOCK_BRIDGE_BUF, "OK %u\n",
					sa.svm_port);
	c->state = B_SPLICE;
	c->deadline_ns = 0;
	c->b->stats.opened++;
}

static void bconn_pump(struct bconn *c)
{
	struct vsock_bridge *b = c->b;
	uint32_t ue = 0, ve = 0;
	int r = 0;

	if (c->state == B_LINE)
		read_line(c);
	if (c->state == B_CONNECTING)
		check_connected(c);
	for (int i = 0; c->state == B_SPLICE && i < PUMP_ROUNDS; i++) {
		uint64_t moved = 0, filled = b->stats.from_guest_bytes + b->stats.to_guest_bytes;
		int eofs = c->u2v.eof + c->v2u.eof + c->u2v.shut + c->v2u.shut;

		r = fill(c->u.fd, &c->u2v, &b->stats.to_guest_bytes);
		if (!r)
			r = fill(c->v.fd, &c->v2u, &b->stats.from_guest_bytes);
		if (!r)
			r = drain(c->v.fd, &c->u2v, &moved);
		if (!r)
			r = drain(c->u.fd, &c->v2u, &moved);
		if (r < 0)
			break;
		/* Nothing moved and no EOF news: what is left waits for epoll. */
		if (!moved && filled == b->stats.from_guest_bytes + b->stats.to_guest_bytes &&
		    eofs == c->u2v.eof + c->v2u.eof + c->u2v.shut + c->v2u.shut)
			break;
	}
	if (r < 0 || (c->u2v.shut && c->v2u.shut)) {
		if (r < 0)
			log_debug("vsock bridge: %s", strerror(-r));
		bconn_close(c, false);
		return;
	}
	switch (c->state) {
	case B_FREE:
		return;
	case B_LINE:
		ue = EPOLLIN;
		break;
	case B_CONNECTING:
		/* A guest answering with buf_alloc 0 never makes the socket writable; its
		   first bytes make it readable, and the timer looks in the meantime. */
		ve = EPOLLIN | EPOLLOUT;
		break;
	case B_SPLICE:
		if (!c->u2v.eof && c->u2v.len < VSOCK_BRIDGE_BUF)
			ue |= EPOLLIN;
		if (!c->v2u.eof && c->v2u.len < VSOCK_BRIDGE_BUF)
			ve |= EPOLLIN;
		if (c->u2v.off < c->u2v.len)
			ve |= EPOLLOUT;
		if (c->v2u.off < c->v2u.len)
			ue |= EPOLLOUT;
		break;
	}
	side_watch(b, &c->u, ue);
	side_watch(b, &c->v, ve);
}

static void bconn_event(void *opaque, uint32_t events)
{
	struct bconn *c = opaque;
	struct vsock_bridge *b = c->b;

	(void)events;
	if (b->lock)
		pthread_mutex_lock(b->lock);
	if (c->state != B_FREE)
		bconn_pump(c);
	if (b->lock)
		pthread_mutex_unlock(b->lock);
}

static void timer_event(void *opaque, uint32_t events)
{
	struct vsock_bridge *b = opaque;
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	uint64_t ticks, now = util_now_ns();
	bool any = false;

	(void)events;
	if (read(b->timer_fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	if (b->lock)
		pthread_mutex_lock(b->lock);
	for (unsigned int i = 0; i < VSOCK_BRIDGE_MAX_CONNS; i++) {
		struct bconn *c = &b->conns[i];

		if (c->state == B_CONNECTING)
			bconn_pump(c); /* connected without a wakeup (no credit yet)? */
		if (c->state == B_FREE || !c->deadline_ns)
			continue;
		if (c->deadline_ns <= now) {
			log_debug("vsock bridge: %s timed out", c->state == B_LINE ?
				  "CONNECT line" : "connect");
			bconn_close(c, true);
		} else {
			any = true;
		}
	}
	if (!any && timerfd_settime(b->timer_fd, 0, &off, NULL) == 0)
		b->timer_armed = false;
	if (b->lock)
		pthread_mutex_unlock(b->lock);
}

void vsock_bridge_accept(struct vsock_bridge *b, int fd)
{
	struct bconn *c = NULL;

	for (unsigned int i = 0; i < VSOCK_BRIDGE_MAX_CONNS && !c; i++)
		if (b->conns[i].state == B_FREE)
			c = &b->conns[i];
	if (!c) {
		b->stats.refused++;
		close(fd);
		return;
	}
	c->u2v.data = malloc(VSOCK_BRIDGE_BUF);
	c->v2u.data = malloc(VSOCK_BRIDGE_BUF);
	if (!c->u2v.data || !c->v2u.data) {
		free(c->u2v.data);
		free(c->v2u.data);
		c->u2v.data = c->v2u.data = NULL;
		b->stats.refused++;
		close(fd);
		return;
	}
	c->state = B_LINE;
	c->u.fd = fd;
	c->v.fd = -1;
	c->u.events = c->v.events = 0;
	c->line_len = 0;
	c->deadline_ns = util_now_ns() + VSOCK_CONNECT_TIMEOUT_S * NS_PER_S;
	b->stats.live++;
	arm_timer(b);
	bconn_pump(c);
}

void vsock_bridge_get_stats(struct vsock_bridge *b, struct vsock_bridge_stats *out)
{
	*out = b->stats;
}

int vsock_bridge_create(struct vsock_bridge **out, struct event_loop *loop, uint32_t guest_cid,
			pthread_mutex_t *lock)
{
	struct vsock_bridge *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->loop = loop;
	b->lock = lock;
	b->guest_cid = guest_cid;
	for (unsigned int i = 0; i < VSOCK_BRIDGE_MAX_CONNS; i++) {
		struct bconn *c = &b->conns[i];

		c->b = b;
		c->u.fd = c->v.fd = -1;
		c->u.src = (struct ev_source){ .fd = -1, .fn = bconn_event, .opaque = c };
		c->v.src = c->u.src;
	}
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->timer_fd < 0) {
		r = -errno;
		free(b);
		return r;
	}
	b->timer_src = (struct ev_source){ .fd = b->timer_fd, .fn = timer_event, .opaque = b };
	r = ev_add(loop, &b->timer_src, EPOLLIN);
	if (r < 0) {
		close(b->timer_fd);
		free(b);
		return r;
	}
	b->timer_on = true;
	*out = b;
	return 0;
}

void vsock_bridge_reset(struct vsock_bridge *b)
{
	if (!b)
		return;
	for (unsigned int i = 0; i < VSOCK_BRIDGE_MAX_CONNS; i++)
		bconn_close(&b->conns[i], false);
}

void vsock_bridge_destroy(struct vsock_bridge *b)
{
	if (!b)
		return;
	for (unsigned int i = 0; i < VSOCK_BRIDGE_MAX_CONNS; i++)
		bconn_close(&b->conns[i], false);
	if (b->timer_on)
		ev_del(b->loop, &b->timer_src);
	close(b->timer_fd);
	free(b);
}
