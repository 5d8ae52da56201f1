// SPDX-License-Identifier: Apache-2.0
/* bzImage: the protected-mode payload is loaded whole and entered at its 64-bit entry. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/util.h"

#define BZ_HDR_OFFSET 0x1f1
#define BZ_MIN_VERSION 0x020c /* 2.12: xloadflags, 64-bit entry */
#define BZ_ENTRY64_OFFSET 0x200

int bzimage_load(const struct guest_mem *m, const uint8_t *buf, size_t size,
		 struct kernel_image *k, struct boot_err *err)
{
	struct setup_header hdr;
	size_t hdr_len, setup_size;
	uint64_t load, need;

	if (size < BZ_HDR_OFFSET + sizeof(hdr))
		return boot_err_set(err, -EINVAL, "kernel: file too small for a bzImage (%zu bytes)", size);
	memcpy(&hdr, buf + BZ_HDR_OFFSET, sizeof(hdr));
	if (hdr.boot_flag != BOOT_FLAG_MAGIC || hdr.header != SETUP_HDR_MAGIC)
		return boot_err_set(err, -EINVAL, "kernel: not a bzImage (no boot flag or HdrS magic)");
	if (hdr.version < BZ_MIN_VERSION)
		return boot_err_set(err, -EINVAL, "kernel: boot protocol %u.%02u is older than 2.12",
			       hdr.version >> 8, hdr.version & 0xff);
	if (!(hdr.xloadflags & XLF_KERNEL_64))
		return boot_err_set(err, -EINVAL, "kernel: bzImage has no 64-bit entry point");
	if (!(hdr.loadflags & LOADFLAG_LOADED_HIGH))
		return boot_err_set(err, -EINVAL, "kernel: zImage (loaded low) is not supported");
	setup_size = ((size_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
	if (setup_size >= size)
		return boot_err_set(err, -EINVAL, "kernel: bzImage truncated (setup %zu of %zu bytes)",
			       setup_size, size);
	/* The header ends where the jump at 0x200 lands: 0x202 + its 8-bit offset. */
	hdr_len = MIN((size_t)(0x202 + buf[0x201]) - BZ_HDR_OFFSET, sizeof(hdr));

	load = hdr.pref_address ? hdr.pref_address : 0x1000000;
	if (load < BOOT_HIGH_MEMORY_START || load > MMIO_GAP_START)
		return boot_err_set(err, -EINVAL, "kernel: preferred load address 0x%llx unusable",
			       (unsigned long long)load);
	/* init_size covers decompression in place; the payload must fit either way. */
	need = MAX((uint64_t)hdr.init_size, (uint64_t)(size - setup_size));
	if (!guest_mem_ptr(m, load, need) || load + need > MMIO_GAP_START)
		return boot_err_set(err, -EINVAL,
			       "kernel: bzImage needs [0x%llx, +0x%llx) but guest memory is %llu "
			       "MiB: memory too small for the kernel",
			       (unsigned long long)load, (unsigned long long)need,
			       (unsigned long long)(m->total >> 20));
	memcpy(guest_mem_ptr(m, load, size - setup_size), buf + setup_size, size - setup_size);

	memset(k, 0, sizeof(*k));
	memcpy(&k->hdr, buf + BZ_HDR_OFFSET, hdr_len);
	k->format = KERNEL_BZIMAGE;
	k->entry = load + BZ_ENTRY64_OFFSET;
	k->start = load;
	k->end = load + need;
	k->cmdline_max = hdr.cmdline_size ? hdr.cmdline_size : 255;
	k->initrd_addr_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : 0x37ffffff;
	return 0;
}
