// SPDX-License-Identifier: Apache-2.0
#include "vmm/devices/boot_timer.h"

#include <time.h>

#include "vmm/log.h"
#include "vmm/util.h"

static uint64_t process_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void boot_timer_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct boot_timer *t = opaque;
	uint64_t now = util_now_ns(), expected = 0, wall_us, vm_us, cpu_us;

	if (off != 0 || data[0] != BOOT_TIMER_MAGIC)
		return;
	/* Only the first signal counts. */
	if (!__atomic_compare_exchange_n(&t->signalled_ns, &expected, now, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	wall_us = (now - t->start_ns) / 1000;
	vm_us = t->vm_start_ns ? (now - t->vm_start_ns) / 1000 : 0;
	cpu_us = process_cpu_us();
	log_info("Guest-boot-time = %llu us %llu ms, %llu CPU us %llu CPU ms (since VM start: "
		 "%llu us)",
		 (unsigned long long)wall_us, (unsigned long long)(wall_us / 1000),
		 (unsigned long long)cpu_us, (unsigned long long)(cpu_us / 1000),
		 (unsigned long long)vm_us);
}

static void boot_timer_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = 0;
}

const struct bus_ops boot_timer_ops = { .read = boot_timer_read, .write = boot_timer_write };
