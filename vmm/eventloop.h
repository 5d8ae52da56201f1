/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM thread's epoll loop. Devices register eventfds (queue kicks, TAP, sockets,
 * timers) with a callback; handlers run on the VMM thread only and must not block.
 * ev_add/ev_del may be called from any thread (epoll_ctl is thread-safe), but a handler
 * must be removed by the thread that owns the fd before the fd is closed.
 */
#ifndef VMM_EVENTLOOP_H
#define VMM_EVENTLOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*ev_handler_fn)(void *opaque, uint32_t events);

struct ev_source {
	int fd;
	ev_handler_fn fn;
	void *opaque;
};

/*
 * A device that can look for work without an event (a virtqueue's avail index, an
 * io_uring's completion ring). Adaptive polling, as QEMU's AioContext does it: before
 * sleeping in epoll_wait the loop calls its pollers for up to poll_ns, so that a guest
 * submitting its next batch right after a completion finds the device awake and need
 * not exit to kick it. Only while some poller is active (busy lately: an idle or
 * stopped device is not worth a window, and other devices' traffic must not open one).
 * begin() and end() bracket a polling spell: a device turns its guest notifications off
 * in begin() and back on in end(), where it also handles what arrived in between (true
 * if it did). A spell lasts from a poller's first window while windows keep finding
 * work, handlers and all, so that the guest's next batch, posted while the loop is still
 * busy with this one, costs no kick either; it ends with a fruitless window, when the
 * poller goes idle, and always before the loop blocks; a pass that runs no window (other
 * sources ready) gives each poller in a spell one look. All run on the loop's thread,
 * and end() may take its device's lock: a handler holding that lock must not run the
 * loop (ev_loop_run_once) with a timeout.
 */
struct ev_poller {
	bool (*active)(void *opaque);
	bool (*poll)(void *opaque); /* work found and done: true */
	void (*begin)(void *opaque);
	bool (*end)(void *opaque);
	void *opaque;
	struct ev_poller *next;
	bool in_window; /* active() said yes: takes part in this window */
	bool polling; /* in a spell (begun by a window or by ev_poller_start): end() due */
};

/* Windows only: work that a spell's end() or a pass's one look found is not counted. */
struct ev_poll_stats {
	uint64_t windows; /* polling windows opened */
	uint64_t hits; /* windows that found work */
	uint64_t ns; /* time spent polling */
};

struct event_loop {
	int epfd;
	struct ev_poller *pollers;
	/*
	 * While a poller is active: poll_ns grows (doubling from EV_POLL_START_NS, up to
	 * poll_max_ns) when the loop is woken after a fruitless window but within
	 * poll_max_ns of starting to wait, and halves (to 0 below EV_POLL_START_NS) after a
	 * longer wait. poll_max_ns 0: never poll.
	 */
	uint64_t poll_ns, poll_max_ns;
	struct ev_poll_stats poll_stats;
};

#define EV_POLL_START_NS 4000ULL
/* The VMM's bound unless --poll-max-us says otherwise. */
#define EV_POLL_MAX_US_DEFAULT 32

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
/*
 * Poll (see struct ev_poller) if the window is open and no source is ready (one that
 * becomes ready ends the window within 8 us), end every spell before waiting, then wait
 * up to timeout_ms (-1: forever; not at all when polling found work) and dispatch ready
 * sources; a pass without a window gives pollers in a spell one look. Returns the
 * number of sources dispatched plus one if polling found work, or -errno.
 */
int ev_loop_run_once(struct event_loop *loop, int timeout_ms);

/* The polling window's upper bound; 0 (the default) turns polling off. */
void ev_loop_set_poll_max(struct event_loop *loop, uint64_t ns);
/* Add or remove a poller: on the loop's thread, or while no thread runs the loop. A
   poller removed during a spell is not ended (end() would serve its queue): remove only
   those of devices that are going away. */
void ev_poller_add(struct event_loop *loop, struct ev_poller *p);
void ev_poller_del(struct event_loop *loop, struct ev_poller *p);
/*
 * Start p's spell outside a window, or go on with it, from a handler of its device (a
 * kick: the guest's next batch may come before the loop polls again). true when polling
 * is on: the caller then turns its notifications off as begin() would (it may hold the
 * lock begin() takes), again if need be: a spell whose begin() found the device busy or
 * reset since suppresses nothing, and the guest's kicks are what show it. The loop ends
 * the spell as any other.
 */
bool ev_poller_start(struct event_loop *loop, struct ev_poller *p);

#endif
