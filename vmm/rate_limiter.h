/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token-bucket rate limiter with Firecracker's semantics: a bucket holds up to `size`
 * tokens and refills completely in `refill_time_ms`; `one_time_burst` extra tokens are
 * spent first and never refilled. A bucket with size 0 or refill time 0 is unlimited.
 * A request larger than the whole bucket is let through once and blocks the limiter for
 * the time it takes to refill what it overdrew. When throttled, the limiter arms its
 * timerfd; the device stops taking requests until the timer fires on the event loop.
 * Not thread-safe: the owning device serialises calls.
 */
#ifndef VMM_RATE_LIMITER_H
#define VMM_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/config.h"

struct token_bucket {
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time_ms;
	uint64_t budget;
	uint64_t last_update_ns;
	bool enabled;
};

enum token_bucket_result { TB_OK, TB_THROTTLED, TB_OVERCONSUMED };

/* Start full at now_ns (tokens available at once, as Firecracker does). */
void token_bucket_init(struct token_bucket *tb, const struct token_bucket_cfg *cfg, uint64_t now_ns);
/* Take tokens at now_ns. TB_OVERCONSUMED: taken, bucket emptied, *wait_ns says how long
   the overdraft takes to refill. TB_THROTTLED: nothing taken. */
enum token_bucket_result token_bucket_reduce(struct token_bucket *tb, uint64_t tokens,
					     uint64_t now_ns, uint64_t *wait_ns);
/* Give back tokens taken for a request that was not performed after all. */
void token_bucket_refund(struct token_bucket *tb, uint64_t tokens);
/* Nanoseconds until n tokens are available (0 if now); for arming the timer. */
uint64_t token_bucket_wait_ns(const struct token_bucket *tb, uint64_t tokens);

enum rl_kind { RL_BYTES, RL_OPS };

struct rate_limiter {
	struct token_bucket bw, ops;
	int timerfd; /* -1 until rate_limiter_init */
	bool blocked;
};

/* Create the timerfd (CLOEXEC, non-blocking) and the buckets. 0 or -errno. */
int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg);
/* Replace the buckets (PATCH); unblocks. */
void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg);
void rate_limiter_destroy(struct rate_limiter *rl);
/*
 * Take bytes from the bandwidth bucket and one token from the ops bucket. false: the
 * request must wait; nothing was taken, the limiter is blocked and its timer armed.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes);
static inline bool rate_limiter_blocked(const struct rate_limiter *rl)
{
	return rl->blocked;
}
static inline int rate_limiter_fd(const struct rate_limiter *rl)
{
	return rl->timerfd;
}
/* The timerfd fired (VMM thread): drain it and unblock. */
void rate_limiter_timer_event(struct rate_limiter *rl);

#endif
