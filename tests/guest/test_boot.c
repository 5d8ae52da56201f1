// SPDX-License-Identifier: Apache-2.0
/* What the VMM handed over at boot, checked from inside the guest. */
#include "tests/guest/guest.h"

#include "vmm/boot/layout.h"

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

void test_boot(void)
{
	const struct boot_params *bp = g_boot_params;
	uint64_t mem_mib = param_u64("mem_mib", 0), cpus = param_u64("cpus", 0), ram = 0;
	uint32_t a, b, c, d;

	check_eq(bp->hdr.boot_flag, 0xaa55, "zero page boot flag");
	check_eq(bp->hdr.header, 0x53726448, "zero page HdrS");
	check(strstr(g_cmdline, "console=ttyS0") && strstr(g_cmdline, "reboot=k") &&
		      strstr(g_cmdline, "panic=1"),
	      "default kernel arguments present", g_cmdline);

	/* e820: RAM adds up to the configured size, less the 384 KiB legacy hole. */
	check(bp->e820_entries >= 2 && bp->e820_entries <= 3, "e820 entry count", NULL);
	for (unsigned int i = 0; i < bp->e820_entries && i < 8; i++)
		if (bp->e820_table[i].type == E820_RAM)
			ram += bp->e820_table[i].size;
	if (mem_mib)
		check_eq(ram, (mem_mib << 20) - (BOOT_HIGH_MEMORY_START - BOOT_EBDA_START),
			 "e820 RAM total");

	/* The RNG seed in setup_data. */
	if (bp->hdr.setup_data) {
		const struct setup_data_hdr *sd =
			(const struct setup_data_hdr *)(uintptr_t)bp->hdr.setup_data;
		const uint8_t *seed = (const uint8_t *)(sd + 1);
		bool nonzero = false;

		check_eq(sd->type, SETUP_RNG_SEED, "setup_data type is RNG seed");
		check_eq(sd->len, 32, "RNG seed length");
		for (unsigned int i = 0; i < 32; i++)
			nonzero |= seed[i] != 0;
		check(nonzero, "RNG seed is not all zero", NULL);
	} else {
		check(false, "setup_data present", NULL);
	}

	/* MP table: floating pointer at the EBDA, checksums, one processor entry per vCPU. */
	{
		const uint8_t *mpf = (const uint8_t *)(uintptr_t)BOOT_EBDA_START;
		const uint8_t *mpc;
		uint32_t ptr;
		uint16_t len;
		unsigned int n = 0;

		check(!memcmp(mpf, "_MP_", 4) && sum8(mpf, 16) == 0, "MP floating pointer", NULL);
		memcpy(&ptr, mpf + 4, 4);
		mpc = (const uint8_t *)(uintptr_t)ptr;
		memcpy(&len, mpc + 4, 2);
		check(!memcmp(mpc, "PCMP", 4) && sum8(mpc, len) == 0, "MP configuration table",
		      NULL);
		for (const uint8_t *p = mpc + 44; p < mpc + len; p += *p == 0 ? 20 : 8)
			n += *p == 0;
		if (cpus)
			check_eq(n, cpus, "MP table processor count");
	}

	cpuid(1, 0, &a, &b, &c, &d);
	check(c & (1u << 31), "CPUID hypervisor bit", NULL);
	check_eq(b >> 24, 0, "CPUID APIC id of the boot vCPU");
	if (cpus)
		check_eq((b >> 16) & 0xff, cpus, "CPUID logical processor count");
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	check(b == 0x4b4d564b && c == 0x564b4d56 && d == 0x4d, "CPUID KVM signature", NULL);

	/* i8042 self-test answers as Linux's driver expects. */
	outb(0x64, 0xaa);
	check_eq(inb(0x60), 0x55, "i8042 self-test");

	/* Boot timer: the VMM logs the boot time (the host test reads the log). */
	mmio_write8(BOOT_TIMER_ADDR, 123);
	puts_serial("guest: info: boot timer signalled (the host checks the VMM)\n");
}
