/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest physical memory: one memfd, mapped once, split around the 32-bit MMIO gap.
 * Every access on behalf of the guest goes through guest_mem_ptr(), which checks that
 * the whole range lies inside one region (guest addresses and lengths are hostile).
 */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* x86 layout: RAM below MMIO_GAP_START, devices in the gap, the rest of RAM above 4 GiB. */
#define MMIO_GAP_START 0xC0000000ULL
#define MMIO_GAP_END 0x100000000ULL

#define GUEST_MEM_MAX_REGIONS 2

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t file_offset; /* offset of this region in the memfd */
};

struct guest_mem {
	int fd; /* memfd backing all regions; -1 for test memory */
	uint8_t *base; /* single mapping of the whole memfd */
	uint64_t total; /* bytes of RAM */
	unsigned int nregions;
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
};

/* Create size bytes of guest RAM (page multiple, > 0). 0 or -errno; on error m is unchanged. */
int guest_mem_init(struct guest_mem *m, uint64_t size);
/* Describe an existing buffer as guest RAM at gpa 0 (tests, fuzzers). Never fails. */
void guest_mem_init_buffer(struct guest_mem *m, void *buf, uint64_t size);
/* Unmap and close; safe on a zeroed or already destroyed struct. */
void guest_mem_destroy(struct guest_mem *m);

/*
 * Host pointer for [gpa, gpa+len) or NULL if any byte of it is outside RAM or the
 * range crosses a region boundary. len may be 0 (then gpa must be inside or at the end
 * of a region).
 */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Highest guest physical address of RAM + 1. */
uint64_t guest_mem_end(const struct guest_mem *m);

#endif
