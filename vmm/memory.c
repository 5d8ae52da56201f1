// SPDX-License-Identifier: Apache-2.0
#include "vmm/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/util.h"

int guest_mem_init(struct guest_mem *m, uint64_t size)
{
	struct guest_mem g = { .fd = -1 };
	void *base;

	if (size == 0 || !IS_ALIGNED(size, 4096ULL))
		return -EINVAL;
	g.fd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (g.fd < 0)
		return -errno;
	if (ftruncate(g.fd, (off_t)size) < 0) {
		int err = -errno;

		close(g.fd);
		return err;
	}
	/* MAP_NORESERVE: guest RAM is touched lazily; untouched pages cost nothing. */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, g.fd, 0);
	if (base == MAP_FAILED) {
		int err = -errno;

		close(g.fd);
		return err;
	}
	/* KSM or THP policies are the operator's; we only make dumps skip guest memory. */
	madvise(base, size, MADV_DONTDUMP);
	g.base = base;
	g.total = size;
	g.regions[0] = (struct guest_mem_region){ .gpa = 0, .size = MIN(size, MMIO_GAP_START),
						  .hva = base, .file_offset = 0 };
	g.nregions = 1;
	if (size > MMIO_GAP_START) {
		g.regions[1] = (struct guest_mem_region){ .gpa = MMIO_GAP_END,
							  .size = size - MMIO_GAP_START,
							  .hva = g.base + MMIO_GAP_START,
							  .file_offset = MMIO_GAP_START };
		g.nregions = 2;
	}
	*m = g;
	return 0;
}

void guest_mem_init_buffer(struct guest_mem *m, void *buf, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->base = buf;
	m->total = size;
	m->nregions = 1;
	m->regions[0] = (struct guest_mem_region){ .gpa = 0, .size = size, .hva = buf };
}

void guest_mem_destroy(struct guest_mem *m)
{
	if (m->fd >= 0) {
		munmap(m->base, m->total);
		close(m->fd);
	}
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < m->nregions; i++) {
		const struct guest_mem_region *r = &m->regions[i];

		if (gpa < r->gpa)
			continue;
		if (util_range_ok(gpa - r->gpa, len, r->size))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t guest_mem_end(const struct guest_mem *m)
{
	const struct guest_mem_region *r;

	if (!m->nregions)
		return 0;
	r = &m->regions[m->nregions - 1];
	return r->gpa + r->size;
}
