// SPDX-License-Identifier: Apache-2.0
#include "vmm/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 1ULL
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WRBACK 6ULL

#define X86_CR0_PE 0x1ULL
#define X86_CR0_ET 0x10ULL
#define X86_CR0_PG 0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static int vcpu_kick_signal(void)
{
	return SIGRTMIN;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signal_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	return sigaction(vcpu_kick_signal(), &sa, NULL) < 0 ? -errno : 0;
}

static int vcpu_fail(struct config_err *err, unsigned int id, const char *what)
{
	int e = errno;

	snprintf(err->msg, sizeof(err->msg), "vCPU %u: %s: %s", id, what, strerror(e));
	return -e;
}

static void seg_init(struct kvm_segment *s, unsigned int gdt_index)
{
	uint64_t d = boot_gdt_entry(gdt_index);

	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = (uint16_t)(gdt_index * 8);
	s->type = (d >> 40) & 0xf;
	s->present = (d >> 47) & 1;
	s->dpl = (d >> 45) & 3;
	s->db = (d >> 54) & 1;
	s->s = (d >> 44) & 1;
	s->l = (d >> 53) & 1;
	s->g = (d >> 55) & 1;
}

static int vcpu_setup_long_mode(struct vcpu *v, uint64_t entry, struct config_err *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return vcpu_fail(err, v->id, "KVM_GET_SREGS");
	seg_init(&sregs.cs, BOOT_GDT_CODE);
	seg_init(&sregs.ds, BOOT_GDT_DATA);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	seg_init(&sregs.tr, BOOT_GDT_TSS);
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sregs.idt.base = BOOT_IDT_ADDR;
	sregs.idt.limit = 7;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	sregs.cr3 = BOOT_PML4_ADDR;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return vcpu_fail(err, v->id, "KVM_SET_SREGS");

	/* Linux 64-bit boot protocol: %rsi points at boot_params. */
	regs.rflags = 0x2;
	regs.rip = entry;
	regs.rsp = regs.rbp = BOOT_STACK_TOP;
	regs.rsi = BOOT_ZERO_PAGE_ADDR;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return vcpu_fail(err, v->id, "KVM_SET_REGS");
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return vcpu_fail(err, v->id, "KVM_SET_FPU");
	return 0;
}

static int vcpu_setup_msrs(struct vcpu *v, struct config_err *err)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} m = { .hdr.nmsrs = 2,
		.e = { { .index = MSR_IA32_MISC_ENABLE, .data = MSR_IA32_MISC_ENABLE_FAST_STRING },
		       { .index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE | MTRR_TYPE_WRBACK } } };
	int r = ioctl(v->fd, KVM_SET_MSRS, &m);

	if (r < 0)
		return vcpu_fail(err, v->id, "KVM_SET_MSRS");
	if (r != 2) {
		snprintf(err->msg, sizeof(err->msg), "vCPU %u: KVM_SET_MSRS set %d of 2 MSRs",
			 v->id, r);
		return -EINVAL;
	}
	return 0;
}

static int vcpu_setup_lapic(struct vcpu *v, struct config_err *err)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt;

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return vcpu_fail(err, v->id, "KVM_GET_LAPIC");
	/* LINT0 delivers the legacy PIC (ExtINT), LINT1 NMIs: what firmware would set. */
	memcpy(&lvt, &lapic.regs[APIC_LVT0], 4);
	lvt = (lvt & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(&lapic.regs[APIC_LVT0], &lvt, 4);
	memcpy(&lvt, &lapic.regs[APIC_LVT1], 4);
	lvt = (lvt & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT1], &lvt, 4);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
		return vcpu_fail(err, v->id, "KVM_SET_LAPIC");
	return 0;
}

int vcpu_create(struct vm *vm, unsigned int id, uint64_t entry, struct config_err *err)
{
	struct vcpu *v = &vm->vcpus[id];
	int mmap_size, r;
	void *run;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return vcpu_fail(err, id, "KVM_CREATE_VCPU");
	if (fcntl(v->fd, F_SETFD, FD_CLOEXEC) < 0)
		return vcpu_fail(err, id, "fcntl");
	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return vcpu_fail(err, id, "KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED)
		return vcpu_fail(err, id, "mmap(kvm_run)");
	v->run = run;
	v->run_size = (size_t)mmap_size;

	r = cpuid_setup_vcpu(v->fd, vm->cpuid, id, vm->nvcpus, false);
	if (r) {
		errno = -r;
		return vcpu_fail(err, id, "KVM_SET_CPUID2");
	}
	r = vcpu_setup_msrs(v, err);
	if (!r)
		r = vcpu_setup_long_mode(v, entry, err);
	if (!r)
		r = vcpu_setup_lapic(v, err);
	return r;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	v->run = NULL;
	if (v->fd > 0)
		close(v->fd);
	v->fd = -1;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->thread_started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, vcpu_kick_signal());
}

static void vcpu_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size;

	/* data_offset and size come from KVM, but stay inside the mapping regardless. */
	if (run->io.data_offset + (uint64_t)size * run->io.count > v->run_size ||
	    (size != 1 && size != 2 && size != 4))
		return;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&v->vm->pio, run->io.port, data, size);
		else
			bus_read(&v->vm->pio, run->io.port, data, size);
	}
}

static void vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	if (run->mmio.is_write)
		bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

/* Returns true if handled (int3 on a nested-PVM host), false to stop the VM. */
static bool vcpu_emulation_failure(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char bytes[3 * 15 + 1] = "";
	unsigned int n = 0;

	if (run->emulation_failure.ndata >= 2 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = MIN(run->emulation_failure.insn_size, 15u);
		for (unsigned int i = 0; i < n; i++)
			snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, "%02x ",
				 run->emulation_failure.insn_bytes[i]);
	}
	if (v->vm->nested_compat && n >= 1 && run->emulation_failure.insn_bytes[0] == 0xcc) {
		/* The host emulator cannot execute int3: step over it and deliver #BP. */
		struct kvm_regs regs;
		struct kvm_vcpu_events ev;

		if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 &&
		    ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == 0) {
			regs.rip += 1;
			ev.exception.injected = 1;
			ev.exception.nr = 3;
			ev.exception.has_error_code = 0;
			ev.exception.error_code = 0;
			ev.flags = 0;
			if (ioctl(v->fd, KVM_SET_REGS, &regs) == 0 &&
			    ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) == 0)
				return true;
		}
		log_error("vCPU %u: could not inject #BP for int3: %s", v->id, strerror(errno));
		return false;
	}
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		struct kvm_regs regs = { 0 };

		ioctl(v->fd, KVM_GET_REGS, &regs);
		log_error("vCPU %u: KVM cannot emulate the instruction at rip 0x%llx: bytes [%s]%s",
			  v->id, (unsigned long long)regs.rip, n ? bytes : "unknown ",
			  v->vm->nested_compat ? "" : " (not a nested-PVM host)");
	} else {
		log_error("vCPU %u: KVM internal error, suberror %u", v->id,
			  run->internal.suberror);
	}
	return false;
}

/* Handle one exit; false means the VM must stop (stop already requested). */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->exits[EXIT_STAT_IO]++;
		vcpu_pio(v);
		return true;
	case KVM_EXIT_MMIO:
		v->exits[EXIT_STAT_MMIO]++;
		vcpu_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		v->exits[EXIT_STAT_INTR]++;
		return true;
	case KVM_EXIT_HLT:
		v->exits[EXIT_STAT_HLT]++;
		vm_request_stop(vm, VMM_EXIT_OK, "guest halted");
		return false;
	case KVM_EXIT_SHUTDOWN:
		v->exits[EXIT_STAT_SHUTDOWN]++;
		vm_request_stop(vm, VMM_EXIT_TRIPLE_FAULT, "guest triple fault (shutdown)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		v->exits[EXIT_STAT_SYSTEM_EVENT]++;
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_stop(vm, VMM_EXIT_OK, "guest shutdown/reset event");
		else
			vm_request_stop(vm, VMM_EXIT_VCPU_ERROR, "guest system event");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		v->exits[EXIT_STAT_INTERNAL_ERROR]++;
		if (vcpu_emulation_failure(v))
			return true;
		vm_request_stop(vm, VMM_EXIT_VCPU_ERROR, "vCPU internal error");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		v->exits[EXIT_STAT_OTHER]++;
		log_error("vCPU %u: VM entry failed, hardware reason 0x%llx", v->id,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vm_request_stop(vm, VMM_EXIT_VCPU_ERROR, "VM entry failure");
		return false;
	default:
		v->exits[EXIT_STAT_OTHER]++;
		log_error("vCPU %u: unexpected exit reason %u", v->id, run->exit_reason);
		vm_request_stop(vm, VMM_EXIT_VCPU_ERROR, "unexpected vCPU exit");
		return false;
	}
}

/* Park while a pause is requested; false when the VM is stopping. */
static bool vcpu_check_state(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool go;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_requested && !vm->stop_requested) {
		vm->vcpus_paused++;
		pthread_cond_broadcast(&vm->cond);
		while (vm->pause_requested && !vm->stop_requested)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->vcpus_paused--;
	}
	go = !vm->stop_requested;
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	log_set_thread_name(name);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (vm->opts.seccomp_install && vm->opts.seccomp_install(VMM_THREAD_VCPU) < 0) {
		vm_request_stop(vm, VMM_EXIT_ERROR, "cannot install the vCPU seccomp filter");
		goto out;
	}

	for (;;) {
		/* Clear the kick before looking at the flags it announces. */
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (!vcpu_check_state(v))
			break;
		if (!v->first_run_ns)
			__atomic_store_n(&v->first_run_ns, util_now_ns(), __ATOMIC_RELAXED);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_error("vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
			vm_request_stop(vm, VMM_EXIT_VCPU_ERROR, "KVM_RUN failed");
			break;
		}
		if (!vcpu_handle_exit(v))
			break;
	}
out:
	pthread_mutex_lock(&vm->lock);
	vm->vcpus_exited++;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int r = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (r)
		return -r;
	v->thread_started = true;
	return 0;
}
