// SPDX-License-Identifier: Apache-2.0
/* The VMM thread's epoll loop: dispatch, and removal of other sources mid-batch. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/eventloop.h"
#include "vmm/util.h"

#define NSRC 8

struct ctx {
	struct event_loop *loop;
	struct ev_source *src[NSRC];
	int calls[NSRC];
	int victim; /* the source the first handler to run removes and frees */
	int first;
};

static struct ctx *C;

static void handler(void *opaque, uint32_t events)
{
	int i = (int)(intptr_t)opaque;
	uint64_t v;

	(void)events;
	C->calls[i]++;
	if (read(C->src[i]->fd, &v, sizeof(v)) != sizeof(v))
		return;
	if (C->first < 0) {
		C->first = i;
		/* Remove another ready source of the same batch, then free it. */
		C->victim = (i + 1) % NSRC;
		ev_del(C->loop, C->src[C->victim]);
		close(C->src[C->victim]->fd);
		free(C->src[C->victim]);
		C->src[C->victim] = NULL;
	}
}

TEST(removed_source_is_not_dispatched_later_in_the_batch)
{
	struct event_loop loop;
	struct ctx c = { .loop = &loop, .first = -1 };
	uint64_t one = 1;
	int n;

	C = &c;
	CHECK(ev_loop_init(&loop) == 0);
	for (int i = 0; i < NSRC; i++) {
		c.src[i] = calloc(1, sizeof(*c.src[i]));
		c.src[i]->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		c.src[i]->fn = handler;
		c.src[i]->opaque = (void *)(intptr_t)i;
		CHECK(ev_add(&loop, c.src[i], EPOLLIN) == 0);
		CHECK(write(c.src[i]->fd, &one, sizeof(one)) == sizeof(one));
	}
	/* All eight are ready: one epoll_wait returns them together. */
	n = ev_loop_run_once(&loop, 1000);
	CHECK_EQ(n, NSRC);
	CHECK(c.first >= 0);
	/* Every source ran once except the victim, which never ran (its memory is gone). */
	for (int i = 0; i < NSRC; i++)
		CHECK_EQ(c.calls[i], i == c.victim ? 0 : 1);
	/* Nothing is left to dispatch. */
	CHECK_EQ(ev_loop_run_once(&loop, 0), 0);
	for (int i = 0; i < NSRC; i++) {
		if (!c.src[i])
			continue;
		ev_del(&loop, c.src[i]);
		close(c.src[i]->fd);
		free(c.src[i]);
	}
	ev_loop_destroy(&loop);
}

struct fake_poller {
	int polls, begins, ends, work, end_work, efd;
	bool idle, wake_at_end, wake_in_poll;
};

static bool fp_active(void *opaque)
{
	return !((struct fake_poller *)opaque)->idle;
}

static bool fp_poll(void *opaque)
{
	struct fake_poller *f = opaque;

	f->polls++;
	/* Once: an event arrives while the window is open. */
	if (f->wake_in_poll && f->polls == 1) {
		uint64_t one = 1;

		if (write(f->efd, &one, sizeof(one)) != sizeof(one))
			return false;
	}
	if (f->work) {
		f->work--;
		return true;
	}
	return false;
}

static void fp_begin(void *opaque)
{
	((struct fake_poller *)opaque)->begins++;
}

static bool fp_end(void *opaque)
{
	struct fake_poller *f = opaque;
	uint64_t one = 1;

	f->ends++;
	/* An event right after a fruitless window: a wider one would have caught it. */
	if (f->wake_at_end && write(f->efd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd write of 1 cannot fail here */
	/* Work that came just before notifications went back on. */
	if (f->end_work) {
		f->end_work--;
		return true;
	}
	return false;
}

static void drain_efd(void *opaque, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(*(int *)opaque, &v, sizeof(v)) != sizeof(v))
		return;
}

/*
 * Adaptive polling: off until a bound is set and while no poller is active; the window
 * opens after a quick wake-up, doubles while events come right after fruitless windows,
 * halves to nothing after long sleeps; a ready source is dispatched without a window;
 * work found in a window is handled without sleeping and keeps the spell on; begin and
 * end pair up.
 */
TEST(adaptive_polling_window)
{
	struct event_loop loop;
	struct fake_poller f = { 0 };
	struct ev_poller p = { .active = fp_active, .poll = fp_poll, .begin = fp_begin,
			       .end = fp_end, .opaque = &f };
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct ev_source src = { .fd = efd, .fn = drain_efd, .opaque = &efd };
	uint64_t one = 1, t0;
	int i;

	f.efd = efd;
	CHECK(ev_loop_init(&loop) == 0);
	CHECK(efd >= 0 && ev_add(&loop, &src, EPOLLIN) == 0);
	ev_poller_add(&loop, &p);
	/* Off by default. */
	CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	CHECK_EQ(ev_loop_run_once(&loop, 100), 1);
	CHECK_EQ(f.polls, 0);
	CHECK_EQ(loop.poll_ns, 0);

	ev_loop_set_poll_max(&loop, 1000000);
	/* No active poller: quick wake-ups open nothing. */
	f.idle = true;
	CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	CHECK_EQ(ev_loop_run_once(&loop, 100), 1);
	CHECK_EQ(loop.poll_ns, 0);
	f.idle = false;
	/* A wake-up within the bound opens the window at its first width (a few tries: a
	 * loaded machine may hold this thread off longer than the bound). */
	for (i = 0; i < 10 && loop.poll_ns == 0; i++) {
		CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
		CHECK_EQ(ev_loop_run_once(&loop, 100), 1);
	}
	CHECK_EQ(f.polls, 0);
	CHECK_EQ(loop.poll_ns, EV_POLL_START_NS);
	/* A source already ready is dispatched at once, without a window. */
	CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	CHECK_EQ(ev_loop_run_once(&loop, 100), 1);
	CHECK_EQ(f.begins, 0);
	/* A source that becomes ready during a window ends it (within EV_POLL_CHECK_NS). */
	ev_loop_set_poll_max(&loop, 10000000000ULL);
	loop.poll_ns = 10000000000ULL; /* 10 s */
	f.wake_at_end = false;
	f.wake_in_poll = true;
	t0 = util_now_ns();
	CHECK_EQ(ev_loop_run_once(&loop, 10000), 1);
	CHECK(util_now_ns() - t0 < 1000000000ULL);
	CHECK_EQ(f.begins, 1);
	CHECK_EQ(f.ends, 1);
	f.wake_in_poll = false;
	f.begins = f.ends = 0;
	ev_loop_set_poll_max(&loop, 1000000);
	loop.poll_ns = EV_POLL_START_NS;
	/* Work found while polling: handled, no sleep (the timeout would be 10 s), and the
	 * spell goes on through the next window without another begin(). */
	f.work = 2;
	i = f.polls;
	t0 = util_now_ns();
	CHECK_EQ(ev_loop_run_once(&loop, 10000), 1);
	CHECK_EQ(ev_loop_run_once(&loop, 10000), 1);
	CHECK(util_now_ns() - t0 < 1000000000ULL);
	CHECK_EQ(f.polls - i, 2); /* each window found work at its first look */
	CHECK_EQ(f.begins, 1);
	CHECK_EQ(f.ends, 0);
	CHECK_EQ(loop.poll_ns, EV_POLL_START_NS);
	/* Events right after fruitless windows widen them up to the bound. */
	f.wake_at_end = true;
	for (i = 0; i < 20 && loop.poll_ns < 1000000; i++)
		CHECK_EQ(ev_loop_run_once(&loop, 100), 1);
	CHECK_EQ(loop.poll_ns, 1000000);
	f.wake_at_end = false;
	CHECK_EQ(f.begins, f.ends);
	/* Sleeps longer than the bound narrow it, then close it. */
	CHECK_EQ(ev_loop_run_once(&loop, 5), 0);
	CHECK_EQ(loop.poll_ns, 500000);
	for (i = 0; i < 10 && loop.poll_ns; i++)
		CHECK_EQ(ev_loop_run_once(&loop, 5), 0);
	CHECK_EQ(loop.poll_ns, 0);
	CHECK_EQ(loop.poll_stats.hits, 2);
	CHECK(loop.poll_stats.windows >= 10);
	CHECK_EQ(f.begins, f.ends);
	ev_poller_del(&loop, &p);
	CHECK(loop.pollers == NULL);
	ev_del(&loop, &src);
	close(efd);
	ev_loop_destroy(&loop);
}

/*
 * A spell started by a device's handler (a kick) rather than by a window: only while
 * polling is on; the loop ends every spell before it sleeps, windows or not (a
 * suppressed kick would be lost), handles what end() found without sleeping, ends an
 * idle poller's spell too, and leaves spells on through passes that do not block.
 */
TEST(polling_spell_ends_before_the_loop_sleeps)
{
	struct event_loop loop;
	struct fake_poller f = { 0 };
	struct ev_poller p = { .active = fp_active, .poll = fp_poll, .begin = fp_begin,
			       .end = fp_end, .opaque = &f };
	uint64_t t0;

	CHECK(ev_loop_init(&loop) == 0);
	ev_poller_add(&loop, &p);
	CHECK(!ev_poller_start(&loop, &p)); /* polling off */
	ev_loop_set_poll_max(&loop, 1000000);
	CHECK(ev_poller_start(&loop, &p));
	CHECK(ev_poller_start(&loop, &p)); /* goes on with it: still one end() */
	CHECK_EQ(loop.poll_ns, 0); /* no window: ended before the wait all the same */
	CHECK_EQ(ev_loop_run_once(&loop, 5), 0);
	CHECK_EQ(f.begins, 0); /* the device began it itself */
	CHECK_EQ(f.ends, 1);
	/* What end() found is handled: no sleep (the timeout would be 10 s). */
	f.end_work = 1;
	CHECK(ev_poller_start(&loop, &p));
	t0 = util_now_ns();
	CHECK_EQ(ev_loop_run_once(&loop, 10000), 1);
	CHECK(util_now_ns() - t0 < 1000000000ULL);
	CHECK_EQ(f.ends, 2);
	/* A poller gone idle in a spell. */
	f.idle = true;
	CHECK(ev_poller_start(&loop, &p));
	CHECK_EQ(ev_loop_run_once(&loop, 5), 0);
	CHECK_EQ(f.ends, 3);
	/* A window that found work, then the poller went idle. */
	f.idle = false;
	loop.poll_ns = EV_POLL_START_NS;
	f.work = 1;
	CHECK_EQ(ev_loop_run_once(&loop, 10000), 1);
	CHECK_EQ(f.begins, 1);
	CHECK_EQ(f.ends, 3);
	f.idle = true;
	CHECK_EQ(ev_loop_run_once(&loop, 5), 0);
	CHECK_EQ(f.ends, 4);
	/* Passes that do not block leave it on. */
	CHECK(ev_poller_start(&loop, &p));
	CHECK_EQ(ev_loop_run_once(&loop, 0), 0);
	CHECK_EQ(f.ends, 4);
	CHECK_EQ(ev_loop_run_once(&loop, 5), 0);
	CHECK_EQ(f.ends, 5);
	ev_poller_del(&loop, &p);
	ev_loop_destroy(&loop);
}
