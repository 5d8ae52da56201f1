// SPDX-License-Identifier: Apache-2.0
/* The VMM thread's epoll loop: dispatch, and removal of other sources mid-batch. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/eventloop.h"

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
