/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM thread's epoll loop. Devices register eventfds (queue kicks, TAP, sockets,
 * timers) with a callback; handlers run on the VMM thread only and must not block.
 * ev_add/ev_del may be called from any thread (epoll_ctl is thread-safe), but a handler
 * must be removed by the thread that owns the fd before the fd is closed.
 */
#ifndef VMM_EVENTLOOP_H
#define VMM_EVENTLOOP_H

#include <stdint.h>

typedef void (*ev_handler_fn)(void *opaque, uint32_t events);

struct ev_source {
	int fd;
	ev_handler_fn fn;
	void *opaque;
};

struct event_loop {
	int epfd;
};

/* 0 or -errno. */
int ev_loop_init(struct event_loop *loop);
void ev_loop_destroy(struct event_loop *loop);
/*
 * Watch src->fd for events (EPOLLIN etc.). src must stay valid until ev_del(); it is
 * owned by the caller (usually embedded in the device). 0 or -errno.
 */
int ev_add(struct event_loop *loop, struct ev_source *src, uint32_t events);
int ev_mod(struct event_loop *loop, struct ev_source *src, uint32_t events);
/*
 * Stop watching src. From a handler of this loop (on its thread), src's events still
 * pending in the batch being dispatched are dropped too, so src may be freed or reused
 * as soon as this returns, even when src is not the handler's own source.
 */
int ev_del(struct event_loop *loop, struct ev_source *src);
/* Wait up to timeout_ms (-1: forever) and dispatch ready sources. Returns the number handled or -errno. */
int ev_loop_run_once(struct event_loop *loop, int timeout_ms);

#endif
