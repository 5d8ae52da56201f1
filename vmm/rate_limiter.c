// SPDX-License-Identifier: Apache-2.0
#include "vmm/rate_limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define NS_PER_MS 1000000ULL

static uint64_t refill_ns(const struct token_bucket *tb)
{
	return tb->refill_time_ms * NS_PER_MS;
}

void token_bucket_init(struct token_bucket *tb, const struct token_bucket_cfg *cfg, uint64_t now_ns)
{
	memset(tb, 0, sizeof(*tb));
	if (!cfg->present || cfg->size == 0 || cfg->refill_time_ms == 0)
		return;
	tb->enabled = true;
	tb->size = cfg->size;
	tb->one_time_burst = cfg->one_time_burst;
	/* Bounded so that the 128-bit products below cannot overflow 64 bits on the way out. */
	tb->refill_time_ms = MIN(cfg->refill_time_ms, 1ULL << 40);
	tb->budget = cfg->size;
	tb->last_update_ns = now_ns;
}

/* Add the tokens earned since last_update_ns; keep the unspent fraction of time. */
static void replenish(struct token_bucket *tb, uint64_t now_ns)
{
	unsigned __int128 earned128;
	uint64_t earned;

	if (now_ns <= tb->last_update_ns)
		return;
	earned128 = (unsigned __int128)(now_ns - tb->last_update_ns) * tb->size / refill_ns(tb);
	if (earned128 >= tb->size - tb->budget) {
		tb->budget = tb->size;
		tb->last_update_ns = now_ns;
		return;
	}
	earned = (uint64_t)earned128;
	tb->budget += earned;
	tb->last_update_ns += (uint64_t)((unsigned __int128)earned * refill_ns(tb) / tb->size);
}

uint64_t token_bucket_wait_ns(const struct token_bucket *tb, uint64_t tokens)
{
	uint64_t missing;

	if (!tb->enabled || tokens <= tb->budget)
		return 0;
	missing = MIN(tokens, tb->size) - MIN(tb->budget, tokens);
	/* Round up: waking early only re-arms the timer. */
	return (uint64_t)(((unsigned __int128)missing * refill_ns(tb) + tb->size - 1) / tb->size);
}

enum token_bucket_result token_bucket_reduce(struct token_bucket *tb, uint64_t tokens,
					     uint64_t now_ns, uint64_t *wait_ns)
{
	uint64_t burst_used = 0;

	*wait_ns = 0;
	if (!tb->enabled)
		return TB_OK;
	if (tb->one_time_burst) {
		burst_used = MIN(tb->one_time_burst, tokens);
		tb->one_time_burst -= burst_used;
		tokens -= burst_used;
		if (!tokens)
			return TB_OK;
	}
	/*
	 * Always, even with enough budget: while the bucket is full no tokens are earned,
	 * and a later replenish must not credit that time (a bucket idle at full would
	 * otherwise hand out twice its size at once).
	 */
	replenish(tb, now_ns);
	if (tokens > tb->budget) {
		if (tokens > tb->size) {
			/* Larger than the bucket can ever hold: let it through once and make
			   the caller wait for the overdraft to refill. */
			uint64_t over = tokens - tb->budget;

			tb->budget = 0;
			tb->last_update_ns = now_ns;
			unsigned __int128 w = (unsigned __int128)over * refill_ns(tb) / tb->size;

			*wait_ns = w > UINT64_MAX ? UINT64_MAX : (uint64_t)w;
			return TB_OVERCONSUMED;
		}
		if (tokens > tb->budget) {
			tb->one_time_burst += burst_used;
			*wait_ns = token_bucket_wait_ns(tb, tokens);
			return TB_THROTTLED;
		}
	}
	tb->budget -= tokens;
	return TB_OK;
}

void token_bucket_refund(struct token_bucket *tb, uint64_t tokens)
{
	if (tb->enabled)
		tb->budget = MIN(tb->size, tb->budget + MIN(tokens, tb->size));
}

int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg)
{
	memset(rl, 0, sizeof(*rl));
	rl->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (rl->timerfd < 0)
		return -errno;
	rate_limiter_update(rl, cfg);
	return 0;
}

void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg)
{
	uint64_t now = util_now_ns();

	token_bucket_init(&rl->bw, &cfg->bandwidth, now);
	token_bucket_init(&rl->ops, &cfg->ops, now);
	rl->blocked = false;
}

void rate_limiter_destroy(struct rate_limiter *rl)
{
	if (rl->timerfd >= 0)
		close(rl->timerfd);
	rl->timerfd = -1;
}

static void arm(struct rate_limiter *rl, uint64_t ns)
{
	struct itimerspec its = { 0 };

	ns = MAX(ns, 1000ULL); /* 0 would disarm */
	its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
	if (timerfd_settime(rl->timerfd, 0, &its, NULL) < 0) {
		/* Never leave the device blocked forever. */
		log_error("rate limiter: timerfd_settime: %s", strerror(errno));
		rl->blocked = false;
		return;
	}
	rl->blocked = true;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes)
{
	uint64_t now, wait_ops = 0, wait_bw = 0;
	enum token_bucket_result r_ops, r_bw = TB_OK;

	if (rl->blocked)
		return false;
	if (!rl->ops.enabled && !rl->bw.enabled)
		return true;
	now = util_now_ns();
	r_ops = token_bucket_reduce(&rl->ops, 1, now, &wait_ops);
	if (r_ops == TB_THROTTLED) {
		arm(rl, wait_ops);
		return false;
	}
	if (bytes)
		r_bw = token_bucket_reduce(&rl->bw, bytes, now, &wait_bw);
	if (r_bw == TB_THROTTLED) {
		token_bucket_refund(&rl->ops, 1);
		arm(rl, wait_bw);
		return false;
	}
	if (r_ops == TB_OVERCONSUMED || r_bw == TB_OVERCONSUMED)
		arm(rl, MAX(wait_ops, wait_bw));
	return true;
}

void rate_limiter_timer_event(struct rate_limiter *rl)
{
	uint64_t n;

	if (read(rl->timerfd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	rl->blocked = false;
}
