/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-wide metrics. Counters are plain uint64_t updated with relaxed atomics from
 * any thread (vCPU, VMM, API) and never take a lock on the hot path. Components register
 * named groups of counters; metrics_flush() writes one JSON object per line:
 *   {"utc_timestamp_ms": N, "<group>": {"<counter>": N, ...}, ...}
 * Values are cumulative since process start (Firecracker emits deltas for some; a
 * consumer that wants rates subtracts consecutive lines).
 */
#ifndef VMM_METRICS_H
#define VMM_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct metrics_group {
	const char *name; /* JSON key, e.g. "block_vda" */
	unsigned int n;
	const char *const *names; /* n counter names */
	uint64_t *vals; /* n counters, owned by the registrant */
	struct metrics_group *next; /* private */
};

static inline void metrics_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline void metrics_inc(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Keep the maximum seen (latencies). */
static inline void metrics_max(uint64_t *c, uint64_t v)
{
	uint64_t cur = __atomic_load_n(c, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(c, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* g must stay valid until unregistered. Names must be unique; a duplicate gives -EEXIST. */
int metrics_register(struct metrics_group *g);
void metrics_unregister(struct metrics_group *g);

/*
 * Open the metrics sink (file appended to, or FIFO opened non-blocking). Only once per
 * process, as Firecracker: -EBUSY if already set. 0 or -errno.
 */
int metrics_set_path(const char *path);
bool metrics_configured(void);
/* Add "id": id to each line (Metrics.emit_id). */
void metrics_set_id(const char *id);

/*
 * Write one line now. Never blocks: a full FIFO loses the line (counted in
 * "metrics.dropped_lines"). 0, -ENODEV when no sink is configured, or -errno.
 */
int metrics_flush(void);

/* Drop the sink (at exit, after a last flush). */
void metrics_close(void);

/* The process-wide "metrics" group: the sink's own counters. */
extern uint64_t metrics_flushes, metrics_dropped_lines;

#endif
