// SPDX-License-Identifier: Apache-2.0
/* Format detection, initrd, command line, zero page, boot page tables and GDT. */
#include "vmm/boot/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/boot/layout.h"
#include "vmm/util.h"

int boot_err_set(struct boot_err *err, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return e;
}

int kernel_load_buffer(const struct guest_mem *m, const uint8_t *buf, size_t size,
		       struct kernel_image *k, struct boot_err *err)
{
	if (size >= 4 && !memcmp(buf, "\x7f" "ELF", 4))
		return elf_load(m, buf, size, k, err);
	if (size >= 0x206 && !memcmp(buf + 0x202, "HdrS", 4))
		return bzimage_load(m, buf, size, k, err);
	return boot_err_set(err, -EINVAL, "kernel: not an ELF vmlinux nor a bzImage");
}

/* Map a regular file read-only; *len 0 with a NULL map for an empty file. */
static int map_file(const char *what, const char *path, uint8_t **map, size_t *len,
		    struct boot_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p;

	if (fd < 0)
		return boot_err_set(err, -errno, "%s: cannot open %s: %s", what, path,
				 strerror(errno));
	if (fstat(fd, &st) < 0)
		return boot_err_set(err, -errno, "%s: cannot stat %s: %s", what, path,
				 strerror(errno));
	if (!S_ISREG(st.st_mode))
		return boot_err_set(err, -EINVAL, "%s: %s is not a regular file", what, path);
	*len = (size_t)st.st_size;
	*map = NULL;
	if (!st.st_size)
		return 0;
	p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return boot_err_set(err, -errno, "%s: cannot map %s: %s", what, path,
				 strerror(errno));
	*map = p;
	return 0;
}

int kernel_load_file(const struct guest_mem *m, const char *path, struct kernel_image *k,
		     struct boot_err *err)
{
	uint8_t *map = NULL;
	size_t len = 0;
	int r = map_file("kernel", path, &map, &len, err);

	if (r)
		return r;
	if (!len)
		return boot_err_set(err, -EINVAL, "kernel: %s is empty", path);
	r = kernel_load_buffer(m, map, len, k, err);
	munmap(map, len);
	return r;
}

int initrd_load_file(const struct guest_mem *m, const char *path, const struct kernel_image *k,
		     uint64_t *addr, uint64_t *size, struct boot_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t top, at;
	uint8_t *dst;
	size_t got = 0;

	if (fd < 0)
		return boot_err_set(err, -errno, "initrd: cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return boot_err_set(err, -EINVAL, "initrd: %s is not a regular file", path);
	if (!st.st_size)
		return boot_err_set(err, -EINVAL, "initrd: %s is empty", path);
	top = MIN(guest_mem_end(m), MMIO_GAP_START);
	top = MIN(top, (uint64_t)k->initrd_addr_max + 1);
	if ((uint64_t)st.st_size > top || ALIGN_DOWN(top - (uint64_t)st.st_size, 4096ULL) < k->end)
		return boot_err_set(err, -ENOMEM,
				 "initrd: %s (%lld bytes) does not fit between the kernel (ends "
				 "at 0x%llx) and the top of low memory (0x%llx)",
				 path, (long long)st.st_size, (unsigned long long)k->end,
				 (unsigned long long)top);
	at = ALIGN_DOWN(top - (uint64_t)st.st_size, 4096ULL);
	dst = guest_mem_ptr(m, at, (uint64_t)st.st_size);
	if (!dst)
		return boot_err_set(err, -ENOMEM, "initrd: no guest memory at 0x%llx",
				 (unsigned long long)at);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, dst + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return boot_err_set(err, n < 0 ? -errno : -EIO, "initrd: short read of %s",
					 path);
		got += (size_t)n;
	}
	*addr = at;
	*size = (uint64_t)st.st_size;
	return 0;
}

unsigned int e820_build(const struct guest_mem *m, struct boot_e820_entry *table,
			unsigned int max)
{
	unsigned int n = 0;
	uint64_t low_end = MIN(guest_mem_end(m), MMIO_GAP_START);

#define E820_ADD(a, s)                                                              \
	do {                                                                        \
		if (n < max)                                                        \
			table[n++] = (struct boot_e820_entry){ (a), (s), E820_RAM }; \
	} while (0)

	/* Below 1 MiB only conventional memory up to the EBDA is RAM. */
	E820_ADD(0, MIN(low_end, BOOT_EBDA_START));
	if (low_end > BOOT_HIGH_MEMORY_START)
		E820_ADD(BOOT_HIGH_MEMORY_START, low_end - BOOT_HIGH_MEMORY_START);
	if (m->nregions > 1)
		E820_ADD(m->regions[1].gpa, m->regions[1].size);
#undef E820_ADD
	return n;
}

int bootparams_setup(const struct guest_mem *m, const struct kernel_image *k,
		     const struct boot_info *bi, struct boot_err *err)
{
	struct boot_params *bp = guest_mem_ptr(m, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	size_t cmdlen = bi->cmdline ? strlen(bi->cmdline) : 0;
	char *cmd;

	if (!bp)
		return boot_err_set(err, -ENOMEM, "guest memory too small for boot structures");
	if (cmdlen > k->cmdline_max || cmdlen >= BOOT_CMDLINE_MAX)
		return boot_err_set(err, -E2BIG,
				 "kernel command line is %zu bytes, the kernel accepts at most %u",
				 cmdlen, k->cmdline_max);
	cmd = guest_mem_ptr(m, BOOT_CMDLINE_ADDR, cmdlen + 1);
	if (!cmd)
		return boot_err_set(err, -ENOMEM, "guest memory too small for the command line");
	memcpy(cmd, bi->cmdline ? bi->cmdline : "", cmdlen + 1);

	memset(bp, 0, sizeof(*bp));
	if (k->format == KERNEL_BZIMAGE)
		bp->hdr = k->hdr;
	bp->hdr.type_of_loader = 0xff; /* undefined loader */
	bp->hdr.boot_flag = BOOT_FLAG_MAGIC;
	bp->hdr.header = SETUP_HDR_MAGIC;
	bp->hdr.loadflags |= LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp->hdr.cmdline_size = (uint32_t)cmdlen + 1;
	if (k->format == KERNEL_ELF)
		bp->hdr.kernel_alignment = 0x1000000;
	if (bi->initrd_size) {
		bp->hdr.ramdisk_image = (uint32_t)bi->initrd_addr;
		bp->hdr.ramdisk_size = (uint32_t)bi->initrd_size;
		bp->ext_ramdisk_image = (uint32_t)(bi->initrd_addr >> 32);
		bp->ext_ramdisk_size = (uint32_t)(bi->initrd_size >> 32);
	}
	if (bi->rng_seed && bi->rng_seed_len) {
		struct setup_data_hdr *sd =
			guest_mem_ptr(m, BOOT_SETUP_DATA_ADDR, sizeof(*sd) + bi->rng_seed_len);

		if (!sd || bi->rng_seed_len > BOOT_ZERO_PAGE_ADDR - BOOT_SETUP_DATA_ADDR - sizeof(*sd))
			return boot_err_set(err, -EINVAL, "RNG seed does not fit");
		sd->next = 0;
		sd->type = SETUP_RNG_SEED;
		sd->len = (uint32_t)bi->rng_seed_len;
		memcpy(sd + 1, bi->rng_seed, bi->rng_seed_len);
		bp->hdr.setup_data = BOOT_SETUP_DATA_ADDR;
	}
	bp->e820_entries = (uint8_t)e820_build(m, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	return 0;
}

uint64_t boot_gdt_entry(unsigned int index)
{
	/* flags, base 0, limit 0xfffff: 64-bit code, data, busy 64-bit TSS. */
	static const uint16_t flags[BOOT_GDT_ENTRIES] = { 0, 0xa09b, 0xc093, 0x808b };
	uint64_t f, limit = 0xfffff;

	if (index >= BOOT_GDT_ENTRIES || !flags[index])
		return 0;
	f = flags[index];
	return ((f & 0xf0ff) << 40) | ((limit & 0xf0000) << 32) | (limit & 0xffff);
}

int boot_tables_setup(const struct guest_mem *m, struct boot_err *err)
{
	uint64_t *pml4 = guest_mem_ptr(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem_ptr(m, BOOT_PD_ADDR, 4096);
	uint64_t *gdt = guest_mem_ptr(m, BOOT_GDT_ADDR, BOOT_GDT_ENTRIES * 8);
	uint64_t *idt = guest_mem_ptr(m, BOOT_IDT_ADDR, 8);

	if (!pml4 || !pdpt || !pd || !gdt || !idt)
		return boot_err_set(err, -ENOMEM, "guest memory too small for boot page tables");
	/* present | writable; PD entries add PS for 2 MiB pages. */
	pml4[0] = BOOT_PDPT_ADDR | 0x3;
	pdpt[0] = BOOT_PD_ADDR | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;
	for (unsigned int i = 0; i < BOOT_GDT_ENTRIES; i++)
		gdt[i] = boot_gdt_entry(i);
	*idt = 0;
	return 0;
}
