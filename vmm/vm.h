/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One microVM: the KVM VM, guest memory, buses, legacy devices, virtio devices and vCPU
 * threads. Created and destroyed on the VMM thread; vCPU threads only run exits through
 * the buses and report stop requests.
 *
 * Threads: the VMM thread owns struct vm and its event loop; each vCPU has a thread;
 * the API thread never touches struct vm (it sends messages to the VMM thread).
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/eventloop.h"
#include "vmm/memory.h"

/* Exit status of the vmm process; documented in README.md. */
enum vmm_exit_code {
	VMM_EXIT_OK = 0, /* the guest shut down or rebooted itself */
	VMM_EXIT_ERROR = 1, /* the VMM could not build or run the VM */
	VMM_EXIT_USAGE = 2, /* bad command line or configuration */
	VMM_EXIT_TRIPLE_FAULT = 3, /* guest triple fault (KVM_EXIT_SHUTDOWN) */
	VMM_EXIT_VCPU_ERROR = 4, /* emulation failure, entry failure, unknown exit */
	VMM_EXIT_SIGNAL_BASE = 128, /* stopped by signal N: 128 + N, after a clean stop */
};

enum vmm_exit_stat {
	EXIT_STAT_IO,
	EXIT_STAT_MMIO,
	EXIT_STAT_HLT,
	EXIT_STAT_SHUTDOWN,
	EXIT_STAT_SYSTEM_EVENT,
	EXIT_STAT_INTERNAL_ERROR,
	EXIT_STAT_INTR,
	EXIT_STAT_OTHER,
	EXIT_STAT_MAX
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	uint64_t exits[EXIT_STAT_MAX]; /* written by the vCPU thread, read after join */
	uint64_t first_run_ns; /* set once by the vCPU thread (atomic), read by the VMM thread */
};

struct serial;
struct i8042;
struct boot_timer;
struct virtio_blk;
struct virtio_net;
struct virtio_rng;
struct virtio_vsock;

enum vmm_thread_kind { VMM_THREAD_VCPU = 0, VMM_THREAD_VMM, VMM_THREAD_API };

struct vm_opts {
	bool boot_timer; /* --boot-timer */
	int serial_in_fd; /* -1: no console input */
	int serial_out_fd; /* console output */
	uint64_t process_start_ns; /* for the boot timer and benchmarks */
	/* Installs the thread's seccomp filter; NULL when filtering is off. 0 or -errno. */
	int (*seccomp_install)(enum vmm_thread_kind kind);
};

enum vm_run_state { VM_NOT_STARTED = 0, VM_RUNNING, VM_PAUSED, VM_STOPPING };

struct vm {
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct event_loop *loop;
	struct vm_opts opts;
	bool nested_compat; /* nested-PVM host workarounds in force */
	bool ioeventfd_wildcard; /* KVM_CAP_IOEVENTFD_ANY_LENGTH: one-queue kicks on fast MMIO */

	unsigned int nvcpus;
	struct vcpu vcpus[CONFIG_MAX_VCPUS];
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID result */

	struct serial *serial;
	int serial_out_fd; /* serial.serial_out_path, owned; -1: opts.serial_out_fd is used */
	struct i8042 *i8042;
	struct boot_timer *boot_timer;
	unsigned int nblk;
	struct virtio_blk *blk[CONFIG_MAX_DRIVES];
	char blk_id[CONFIG_MAX_DRIVES][CONFIG_ID_MAX + 1];
	unsigned int nnet;
	struct virtio_net *net[CONFIG_MAX_NETS]; /* in network-interfaces order */
	struct virtio_rng *rng; /* entropy device, if configured */
	struct virtio_vsock *vsock; /* vsock device, if configured */
	unsigned int next_virtio_slot;

	/* Run control, shared with vCPU threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vm_run_state state;
	bool pause_requested;
	unsigned int vcpus_paused;
	unsigned int vcpus_exited;
	int exit_code; /* first stop request wins */
	bool stop_requested;
	int stop_efd; /* written when a vCPU or device asks the VMM thread to stop */
	struct ev_source stop_src;
	void (*on_stop)(void *opaque, int exit_code);
	void *on_stop_opaque;

	uint64_t start_ns; /* vm_start() */
	char cmdline[4096];
};

/*
 * Build the VM from cfg (KVM, memory, devices, kernel, boot structures, vCPUs ready to
 * run) without starting it. 0 or -errno with err->msg set; on error everything created is
 * released. vm must be zeroed.
 */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
	      const struct vm_opts *opts, struct config_err *err);
/* Start the vCPU threads. */
int vm_start(struct vm *vm, struct config_err *err);
/* Ask the VMM thread to stop the VM with exit_code; callable from any thread; first wins. */
void vm_request_stop(struct vm *vm, int exit_code, const char *why);
/* Stop and join every vCPU thread (VMM thread). Idempotent. */
void vm_stop_all(struct vm *vm);
/* Stop and join every vCPU thread, then release everything. Safe after a failed vm_create. */
void vm_destroy(struct vm *vm);
/* Pause/resume all vCPUs (VMM thread). Pause returns once every vCPU is out of KVM_RUN. */
int vm_pause(struct vm *vm, struct config_err *err);
int vm_resume(struct vm *vm, struct config_err *err);
int vm_send_ctrl_alt_del(struct vm *vm, struct config_err *err);
/* Level-set a legacy interrupt line through the in-kernel irqchip. */
int vm_set_irq_line(struct vm *vm, uint32_t gsi, int level);
/* Sum of exits per reason over all vCPUs (valid after vm_destroy joined them, or racy). */
void vm_exit_stats(const struct vm *vm, uint64_t out[EXIT_STAT_MAX]);
const char *vm_exit_stat_name(enum vmm_exit_stat s);

/* The default kernel arguments added before the user's boot_args. */
extern const char vm_default_cmdline[];

#endif
