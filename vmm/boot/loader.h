/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel loading for the Linux x86-64 64-bit boot protocol: uncompressed ELF vmlinux or
 * bzImage, initrd, command line, zero page with e820 map and RNG seed, MP table, boot
 * page tables and GDT. Every function checks the file against itself and against guest
 * memory: a corrupt or hostile image gives -errno and a message, never a crash.
 */
#ifndef VMM_BOOT_LOADER_H
#define VMM_BOOT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/bootparams.h"
#include "vmm/memory.h"

#define BOOT_ERR_MAX 256

struct boot_err {
	char msg[BOOT_ERR_MAX];
};

/* Format a message into err and return e (a -errno), for one-line error returns. */
int boot_err_set(struct boot_err *err, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum kernel_format { KERNEL_ELF = 1, KERNEL_BZIMAGE };

struct kernel_image {
	enum kernel_format format;
	uint64_t entry; /* guest physical 64-bit entry point */
	uint64_t start; /* lowest guest physical address loaded */
	uint64_t end; /* highest guest physical address used + 1 */
	uint32_t cmdline_max; /* longest command line the kernel accepts, without NUL */
	uint32_t initrd_addr_max; /* highest address the initrd may end at */
	struct setup_header hdr; /* bzImage: the kernel's setup header */
};

/* Load a kernel image held in buf (ELF or bzImage, detected) into guest memory. */
int kernel_load_buffer(const struct guest_mem *m, const uint8_t *buf, size_t size,
		       struct kernel_image *k, struct boot_err *err);
int elf_load(const struct guest_mem *m, const uint8_t *buf, size_t size,
	     struct kernel_image *k, struct boot_err *err);
int bzimage_load(const struct guest_mem *m, const uint8_t *buf, size_t size,
		 struct kernel_image *k, struct boot_err *err);
/* Map the file at path and load it. */
int kernel_load_file(const struct guest_mem *m, const char *path, struct kernel_image *k,
		     struct boot_err *err);

/* Place the initrd as high as allowed in low RAM, above the kernel. */
int initrd_load_file(const struct guest_mem *m, const char *path, const struct kernel_image *k,
		     uint64_t *addr, uint64_t *size, struct boot_err *err);

/* Fill table with the RAM map of m; returns the number of entries. */
unsigned int e820_build(const struct guest_mem *m, struct boot_e820_entry *table,
			unsigned int max);

struct boot_info {
	const char *cmdline;
	uint64_t initrd_addr, initrd_size; /* size 0: none */
	const uint8_t *rng_seed; /* NULL: none */
	size_t rng_seed_len;
};

/* Write the command line, setup_data and the zero page. */
int bootparams_setup(const struct guest_mem *m, const struct kernel_image *k,
		     const struct boot_info *bi, struct boot_err *err);

/* MP floating pointer + configuration table for ncpus (1..32) at BOOT_EBDA_START. */
int mptable_setup(const struct guest_mem *m, unsigned int ncpus, struct boot_err *err);

/* Identity-mapped page tables for the first GiB and the boot GDT. */
int boot_tables_setup(const struct guest_mem *m, struct boot_err *err);

/* The GDT entries the boot vCPU's segment registers must match. */
#define BOOT_GDT_CODE 1
#define BOOT_GDT_DATA 2
#define BOOT_GDT_TSS 3
#define BOOT_GDT_ENTRIES 4
uint64_t boot_gdt_entry(unsigned int index);

#endif
