/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port-I/O and MMIO dispatch for exits taken by vCPU threads. Ranges are registered
 * before the first vCPU runs and never change afterwards, so lookups take no lock;
 * each device serialises its own state.
 */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* offset is relative to the registered base; len is 1, 2, 4 or 8. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
};

#define BUS_MAX_RANGES 64

struct bus {
	unsigned int n;
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base, non-overlapping */
};

/* 0, -EEXIST on overlap, -ENOSPC when full, -EINVAL for an empty or wrapping range. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque);
/* Dispatch an access; false if no device claims addr (reads then return all ones). */
bool bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len);

#endif
