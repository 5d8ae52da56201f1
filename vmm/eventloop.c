// SPDX-License-Identifier: Apache-2.0
#include "vmm/eventloop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm/util.h"

#define EV_BATCH 32

/* The batch this thread is dispatching, and its loop: only this thread touches them. */
static __thread struct event_loop *cur_loop;
static __thread struct epoll_event *cur_batch;
static __thread int cur_n, cur_next;

int ev_loop_init(struct event_loop *loop)
{
	*loop = (struct event_loop){ 0 };
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void ev_loop_destroy(struct event_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

int ev_add(struct event_loop *loop, struct ev_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

int ev_mod(struct event_loop *loop, struct ev_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0 ? -errno : 0;
}

int ev_del(struct event_loop *loop, struct ev_source *src)
{
	if (cur_loop == loop)
		for (int i = cur_next; i < cur_n; i++)
			if (cur_batch[i].data.ptr == src)
				cur_batch[i].data.ptr = NULL;
	return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, src->fd, NULL) < 0 ? -errno : 0;
}

void ev_loop_set_poll_max(struct event_loop *loop, uint64_t ns)
{
	loop->poll_max_ns = ns;
	if (loop->poll_ns > ns)
		loop->poll_ns = ns;
}

void ev_poller_add(struct event_loop *loop, struct ev_poller *p)
{
	p->next = loop->pollers;
	loop->pollers = p;
}

void ev_poller_del(struct event_loop *loop, struct ev_poller *p)
{
	for (struct ev_poller **pp = &loop->pollers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			p->polling = false;
			return;
		}
	}
}

bool ev_poller_start(struct event_loop *loop, struct ev_poller *p)
{
	if (!loop->poll_max_ns)
		return false;
	p->polling = true;
	return true;
}

/* Ready sources are looked for this often during a window: they must not wait it out. */
#define EV_POLL_CHECK_NS 8000ULL

/* Marks the active pollers (only they take part in a window); true if any is. */
static bool pollers_active(struct event_loop *loop)
{
	bool any = false;

	for (struct ev_poller *p = loop->pollers; p; p = p->next) {
		p->in_window = p->active(p->opaque);
		any |= p->in_window;
	}
	return any;
}

/*
 * End the spell of every polling poller, or (all false) only of those left out of the
 * current window. Notifications go back on; what came in between is handled there
 * (no kick for it): true if some was.
 */
static bool end_spells(struct event_loop *loop, bool all)
{
	bool found = false;

	for (struct ev_poller *p = loop->pollers; p; p = p->next) {
		if (p->polling && (all || !p->in_window)) {
			p->polling = false;
			found |= p->end(p->opaque);
		}
	}
	return found;
}

/*
 * One look by each poller in a spell, for a pass that runs no window (sources were
 * ready, or the caller does not block): with their kicks off, a queue would otherwise
 * wait for as long as other sources keep the loop busy. True if one found work.
 */
static bool poll_spells(struct event_loop *loop)
{
	bool found = false;

	for (struct ev_poller *p = loop->pollers; p; p = p->next)
		if (p->polling)
			found |= p->poll(p->opaque);
	return found;
}

/*
 * One polling window over the active pollers: true when one found work. Sources that
 * become ready meanwhile end it early, with *n and evs set by the epoll_wait(0) that
 * saw them. A window that found work leaves the spell on.
 */
static bool run_pollers(struct event_loop *loop, uint64_t t0, struct epoll_event *evs, int *n)
{
	uint64_t end = t0 + loop->poll_ns, check = t0 + EV_POLL_CHECK_NS, now;
	bool found = false;
	struct ev_poller *p;

	*n = 0;
	for (p = loop->pollers; p; p = p->next) {
		if (p->in_window && !p->polling) {
			p->polling = true;
			p->begin(p->opaque);
		}
	}
	do {
		for (p = loop->pollers; p; p = p->next)
			if (p->in_window)
				found |= p->poll(p->opaque);
		now = util_now_ns();
		if (!found && now >= check) {
			*n = epoll_wait(loop->epfd, evs, EV_BATCH, 0);
			check = now + EV_POLL_CHECK_NS;
		}
	} while (!found && *n == 0 && now < end);
	if (end_spells(loop, !found))
		found = true;
	loop->poll_stats.windows++;
	loop->poll_stats.hits += found;
	loop->poll_stats.ns += util_now_ns() - t0;
	return found;
}

/* After a wait of wait_ns (polling included): widen or narrow the next window. */
static void adapt(struct event_loop *loop, uint64_t wait_ns)
{
	if (wait_ns > loop->poll_max_ns)
		loop->poll_ns = loop->poll_ns / 2 < EV_POLL_START_NS ? 0 : loop->poll_ns / 2;
	else if (loop->poll_ns < loop->poll_max_ns)
		loop->poll_ns = loop->poll_ns ? MIN(2 * loop->poll_ns, loop->poll_max_ns)
					      : MIN(EV_POLL_START_NS, loop->poll_max_ns);
}

int ev_loop_run_once(struct event_loop *loop, int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];
	struct event_loop *outer_loop = cur_loop;
	struct epoll_event *outer_batch = cur_batch;
	int outer_n = cur_n, outer_next = cur_next;
	bool adaptive = loop->poll_max_ns && timeout_ms != 0 && loop->pollers;
	uint64_t t0 = 0;
	int n = 0, found = 0, err = 0;
	bool windowed = false;

	if (adaptive && !pollers_active(loop)) {
		loop->poll_ns = 0; /* idle: the next busy spell starts small */
		adaptive = false;
	}
	if (adaptive)
		t0 = util_now_ns();
	if (adaptive && loop->poll_ns) {
		/* What is ready already goes first: a window would only delay it. */
		n = epoll_wait(loop->epfd, evs, EV_BATCH, 0);
		windowed = n == 0;
		if (windowed && run_pollers(loop, t0, evs, &n)) {
			found = 1;
			timeout_ms = 0; /* work done: only collect what else is ready */
		}
		if (n != 0 || found)
			adaptive = false;
	}
	/*
	 * Never asleep with notifications off: a kick would be lost. What end() finds
	 * counts as a quick wake-up for adapt() (the guest came back within the window),
	 * timed before end() served it.
	 */
	if (n == 0 && timeout_ms != 0) {
		uint64_t t1 = adaptive ? util_now_ns() : 0;

		if (end_spells(loop, true)) {
			found = 1;
			timeout_ms = 0;
			if (adaptive)
				adapt(loop, t1 - t0);
			adaptive = false;
		}
	}
	if (n == 0)
		n = epoll_wait(loop->epfd, evs, EV_BATCH, timeout_ms);
	if (n < 0)
		err = errno;
	if (!windowed && poll_spells(loop))
		found = 1;
	if (adaptive)
		adapt(loop, util_now_ns() - t0);
	if (n < 0)
		return err == EINTR ? found : -err;
	cur_loop = loop;
	cur_batch = evs;
	cur_n = n;
	for (int i = 0; i < n; i++) {
		struct ev_source *src = evs[i].data.ptr;

		cur_next = i + 1;
		if (src) /* NULL: removed by an earlier handler of this batch */
			src->fn(src->opaque, evs[i].events);
	}
	/* A handler may run a nested loop (tests do): give the outer batch back. */
	cur_loop = outer_loop;
	cur_batch = outer_batch;
	cur_n = outer_n;
	cur_next = outer_next;
	return n + found;
}
