// SPDX-License-Identifier: Apache-2.0
/* Token buckets with explicit time (deterministic), and the limiter's timerfd. */
#include <poll.h>

#include "tests/unit/test.h"
#include "vmm/rate_limiter.h"
#include "vmm/util.h"

#define MS 1000000ULL

static struct token_bucket tb;

static void mk(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
	struct token_bucket_cfg c = { true, size, burst, refill_ms };

	token_bucket_init(&tb, &c, 0);
}

TEST(disabled_bucket)
{
	struct token_bucket_cfg c = { true, 0, 0, 100 };
	uint64_t w;

	token_bucket_init(&tb, &c, 0);
	CHECK_EQ(token_bucket_reduce(&tb, ~0ULL, 0, &w), TB_OK);
	c = (struct token_bucket_cfg){ true, 100, 0, 0 };
	token_bucket_init(&tb, &c, 0);
	CHECK_EQ(token_bucket_reduce(&tb, 1000, 0, &w), TB_OK);
	c = (struct token_bucket_cfg){ false, 100, 0, 100 };
	token_bucket_init(&tb, &c, 0);
	CHECK_EQ(token_bucket_reduce(&tb, 1000, 0, &w), TB_OK);
}

TEST(starts_full_and_refills_linearly)
{
	uint64_t w;

	mk(1000, 0, 100); /* 1000 tokens per 100 ms */
	CHECK_EQ(token_bucket_reduce(&tb, 1000, 0, &w), TB_OK);
	CHECK_EQ(token_bucket_reduce(&tb, 1, 0, &w), TB_THROTTLED);
	CHECK_EQ(w, 100000); /* one token: 0.1 ms */
	CHECK_EQ(token_bucket_reduce(&tb, 500, 10 * MS, &w), TB_THROTTLED); /* 100 earned */
	CHECK_EQ(w, 40 * MS);
	CHECK_EQ(token_bucket_reduce(&tb, 500, 50 * MS, &w), TB_OK);
	CHECK_EQ(tb.budget, 0);
	/* Never more than size. */
	CHECK_EQ(token_bucket_reduce(&tb, 1, 10000 * MS, &w), TB_OK);
	CHECK_EQ(tb.budget, 999);
}

/* Time spent full earns nothing: after idling, no more than the bucket's size at once. */
TEST(idle_full_bucket_earns_nothing)
{
	uint64_t w;

	mk(1000, 0, 100);
	CHECK_EQ(token_bucket_reduce(&tb, 1, 10 * 1000 * MS, &w), TB_OK); /* 10 s later */
	CHECK_EQ(token_bucket_reduce(&tb, 999, 10 * 1000 * MS, &w), TB_OK);
	CHECK_EQ(token_bucket_reduce(&tb, 1, 10 * 1000 * MS, &w), TB_THROTTLED);
	CHECK_EQ(w, 100 * MS / 1000);
	/* And with a one-time burst on top: size + burst, not twice the size. */
	mk(1000, 500, 100);
	CHECK_EQ(token_bucket_reduce(&tb, 1500, 5000 * MS, &w), TB_OK);
	CHECK_EQ(token_bucket_reduce(&tb, 1, 5000 * MS, &w), TB_THROTTLED);
}

TEST(fractional_refill_not_lost)
{
	uint64_t w;

	mk(3, 0, 10); /* one token per 3.33 ms */
	CHECK_EQ(token_bucket_reduce(&tb, 3, 0, &w), TB_OK);
	/* Ten 1 ms steps earn 3 tokens in total, though no single step earns one. */
	for (uint64_t t = 1; t <= 10; t++)
		token_bucket_reduce(&tb, 0, t * MS, &w);
	CHECK_EQ(token_bucket_reduce(&tb, 3, 10 * MS, &w), TB_OK);
}

TEST(one_time_burst)
{
	uint64_t w;

	mk(100, 250, 1000);
	CHECK_EQ(token_bucket_reduce(&tb, 200, 0, &w), TB_OK); /* from the burst */
	CHECK_EQ(tb.budget, 100);
	CHECK_EQ(token_bucket_reduce(&tb, 100, 0, &w), TB_OK); /* 50 burst + 50 budget */
	CHECK_EQ(tb.one_time_burst, 0);
	CHECK_EQ(tb.budget, 50);
	/* Throttled requests take nothing, from the burst either. */
	mk(100, 10, 1000);
	CHECK_EQ(token_bucket_reduce(&tb, 100, 0, &w), TB_OK);
	CHECK_EQ(token_bucket_reduce(&tb, 50, 0, &w), TB_THROTTLED);
	CHECK_EQ(tb.one_time_burst, 0); /* the burst went first, on the first request */
	CHECK_EQ(tb.budget, 10);
	mk(100, 10, 1000);
	CHECK_EQ(token_bucket_reduce(&tb, 95, 0, &w), TB_OK); /* 10 burst + 85 */
	CHECK_EQ(token_bucket_reduce(&tb, 50, 0, &w), TB_THROTTLED);
	CHECK_EQ(tb.budget, 15);
}

TEST(overconsumption)
{
	uint64_t w;

	mk(100, 0, 1000);
	/* A request bigger than the bucket goes through once, then the debt is paid. */
	CHECK_EQ(token_bucket_reduce(&tb, 350, 0, &w), TB_OVERCONSUMED);
	CHECK_EQ(tb.budget, 0);
	CHECK_EQ(w, 2500 * MS); /* 250 tokens over, at 100 per second */
}

TEST(refund)
{
	uint64_t w;

	mk(10, 0, 1000);
	CHECK_EQ(token_bucket_reduce(&tb, 8, 0, &w), TB_OK);
	token_bucket_refund(&tb, 5);
	CHECK_EQ(tb.budget, 7);
	token_bucket_refund(&tb, ~0ULL);
	CHECK_EQ(tb.budget, 10);
}

TEST(hostile_config_values)
{
	uint64_t w;

	mk(~0ULL, ~0ULL, ~0ULL);
	CHECK_EQ(token_bucket_reduce(&tb, ~0ULL, 0, &w), TB_OK);
	CHECK_EQ(token_bucket_reduce(&tb, ~0ULL, 0, &w), TB_OK);
	CHECK_EQ(token_bucket_reduce(&tb, 5, ~0ULL, &w), TB_OK);
	mk(1, 0, 1);
	CHECK_EQ(token_bucket_reduce(&tb, ~0ULL, 0, &w), TB_OVERCONSUMED);
	mk(1, 0, ~0ULL);
	CHECK_EQ(token_bucket_reduce(&tb, ~0ULL, 0, &w), TB_OVERCONSUMED);
	CHECK_EQ(w, ~0ULL); /* saturated, not wrapped */
}

TEST(limiter_blocks_and_timer_unblocks)
{
	struct rate_limiter rl;
	struct rate_limiter_cfg cfg = { .ops = { true, 2, 0, 50 } };
	struct pollfd p;
	uint64_t t0 = util_now_ns();

	CHECK_EQ(rate_limiter_init(&rl, &cfg), 0);
	CHECK(rate_limiter_consume(&rl, 4096));
	CHECK(rate_limiter_consume(&rl, 4096));
	CHECK(!rate_limiter_consume(&rl, 4096));
	CHECK(rate_limiter_blocked(&rl));
	p = (struct pollfd){ .fd = rate_limiter_fd(&rl), .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK(util_now_ns() - t0 >= 20 * MS); /* one token: 25 ms */
	rate_limiter_timer_event(&rl);
	CHECK(!rate_limiter_blocked(&rl));
	CHECK(rate_limiter_consume(&rl, 4096));
	/* Bandwidth throttling gives the ops token back. */
	cfg = (struct rate_limiter_cfg){ .bandwidth = { true, 1000, 0, 100 },
					 .ops = { true, 10, 0, 1000 } };
	rate_limiter_update(&rl, &cfg);
	CHECK(rate_limiter_consume(&rl, 1000));
	CHECK(!rate_limiter_consume(&rl, 10));
	CHECK_EQ(rl.ops.budget, 9);
	rate_limiter_destroy(&rl);
	CHECK_EQ(rl.timerfd, -1);
}
