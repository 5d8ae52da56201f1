/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot timer (--boot-timer): the guest writes the byte 123 at the start of this MMIO
 * page when its user space is up; the VMM logs the time since it started, as Firecracker.
 */
#ifndef VMM_DEVICES_BOOT_TIMER_H
#define VMM_DEVICES_BOOT_TIMER_H

#include <stdint.h>

#include "vmm/bus.h"

#define BOOT_TIMER_MAGIC 123
#define BOOT_TIMER_SIZE 0x1000

struct boot_timer {
	uint64_t start_ns; /* process start */
	uint64_t vm_start_ns; /* InstanceStart / vm_start */
	uint64_t signalled_ns; /* 0 until the guest writes the magic value */
};

extern const struct bus_ops boot_timer_ops;

#endif
