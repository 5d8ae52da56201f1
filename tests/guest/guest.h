/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The test guest: a freestanding x86-64 program the VMM boots like a kernel. It sets up
 * its own page tables, GDT, TSS and IDT in ring 0, drops to ring 3 with IOPL=3 (guest
 * user mode runs at native speed even where guest kernel code is emulated) and runs one
 * test chosen by "guest.test=NAME" on the kernel command line. It reports on COM1:
 *   guest: PASS <what>     guest: FAIL <what>: <detail>
 *   guest: RESULT <n> passed, <m> failed
 * and then resets through the i8042, which ends the VMM with exit status 0.
 */
#ifndef TESTS_GUEST_GUEST_H
#define TESTS_GUEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/bootparams.h"

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)addr;
}

static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
}

/* Ring 3 may read the TSC (the test guest leaves CR4.TSD clear). */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void barrier(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
			 uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline uint32_t MIN_U32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint64_t MIN_U64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* libc bits the compiler may call. */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
const char *strstr(const char *h, const char *n);

void putc_serial(char c);
void puts_serial(const char *s);
void put_hex(uint64_t v);
void put_dec(uint64_t v);

/* Results. */
void check(bool ok, const char *what, const char *detail);
void check_eq(uint64_t got, uint64_t want, const char *what);
__attribute__((noreturn)) void finish(void);
__attribute__((noreturn)) void i8042_reset(void);

/* The command line and parameters "guest.KEY=VALUE". */
extern const struct boot_params *g_boot_params;
extern const char *g_cmdline;
/* Value of guest.KEY as a number, or def. */
uint64_t param_u64(const char *key, uint64_t def);
/* Copy of guest.KEY's value into buf; false if absent. */
bool param_str(const char *key, char *buf, size_t len);

/* Tests, each run in ring 3. */
void test_boot(void);
void test_blk(void);
void test_blk_hostile(void);
void test_mmio_hostile(void);
void bench_blk(void);
void test_spin(void);
void test_echo(void);
void test_net(void);
void test_vsock(void);

#endif
