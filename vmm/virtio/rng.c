// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/rate_limiter.h"
#include "vmm/util.h"
#include "vmm/virtio/queue.h"

#define VIRTIO_ID_RNG 4
/* One request fills at most this much: a guest cannot make one kick cost unbounded time. */
#define RNG_MAX_REQUEST (64 * 1024)
/* Requests per pass before yielding to other events (the pass re-kicks itself). */
#define RNG_MAX_PER_PASS 256

enum { RNG_M_BYTES, RNG_M_REQUESTS, RNG_M_BAD_CHAINS, RNG_M_THROTTLED, RNG_M_COUNT };
static const char *const rng_metric_names[RNG_M_COUNT] = { "bytes", "requests", "bad_chains",
							    "throttled" };

struct virtio_rng {
	struct virtio_mmio_dev mmio;
	struct rate_limiter rl;
	struct ev_source rl_src;
	bool rl_on_loop;
	uint64_t m[RNG_M_COUNT];
	struct metrics_group mgroup;
	bool mgroup_registered;
};

static struct virtio_rng *to_rng(struct virtio_mmio_dev *d)
{
	return d->priv;
}

/* Fill the writable part of the chain; returns bytes written. */
static uint32_t fill_chain(const struct virtq_chain *c)
{
	uint32_t total = 0;

	for (unsigned int i = c->nread; i < c->nsegs && total < RNG_MAX_REQUEST; i++) {
		uint32_t want = MIN(c->segs[i].len, (uint32_t)(RNG_MAX_REQUEST - total));
		uint32_t got = 0;

		while (got < want) {
			/* Non-blocking: the host pool is initialised long before a guest runs. */
			ssize_t n = getrandom(c->segs[i].hva + got, want - got, GRND_NONBLOCK);

			if (n <= 0)
				return total + got;
			got += (uint32_t)n;
		}
		total += got;
	}
	return total;
}

static void process_queue(struct virtio_rng *rng)
{
	struct virtq *q = &rng->mmio.queues[0];
	bool pushed = false;
	unsigned int n = 0;

	for (;;) {
		struct virtq_chain c;
		uint32_t len;
		int r;

		if (rate_limiter_blocked(&rng->rl))
			break;
		if (n == RNG_MAX_PER_PASS) {
			/* Yield to other events; the self-kick brings us back. */
			virtio_mmio_kick_self(&rng->mmio, 0);
			break;
		}
		r = virtq_pop(q, &c);
		if (r == 0) {
			/*
			 * Empty: ask for the next kick (EVENT_IDX avail_event), then look once
			 * more for a buffer added before the driver could see that.
			 */
			if (virtq_enable_notify(q))
				continue;
			break;
		}
		n++;
		if (r == -EPROTO) {
			virtio_mmio_needs_reset(&rng->mmio);
			break;
		}
		if (r < 0 || c.write_len == 0) {
			/* Malformed, or nothing to fill: give it back empty. */
			metrics_inc(&rng->m[RNG_M_BAD_CHAINS]);
			virtq_push(q, c.head, 0);
			pushed = true;
			continue;
		}
		if (!rate_limiter_consume(&rng->rl, MIN(c.write_len, (uint64_t)RNG_MAX_REQUEST))) {
			virtq_unpop(q);
			metrics_inc(&rng->m[RNG_M_THROTTLED]);
			break;
		}
		len = fill_chain(&c);
		metrics_add(&rng->m[RNG_M_BYTES], len);
		metrics_inc(&rng->m[RNG_M_REQUESTS]);
		virtq_push(q, c.head, len);
		pushed = true;
	}
	if (pushed && virtq_should_signal(q))
		virtio_mmio_interrupt(&rng->mmio, VIRTIO_INT_USED);
}

static void rng_queue_notify(struct virtio_mmio_dev *vdev, unsigned int qidx)
{

	process_queue(to_rng(vdev));
}

static void rng_rl_event(void *opaque, uint32_t events)
{
	struct virtio_rng *rng = opaque;

	pthread_mutex_lock(&rng->mmio.lock);
	rate_limiter_timer_event(&rng->rl);
	if (rng->mmio.activated)
		process_queue(rng);
	pthread_mutex_unlock(&rng->mmio.lock);
}

static uint64_t rng_features(struct virtio_mmio_dev *vdev)
{
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_INDIRECT_DESC) |
	       (1ULL << VIRTIO_F_RING_EVENT_IDX);
}

static const struct virtio_dev_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.features = rng_features,
	.config_len = 0,
	.queue_notify = rng_queue_notify,
};

int virtio_rng_create(struct virtio_rng **out, const struct entropy_cfg *cfg,
		      const struct virtio_mmio_env *env, uint64_t mmio_base,
		      struct config_err *err)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	int r;

	if (!rng)
		return -ENOMEM;
	rng->rl.timerfd = -1;
	r = rate_limiter_init(&rng->rl, &cfg->rate_limiter);
	if (r < 0)
		goto fail;
	rng->rl_src = (struct ev_source){ .fd = rate_limiter_fd(&rng->rl), .fn = rng_rl_event,
					  .opaque = rng };
	r = ev_add(env->loop, &rng->rl_src, EPOLLIN);
	if (r < 0)
		goto fail;
	rng->rl_on_loop = true;
	r = virtio_mmio_init(&rng->mmio, &rng_ops, rng, env, mmio_base);
	if (r < 0)
		goto fail;
	rng->mgroup = (struct metrics_group){ .name = "entropy", .n = RNG_M_COUNT,
					      .names = rng_metric_names, .vals = rng->m };
	rng->mgroup_registered = metrics_register(&rng->mgroup) == 0;
	*out = rng;
	return 0;
fail:
	snprintf(err->msg, sizeof(err->msg), "entropy: %s", strerror(-r));
	if (rng->rl_on_loop)
		ev_del(env->loop, &rng->rl_src);
	rate_limiter_destroy(&rng->rl);
	free(rng);
	return r;
}

struct virtio_mmio_dev *virtio_rng_mmio(struct virtio_rng *rng)
{
	return &rng->mmio;
}

uint64_t virtio_rng_bytes(const struct virtio_rng *rng)
{
	return __atomic_load_n(&rng->m[RNG_M_BYTES], __ATOMIC_RELAXED);
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	if (rng->mgroup_registered)
		metrics_unregister(&rng->mgroup);
	if (rng->rl_on_loop)
		ev_del(rng->mmio.env.loop, &rng->rl_src);
	rate_limiter_destroy(&rng->rl);
	virtio_mmio_uninit(&rng->mmio);
	free(rng);
}
