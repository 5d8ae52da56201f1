// SPDX-License-Identifier: Apache-2.0
#include "vmm/eventloop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EV_BATCH 32

/* The batch this thread is dispatching, and its loop: only this thread touches them. */
static __thread struct event_loop *cur_loop;
static __thread struct epoll_event *cur_batch;
static __thread int cur_n, cur_next;

int ev_loop_init(struct event_loop *loop)
{
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

int ev_loop_run_once(struct event_loop *loop, int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];
	struct event_loop *outer_loop = cur_loop;
	struct epoll_event *outer_batch = cur_batch;
	int outer_n = cur_n, outer_next = cur_next;
	int n = epoll_wait(loop->epfd, evs, EV_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
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
	return n;
}
