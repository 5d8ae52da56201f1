/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by every component: cleanup attributes, sizes, errno-style returns. */
#ifndef VMM_UTIL_H
#define VMM_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Scope-bound cleanup, as in crun: the variable is released when it leaves scope. */
static inline void util_freep(void *p)
{
	free(*(void **)p);
}

static inline void util_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define cleanup_free __attribute__((cleanup(util_freep)))
#define cleanup_close __attribute__((cleanup(util_closep)))

/* Hand an fd out of a cleanup_close scope. */
static inline int util_steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* Overflow-checked a + b <= limit, for guest-supplied ranges. */
static inline bool util_range_ok(uint64_t start, uint64_t len, uint64_t limit)
{
	return start <= limit && len <= limit - start;
}

/* Monotonic clock in nanoseconds. */
uint64_t util_now_ns(void);
/* *ts = clock clk's time now plus ns: an absolute deadline for the timed waits. */
void util_deadline(clockid_t clk, uint64_t ns, struct timespec *ts);

/* Read a whole file (at most max bytes) into a malloc'd, NUL-terminated buffer. 0 or -errno. */
int util_read_file(const char *path, size_t max, char **out, size_t *len);

/* write()/pwrite() until done or error; 0 or -errno. */
int util_write_all(int fd, const void *buf, size_t len);

#endif
