// SPDX-License-Identifier: Apache-2.0
/* Uncompressed ELF vmlinux: load every PT_LOAD at its physical address. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/util.h"

#define ELF_MAX_PHDRS 64
/* x86 COMMAND_LINE_SIZE (2048) including the terminating NUL. */
#define ELF_CMDLINE_MAX 2047

int elf_load(const struct guest_mem *m, const uint8_t *buf, size_t size,
	     struct kernel_image *k, struct boot_err *err)
{
	Elf64_Ehdr eh;
	uint64_t lo = UINT64_MAX, hi = 0, entry;
	bool entry_found = false;

	if (size < sizeof(eh))
		return boot_err_set(err, -EINVAL, "kernel: truncated ELF header (%zu bytes)", size);
	memcpy(&eh, buf, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return boot_err_set(err, -EINVAL, "kernel: not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return boot_err_set(err, -EINVAL, "kernel: not a little-endian x86-64 ELF");
	if (eh.e_type != ET_EXEC)
		return boot_err_set(err, -EINVAL, "kernel: ELF type %u is not an executable", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS)
		return boot_err_set(err, -EINVAL, "kernel: bad program header table (%u entries of %u bytes)",
				eh.e_phnum, eh.e_phentsize);
	if (!util_range_ok(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), size))
		return boot_err_set(err, -EINVAL, "kernel: program headers beyond end of file (truncated?)");

	/* Validate everything before copying anything. */
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return boot_err_set(err, -EINVAL, "kernel: segment %u file size exceeds memory size", i);
		if (!util_range_ok(ph.p_offset, ph.p_filesz, size))
			return boot_err_set(err, -EINVAL, "kernel: segment %u beyond end of file (truncated?)", i);
		if (ph.p_paddr < BOOT_HIGH_MEMORY_START)
			return boot_err_set(err, -EINVAL, "kernel: segment %u at 0x%llx is below 1 MiB", i,
					(unsigned long long)ph.p_paddr);
		if (!guest_mem_ptr(m, ph.p_paddr, ph.p_memsz) ||
		    ph.p_paddr + ph.p_memsz > MMIO_GAP_START)
			return boot_err_set(err, -EINVAL,
					"kernel: segment %u [0x%llx, +0x%llx) does not fit in guest "
					"memory (%llu MiB): memory too small for the kernel",
					i, (unsigned long long)ph.p_paddr,
					(unsigned long long)ph.p_memsz,
					(unsigned long long)(m->total >> 20));
		lo = MIN(lo, ph.p_paddr);
		hi = MAX(hi, ph.p_paddr + ph.p_memsz);
		/* e_entry may be physical (vmlinux links it so) or virtual. */
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz) {
			entry = eh.e_entry;
			entry_found = true;
		} else if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
			entry_found = true;
		}
	}
	if (hi == 0)
		return boot_err_set(err, -EINVAL, "kernel: no loadable segment");
	if (!entry_found)
		return boot_err_set(err, -EINVAL, "kernel: entry point 0x%llx is outside the loaded segments",
				(unsigned long long)eh.e_entry);

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		/* Guest RAM is a fresh zeroed memfd: the bss needs no clearing. */
		memcpy(guest_mem_ptr(m, ph.p_paddr, ph.p_filesz), buf + ph.p_offset, ph.p_filesz);
	}
	memset(k, 0, sizeof(*k));
	k->format = KERNEL_ELF;
	k->entry = entry;
	k->start = lo;
	k->end = hi;
	k->cmdline_max = ELF_CMDLINE_MAX;
	k->initrd_addr_max = 0x7fffffff;
	return 0;
}
