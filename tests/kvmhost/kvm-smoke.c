// SPDX-License-Identifier: MIT
/*
 * kvm-smoke: the smallest KVM client that proves a /dev/kvm works and measures it.
 *
 *   real     one vCPU in real mode writes "OK\n" to COM1 with `out`, then `hlt`
 *   long     one vCPU started directly in 64-bit long mode (GDT, identity-mapped 2 MiB
 *            pages, CR0/CR4/EFER set from userspace) runs a ring-0 loop, stores to memory
 *            through its page tables, writes "OK\n" and halts
 *   pio      10000 `out` exits to userspace from long mode: the cost of one exit
 *   irqchip  KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2; a real-mode guest programs the PIC and
 *            the PIT, takes timer interrupts while halted in the kernel, then reports
 *
 * usage: kvm-smoke [LOOP_ITERATIONS]      (default 10000000)
 * Exit: 0 all passed, 1 a test failed, 77 no /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE	(4u << 20)
#define COM1		0x3f8
#define DONE_PORT	0x501
#define BENCH_PORT	0x502
#define PIO_EXITS	10000
#define MAX_EXITS	100000
#define RUN_TIMEOUT_S	120

/* Guest code, assembled by gas and copied into guest memory at run time. */
extern const unsigned char rm_hello[], rm_hello_end[];
extern const unsigned char lm_loop[], lm_loop_end[];
extern const unsigned char lm_pio[], lm_pio_end[];
extern const unsigned char rm_timer[], rm_timer_end[], rm_timer_isr[];

__asm__(
	".pushsection .rodata\n"
	".code16\n"
	".globl rm_hello, rm_hello_end\n"
	"rm_hello:\n"
	"	mov $0x3f8, %dx\n"
	"	mov $'O', %al\n"
	"	out %al, %dx\n"
	"	mov $'K', %al\n"
	"	out %al, %dx\n"
	"	mov $'\\n', %al\n"
	"	out %al, %dx\n"
	"	hlt\n"
	"rm_hello_end:\n"

	/* Real mode, PIC + PIT handled by KVM: count 100 timer ticks in %bx. */
	".globl rm_timer, rm_timer_end, rm_timer_isr\n"
	"rm_timer:\n"
	"	cli\n"
	"	xor %ax, %ax\n"
	"	mov %ax, %ss\n"
	"	mov $0x8000, %sp\n"
	"	mov $0x11, %al\n"	/* ICW1: edge, cascade, ICW4 */
	"	out %al, $0x20\n"
	"	mov $0x08, %al\n"	/* ICW2: vectors 8..15 */
	"	out %al, $0x21\n"
	"	mov $0x04, %al\n"	/* ICW3: slave on IRQ2 */
	"	out %al, $0x21\n"
	"	mov $0x01, %al\n"	/* ICW4: 8086 mode */
	"	out %al, $0x21\n"
	"	mov $0xfe, %al\n"	/* only IRQ0 */
	"	out %al, $0x21\n"
	"	mov $0xff, %al\n"
	"	out %al, $0xa1\n"
	"	mov $0x34, %al\n"	/* PIT ch0, lo/hi, mode 2 */
	"	out %al, $0x43\n"
	"	mov $(1193 & 0xff), %al\n"	/* ~1 kHz */
	"	out %al, $0x40\n"
	"	mov $(1193 >> 8), %al\n"
	"	out %al, $0x40\n"
	"	xor %bx, %bx\n"
	"	sti\n"
	"1:	hlt\n"
	"	cmp $100, %bx\n"
	"	jb 1b\n"
	"	cli\n"
	"	mov $0x3f8, %dx\n"
	"	mov $'O', %al\n"
	"	out %al, %dx\n"
	"	mov $'K', %al\n"
	"	out %al, %dx\n"
	"	mov $'\\n', %al\n"
	"	out %al, %dx\n"
	"	mov $0x501, %dx\n"
	"	out %al, %dx\n"
	"2:	jmp 2b\n"
	"rm_timer_isr:\n"
	"	inc %bx\n"
	"	mov $0x20, %al\n"	/* EOI */
	"	out %al, $0x20\n"
	"	iret\n"
	"rm_timer_end:\n"

	".code64\n"
	".globl lm_loop, lm_loop_end\n"
	"lm_loop:\n"			/* %rcx = iterations, set by the host */
	"1:	dec %rcx\n"
	"	jnz 1b\n"
	"	movl $0xdeadbeef, 0x5000\n"
	"	mov $0x3f8, %dx\n"
	"	mov $'O', %al\n"
	"	out %al, %dx\n"
	"	mov $'K', %al\n"
	"	out %al, %dx\n"
	"	mov $'\\n', %al\n"
	"	out %al, %dx\n"
	"	hlt\n"
	"lm_loop_end:\n"

	".globl lm_pio, lm_pio_end\n"
	"lm_pio:\n"			/* %rcx = number of exits to cause */
	"	mov $0x502, %dx\n"
	"1:	out %al, %dx\n"
	"	dec %rcx\n"
	"	jnz 1b\n"
	"	hlt\n"
	"lm_pio_end:\n"
	".popsection\n");

struct vm {
	int vm_fd;
	int vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

struct run_result {
	char out[64];
	size_t out_len;
	unsigned int exits;
	unsigned int io_exits;
	unsigned int bench_exits;
	double first_exit_ms;	/* KVM_RUN until the first exit to userspace */
	double total_ms;
	int reason;		/* last exit reason */
};

static int kvm_fd = -1;
static unsigned int n_fail;

static void on_alarm(int sig)
{
	(void)sig;	/* only interrupts KVM_RUN with EINTR */
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fail(const char *test, const char *what)
{
	printf("FAIL %s: %s\n", test, what);
	n_fail++;
}

static void vm_destroy(struct vm *vm)
{
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->mem)
		munmap(vm->mem, MEM_SIZE);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;
}

/* VM with MEM_SIZE of RAM at GPA 0; the vCPU is made by vm_add_vcpu. */
static int vm_create(struct vm *vm, const char *test)
{
	struct kvm_userspace_memory_region region;
	void *mem;

	memset(vm, 0, sizeof(*vm));
	vm->vcpu_fd = -1;
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0UL);
	if (vm->vm_fd < 0) {
		fail(test, "KVM_CREATE_VM");
		return -errno;
	}
	/* Needed on Intel without unrestricted guest; harmless elsewhere. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		printf("note %s: KVM_SET_TSS_ADDR: %s\n", test, strerror(errno));
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		fail(test, "mmap guest memory");
		return -ENOMEM;
	}
	vm->mem = mem;
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uint64_t)(uintptr_t)mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		fail(test, "KVM_SET_USER_MEMORY_REGION");
		return -errno;
	}
	return 0;
}

static int vm_add_vcpu(struct vm *vm, const char *test)
{
	int sz;
	void *run;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0UL);
	if (vm->vcpu_fd < 0) {
		fail(test, "KVM_CREATE_VCPU");
		return -errno;
	}
	sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0UL);
	if (sz < (int)sizeof(struct kvm_run)) {
		fail(test, "KVM_GET_VCPU_MMAP_SIZE");
		return -EINVAL;
	}
	run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (run == MAP_FAILED) {
		fail(test, "mmap kvm_run");
		return -errno;
	}
	vm->run = run;
	vm->run_size = (size_t)sz;
	return 0;
}

static int setup_real_mode(struct vm *vm, const char *test, uint64_t rip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		fail(test, "KVM_GET_SREGS");
		return -errno;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		fail(test, "KVM_SET_SREGS");
		return -errno;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 0x2;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		fail(test, "KVM_SET_REGS");
		return -errno;
	}
	return 0;
}

/*
 * Run until HLT (seen only without an in-kernel irqchip), a write to DONE_PORT, or a
 * failure.  COM1 bytes are collected; any other exit is a failure.
 */
static int run_vcpu(struct vm *vm, const char *test, struct run_result *res)
{
	struct kvm_run *run = vm->run;
	double t0 = now_ms();
	int ret = 0;

	memset(res, 0, sizeof(*res));
	res->first_exit_ms = -1;
	alarm(RUN_TIMEOUT_S);
	while (res->exits < MAX_EXITS) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0UL) < 0) {
			if (errno == EINTR) {
				fail(test, "KVM_RUN timed out (EINTR after alarm)");
				ret = -ETIMEDOUT;
			} else {
				fail(test, "KVM_RUN");
				ret = -errno;
			}
			break;
		}
		res->exits++;
		if (res->first_exit_ms < 0)
			res->first_exit_ms = now_ms() - t0;
		res->reason = (int)run->exit_reason;
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1 &&
		    run->io.count == 1 && run->io.data_offset < vm->run_size) {
			uint8_t c = *((uint8_t *)run + run->io.data_offset);

			res->io_exits++;
			if (run->io.port == DONE_PORT)
				break;
			if (run->io.port == BENCH_PORT) {
				res->bench_exits++;
				continue;
			}
			if (run->io.port == COM1) {
				if (res->out_len + 1 < sizeof(res->out))
					res->out[res->out_len++] = (char)c;
				continue;
			}
		}
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			printf("%s: internal error suberror %u\n", test, run->internal.suberror);
		if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
			printf("%s: entry failure reason 0x%llx\n", test,
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		printf("%s: unexpected exit reason %u\n", test, run->exit_reason);
		fail(test, "unexpected exit");
		ret = -EIO;
		break;
	}
	alarm(0);
	res->total_ms = now_ms() - t0;
	if (!ret && res->exits >= MAX_EXITS) {
		fail(test, "too many exits");
		ret = -E2BIG;
	}
	return ret;
}

static void check_output(const char *test, const struct run_result *res)
{
	if (res->out_len != 3 || memcmp(res->out, "OK\n", 3) != 0)
		fail(test, "guest did not write \"OK\\n\" to COM1");
}

static void test_real(void)
{
	const char *test = "real";
	size_t len = (size_t)(rm_hello_end - rm_hello);
	struct run_result res;
	struct vm vm;
	double t0 = now_ms(), t_setup;

	if (vm_create(&vm, test) || vm_add_vcpu(&vm, test))
		goto out;
	memcpy(vm.mem + 0x1000, rm_hello, len);
	if (setup_real_mode(&vm, test, 0x1000))
		goto out;
	t_setup = now_ms() - t0;
	if (run_vcpu(&vm, test, &res))
		goto out;
	if (res.reason != KVM_EXIT_HLT)
		fail(test, "did not end with KVM_EXIT_HLT");
	check_output(test, &res);
	printf("real: output %s, %u exits (%u io), setup %.3f ms, run %.3f ms\n",
	       res.out_len == 3 && !memcmp(res.out, "OK\n", 3) ? "OK" : "BAD",
	       res.exits, res.io_exits, t_setup, res.total_ms);
out:
	vm_destroy(&vm);
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t l)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = l ? 0 : 1;
	s->s = 1;
	s->l = l;
	s->g = 1;
}

/* A vCPU in 64-bit mode at 0x10000 running CODE with %rcx = RCX. */
static int setup_long_mode(struct vm *vm, const char *test, const unsigned char *code,
			   size_t len, uint64_t rcx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t *gdt, *pml4, *pdpt, *pd;

	if (vm_create(vm, test) || vm_add_vcpu(vm, test))
		return -EIO;
	/* GDT at 0x1000: null, 64-bit code (0x08), data (0x10). */
	gdt = (uint64_t *)(vm->mem + 0x1000);
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL;
	gdt[2] = 0x00cf93000000ffffULL;
	/* PML4 0x2000 -> PDPT 0x3000 -> PD 0x4000: identity map 4 MiB with 2 MiB pages. */
	pml4 = (uint64_t *)(vm->mem + 0x2000);
	pdpt = (uint64_t *)(vm->mem + 0x3000);
	pd = (uint64_t *)(vm->mem + 0x4000);
	pml4[0] = 0x3000 | 0x3;
	pdpt[0] = 0x4000 | 0x3;
	pd[0] = 0x000000 | 0x83;
	pd[1] = 0x200000 | 0x83;
	memcpy(vm->mem + 0x10000, code, len);

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		fail(test, "KVM_GET_SREGS");
		return -errno;
	}
	set_seg(&sregs.cs, 0x08, 0xb, 1);
	set_seg(&sregs.ds, 0x10, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = 0x1000;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = 0x2000;
	sregs.cr4 = 1u << 5;				/* PAE */
	sregs.cr0 = 0x80000000u | 0x20 | 0x10 | 0x2 | 0x1;	/* PG NE ET MP PE */
	sregs.efer = (1u << 8) | (1u << 10);		/* LME LMA */
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		fail(test, "KVM_SET_SREGS (long mode)");
		return -errno;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x10000;
	regs.rsp = 0x8000;
	regs.rflags = 0x2;
	regs.rcx = rcx;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		fail(test, "KVM_SET_REGS");
		return -errno;
	}
	return 0;
}

static void test_long(uint64_t iters)
{
	const char *test = "long";
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct run_result res;
	struct vm vm;
	uint32_t stored;
	double t0 = now_ms(), t_setup;

	if (setup_long_mode(&vm, test, lm_loop, (size_t)(lm_loop_end - lm_loop), iters))
		goto out;
	t_setup = now_ms() - t0;
	if (run_vcpu(&vm, test, &res))
		goto out;
	if (res.reason != KVM_EXIT_HLT)
		fail(test, "did not end with KVM_EXIT_HLT");
	check_output(test, &res);
	memcpy(&stored, vm.mem + 0x5000, sizeof(stored));
	if (stored != 0xdeadbeef)
		fail(test, "store through guest page tables missing");
	if (ioctl(vm.vcpu_fd, KVM_GET_REGS, &regs) < 0 || regs.rcx != 0)
		fail(test, "loop counter not zero at the end");
	if (ioctl(vm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0 || !(sregs.efer & (1u << 10)))
		fail(test, "EFER.LMA not set");
	printf("long: output %s, %u exits (%u io), setup %.3f ms, run %.3f ms\n",
	       res.out_len == 3 && !memcmp(res.out, "OK\n", 3) ? "OK" : "BAD",
	       res.exits, res.io_exits, t_setup, res.total_ms);
	if (res.first_exit_ms > 0)
		printf("long: ring-0 loop %" PRIu64 " iterations (dec+jnz) in %.3f ms = %.3g iterations/s\n",
		       iters, res.first_exit_ms, (double)iters / (res.first_exit_ms / 1e3));
out:
	vm_destroy(&vm);
}

/* Cost of one exit to userspace and back: what every emulated device access pays. */
static void test_pio(void)
{
	const char *test = "pio";
	struct run_result res;
	struct vm vm;

	if (setup_long_mode(&vm, test, lm_pio, (size_t)(lm_pio_end - lm_pio), PIO_EXITS))
		goto out;
	if (run_vcpu(&vm, test, &res))
		goto out;
	if (res.reason != KVM_EXIT_HLT || res.bench_exits != PIO_EXITS)
		fail(test, "wrong number of port exits");
	printf("pio: %u port-I/O exits to userspace in %.3f ms = %.1f us per exit\n",
	       res.bench_exits, res.total_ms, res.total_ms * 1e3 / res.bench_exits);
out:
	vm_destroy(&vm);
}

static void test_irqchip(void)
{
	const char *test = "irqchip";
	size_t len = (size_t)(rm_timer_end - rm_timer);
	uint16_t isr = (uint16_t)(0x1000 + (rm_timer_isr - rm_timer));
	struct kvm_pit_config pit;
	struct kvm_lapic_state lapic;
	struct run_result res;
	struct vm vm;
	uint32_t v;

	if (vm_create(&vm, test))
		goto out;
	if (ioctl(vm.vm_fd, KVM_CREATE_IRQCHIP, 0UL) < 0) {
		printf("irqchip: KVM_CREATE_IRQCHIP failed: %s\n", strerror(errno));
		fail(test, "KVM_CREATE_IRQCHIP");
		goto out;
	}
	printf("irqchip: KVM_CREATE_IRQCHIP ok\n");
	memset(&pit, 0, sizeof(pit));
	if (ioctl(vm.vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		printf("irqchip: KVM_CREATE_PIT2 failed: %s\n", strerror(errno));
		fail(test, "KVM_CREATE_PIT2");
		goto out;
	}
	printf("irqchip: KVM_CREATE_PIT2 ok\n");
	if (vm_add_vcpu(&vm, test))
		goto out;
	/* Route the PIC through LINT0 as firmware would: LVT0 = ExtINT, APIC enabled. */
	if (ioctl(vm.vcpu_fd, KVM_GET_LAPIC, &lapic) < 0) {
		fail(test, "KVM_GET_LAPIC");
		goto out;
	}
	v = 0x1ff;
	memcpy(&lapic.regs[0xf0], &v, sizeof(v));
	v = 0x700;
	memcpy(&lapic.regs[0x350], &v, sizeof(v));
	v = 0x400;	/* LINT1 = NMI */
	memcpy(&lapic.regs[0x360], &v, sizeof(v));
	if (ioctl(vm.vcpu_fd, KVM_SET_LAPIC, &lapic) < 0) {
		fail(test, "KVM_SET_LAPIC");
		goto out;
	}
	memcpy(vm.mem + 0x1000, rm_timer, len);
	/* IVT entry for vector 8 (IRQ0 after the guest's ICW2). */
	memcpy(vm.mem + 8 * 4, &isr, sizeof(isr));
	memset(vm.mem + 8 * 4 + 2, 0, 2);
	if (setup_real_mode(&vm, test, 0x1000))
		goto out;
	if (run_vcpu(&vm, test, &res))
		goto out;
	check_output(test, &res);
	if (res.reason != KVM_EXIT_IO)
		fail(test, "did not end at the done port");
	printf("irqchip: 100 PIT ticks (programmed 1 kHz) taken in HLT in %.3f ms, %u exits (%u io)\n",
	       res.total_ms, res.exits, res.io_exits);
	/* 100 ticks at ~1 kHz: far off means the timer or its delivery is broken. */
	if (res.total_ms < 50)
		fail(test, "timer ticks came too fast");
out:
	vm_destroy(&vm);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	uint64_t iters = 10000000;
	double t0 = now_ms();
	int api;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1) {
		char *end;

		errno = 0;
		iters = strtoull(argv[1], &end, 0);
		if (errno || *end || iters == 0) {
			fprintf(stderr, "usage: %s [LOOP_ITERATIONS>0]\n", argv[0]);
			return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: KVM_RUN returns EINTR */

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("SKIP: cannot open /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0UL);
	printf("KVM API version %d\n", api);
	if (api != KVM_API_VERSION) {
		printf("FAIL: API version %d, want %d\n", api, KVM_API_VERSION);
		return 1;
	}
	printf("caps: irqchip=%d pit2=%d user_memory=%d nr_vcpus=%d\n",
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP),
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PIT2),
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY),
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS));

	test_real();
	test_long(iters);
	test_pio();
	test_irqchip();
	close(kvm_fd);
	printf("kvm-smoke: %s, %u failure(s), %.1f ms total\n", n_fail ? "FAIL" : "PASS",
	       n_fail, now_ms() - t0);
	return n_fail ? 1 : 0;
}
