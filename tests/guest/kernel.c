// SPDX-License-Identifier: Apache-2.0
/*
 * Ring 0 part of the test guest: own page tables (identity map of 4 GiB, user
 * accessible, device space uncached), GDT with ring-3 segments, TSS, IDT; then ring 3.
 * Kept short on purpose: on hosts that emulate guest kernel mode each instruction
 * here costs about a microsecond.
 */
#include "tests/guest/guest.h"

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_US 0x4ULL
#define PTE_PWT 0x8ULL
#define PTE_PCD 0x10ULL
#define PTE_PS 0x80ULL

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA (0x18 | 3)
#define SEL_UCODE (0x20 | 3)
#define SEL_TSS 0x28

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));
static uint64_t gdt[7] __attribute__((aligned(16)));
static uint8_t tss[104] __attribute__((aligned(16)));
static uint8_t idt[22 * 16] __attribute__((aligned(16)));
static uint8_t ustack[65536] __attribute__((aligned(16)));
extern char kstack_top[];

struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint64_t base;
};

extern void enter_user(void (*entry)(void), void *stack, uint64_t cs, uint64_t ss,
		       uint64_t rflags);
#define ISR(n) extern void isr##n(void);
ISR(0) ISR(1) ISR(2) ISR(3) ISR(4) ISR(5) ISR(6) ISR(7) ISR(8) ISR(9) ISR(10) ISR(11)
ISR(12) ISR(13) ISR(14) ISR(15) ISR(16) ISR(17) ISR(18) ISR(19) ISR(20) ISR(21)

static void (*const isrs[22])(void) = { isr0,  isr1,  isr2,  isr3,  isr4,  isr5,  isr6,  isr7,
					isr8,  isr9,  isr10, isr11, isr12, isr13, isr14, isr15,
					isr16, isr17, isr18, isr19, isr20, isr21 };

void guest_kernel_main(const struct boot_params *bp);
void guest_exception(uint64_t *frame);
struct gp_frame;
void guest_gp(struct gp_frame *f);

/* isr_gp's stack: the registers it saved, then what isr_common's frame holds. */
struct gp_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

/* frame: vector, error code, rip, cs, rflags, rsp, ss */
void guest_exception(uint64_t *frame)
{
	puts_serial("guest: FAIL exception vector ");
	put_dec(frame[0]);
	puts_serial(" error ");
	put_hex(frame[1]);
	puts_serial(" rip ");
	put_hex(frame[2]);
	puts_serial(" cs ");
	put_hex(frame[3]);
	puts_serial("\n");
	finish();
}

/*
 * Some nested hosts (seen: a PVM host with nested_pvm=1) raise #GP for port I/O from
 * ring 3 although IOPL=3. Such an in/out is performed here in ring 0 and the user code
 * resumes after it; the first one is reported on the console. "guest.iopl=0" enters
 * ring 3 without IOPL to exercise this path on any host.
 */
static bool port_io(struct gp_frame *f)
{
	const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
	static bool noted;
	unsigned int len = 0, size;
	uint16_t port;
	uint8_t op;

	if ((f->cs & 3) != 3 || f->error != 0)
		return false;
	size = ip[0] == 0x66 ? 2 : 4;
	if (ip[0] == 0x66)
		len++;
	op = ip[len++];
	if (op >= 0xe4 && op <= 0xe7)
		port = ip[len++];
	else if (op >= 0xec && op <= 0xef)
		port = (uint16_t)f->rdx;
	else
		return false;
	if (!(op & 1))
		size = 1;
	if (!noted) {
		noted = true;
		puts_serial("guest: note: ring 3 port I/O faults on this host (IOPL not honoured);"
			    " ring 0 performs it\n");
	}
	if (op & 2) {
		uint32_t v = (uint32_t)f->rax;

		if (size == 1)
			__asm__ volatile("outb %b0, %w1" : : "a"(v), "Nd"(port));
		else if (size == 2)
			__asm__ volatile("outw %w0, %w1" : : "a"(v), "Nd"(port));
		else
			__asm__ volatile("outl %0, %w1" : : "a"(v), "Nd"(port));
	} else if (size == 1) {
		uint8_t v;

		__asm__ volatile("inb %w1, %b0" : "=a"(v) : "Nd"(port));
		f->rax = (f->rax & ~0xffULL) | v;
	} else if (size == 2) {
		uint16_t v;

		__asm__ volatile("inw %w1, %w0" : "=a"(v) : "Nd"(port));
		f->rax = (f->rax & ~0xffffULL) | v;
	} else {
		uint32_t v;

		__asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(port));
		f->rax = v; /* a 32-bit destination clears the upper half */
	}
	f->rip += len;
	return true;
}

void guest_gp(struct gp_frame *f)
{
	if (!port_io(f))
		guest_exception(&f->vector);
}

static void setup_paging(void)
{
	for (uint64_t g = 0; g < 4; g++) {
		uint64_t flags = PTE_P | PTE_RW | PTE_US | PTE_PS;

		/* The top GiB holds device windows: uncached. */
		if (g == 3)
			flags |= PTE_PCD | PTE_PWT;
		for (uint64_t i = 0; i < 512; i++)
			pd[g][i] = ((g << 30) | (i << 21)) | flags;
		pdpt[g] = (uint64_t)(uintptr_t)pd[g] | PTE_P | PTE_RW | PTE_US;
	}
	pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_RW | PTE_US;
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)pml4) : "memory");
}

static void setup_segments(void)
{
	uint64_t t = (uint64_t)(uintptr_t)tss;
	struct dtr g = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffULL; /* kernel code, 64-bit */
	gdt[2] = 0x00cf92000000ffffULL; /* kernel data */
	gdt[3] = 0x00cff2000000ffffULL; /* user data, DPL 3 */
	gdt[4] = 0x00affa000000ffffULL; /* user code, 64-bit, DPL 3 */
	gdt[5] = (sizeof(tss) - 1) | ((t & 0xffffff) << 16) | (0x89ULL << 40) |
		 (((t >> 24) & 0xff) << 56);
	gdt[6] = t >> 32;
	/* rsp0: the stack exceptions from ring 3 arrive on. */
	uint64_t rsp0 = (uint64_t)(uintptr_t)kstack_top;
	memcpy(tss + 4, &rsp0, 8);
	tss[102] = sizeof(tss); /* no I/O bitmap: IOPL governs port access */

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "movw %3, %%ax\n\t"
			 "ltr %%ax"
			 :
			 : "m"(g), "i"(SEL_KCODE), "i"(SEL_KDATA), "i"(SEL_TSS)
			 : "rax", "memory");
}

static void setup_idt(void)
{
	struct dtr d = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	for (int i = 0; i < 22; i++) {
		uint64_t h = (uint64_t)(uintptr_t)isrs[i];
		uint8_t *e = idt + 16 * i;

		e[0] = (uint8_t)h;
		e[1] = (uint8_t)(h >> 8);
		e[2] = SEL_KCODE;
		e[3] = 0;
		e[4] = 0;
		e[5] = 0x8e; /* present, DPL 0, interrupt gate */
		e[6] = (uint8_t)(h >> 16);
		e[7] = (uint8_t)(h >> 24);
		e[8] = (uint8_t)(h >> 32);
		e[9] = (uint8_t)(h >> 40);
		e[10] = (uint8_t)(h >> 48);
		e[11] = (uint8_t)(h >> 56);
		e[12] = e[13] = e[14] = e[15] = 0;
	}
	__asm__ volatile("lidt %0" : : "m"(d));
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "boot", test_boot },
	{ "blk", test_blk },
	{ "blk-hostile", test_blk_hostile },
	{ "mmio-hostile", test_mmio_hostile },
	{ "bench-blk", bench_blk },
	{ "spin", test_spin },
	{ "echo", test_echo },
	{ "net", test_net },
	{ "vsock", test_vsock },
};

static void user_main(void)
{
	char name[32] = "";

	param_str("test", name, sizeof(name));
	puts_serial("guest: test ");
	puts_serial(name);
	puts_serial(" in ring 3\n");
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (strlen(name) == strlen(tests[i].name) &&
		    !memcmp(name, tests[i].name, strlen(name))) {
			tests[i].fn();
			finish();
		}
	}
	check(false, "test selection", "unknown or missing guest.test=");
	finish();
}

void guest_kernel_main(const struct boot_params *bp)
{
	char name[32] = "";

	g_boot_params = bp;
	g_cmdline = (const char *)(uintptr_t)bp->hdr.cmd_line_ptr;
	puts_serial("guest: started\n");
	param_str("test", name, sizeof(name));
	if (!memcmp(name, "triple", 7)) {
		/* An exception with an empty IDT: #UD -> #DF -> triple fault. */
		struct dtr none = { 0, 0 };

		puts_serial("guest: triple faulting\n");
		__asm__ volatile("lidt %0\n\tud2" : : "m"(none));
	}
	setup_paging();
	setup_segments();
	setup_idt();
	enter_user(user_main, ustack + sizeof(ustack), SEL_UCODE, SEL_UDATA,
		   param_u64("iopl", 3) == 0 ? 0x0002 : 0x3002);
}
