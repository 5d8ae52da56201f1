// SPDX-License-Identifier: Apache-2.0
/*
 * Nested-PVM host compatibility. Some development hosts run KVM as "PVM" inside a VM:
 * guest kernel code is emulated instruction by instruction, and the emulator lacks a few
 * instructions Linux uses. On such a host (detected by the kvm_pvm module) the VMM asks
 * the guest kernel to avoid them and emulates int3 itself; on any other host this is off.
 */
#include <stdbool.h>
#include <sys/stat.h>

#include "vmm/kvm.h"

/*
 * For a Linux 6.1 guest: no XSAVE; clearcpuid takes 6.1 feature numbers (word*32+bit):
 * CX16(141) SMAP(308) POPCNT(151) RDRAND(158) RDSEED(306) FSGSBASE(288) INVPCID(298)
 * PCID(145) MOVBE(150) RDPID(534) CLFLUSHOPT(311) CLWB(312).
 */
const char nested_pvm_cmdline[] =
	"noxsave clearcpuid=141,308,151,158,306,288,298,145,150,534,311,312";

bool nested_pvm_detect(void)
{
	struct stat st;

	return stat("/sys/module/kvm_pvm", &st) == 0;
}
