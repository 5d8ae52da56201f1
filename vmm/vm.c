// SPDX-License-Identifier: Apache-2.0
#include "vmm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/vcpu.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/rng.h"
#include "vmm/virtio/vsock.h"

/* As Firecracker's defaults, but keeping the serial console and appending the user's args. */
const char vm_default_cmdline[] = "console=ttyS0 reboot=k panic=1 pci=off "
				  "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";

static const char *const exit_stat_names[EXIT_STAT_MAX] = {
	[EXIT_STAT_IO] = "io",
	[EXIT_STAT_MMIO] = "mmio",
	[EXIT_STAT_HLT] = "hlt",
	[EXIT_STAT_SHUTDOWN] = "shutdown",
	[EXIT_STAT_SYSTEM_EVENT] = "system_event",
	[EXIT_STAT_INTERNAL_ERROR] = "internal_error",
	[EXIT_STAT_INTR] = "intr",
	[EXIT_STAT_OTHER] = "other",
};

const char *vm_exit_stat_name(enum vmm_exit_stat s)
{
	return s < EXIT_STAT_MAX ? exit_stat_names[s] : "?";
}

void vm_exit_stats(const struct vm *vm, uint64_t out[EXIT_STAT_MAX])
{
	memset(out, 0, EXIT_STAT_MAX * sizeof(out[0]));
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		for (unsigned int s = 0; s < EXIT_STAT_MAX; s++)
			out[s] += vm->vcpus[i].exits[s];
}

int vm_set_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	return kvm_irq_line(vm->vm_fd, gsi, level);
}

static int vm_irq_cb(void *ctx, uint32_t gsi, int level)
{
	return vm_set_irq_line(ctx, gsi, level);
}

void vm_request_stop(struct vm *vm, int exit_code, const char *why)
{
	uint64_t one = 1;
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = !vm->stop_requested;
	if (first) {
		vm->stop_requested = true;
		vm->exit_code = exit_code;
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (first) {
		log_info("stopping the VM: %s (exit status %d)", why, exit_code);
		if (vm->stop_efd >= 0 && write(vm->stop_efd, &one, sizeof(one)) < 0)
			log_warn("cannot signal the VMM thread: %s", strerror(errno));
	}
}

static void vm_on_i8042_reset(void *ctx)
{
	vm_request_stop(ctx, VMM_EXIT_OK, "guest reset through the i8042 controller");
}

static void vm_stop_event(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t v;

	if (read(vm->stop_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("stop eventfd: %s", strerror(errno));
	if (vm->on_stop)
		vm->on_stop(vm->on_stop_opaque, vm->exit_code);
}

static int vm_set_ioeventfd(void *ctx, uint64_t addr, uint64_t datamatch, bool wildcard, int fd,
			    bool assign)
{
	struct vm *vm = ctx;

	return kvm_ioeventfd(vm->vm_fd, addr, datamatch, wildcard, fd, assign);
}

/* "<what>: <strerror>" into err; returns e. */
static int vm_fail(struct config_err *err, int e, const char *what)
{
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(-e));
	return e;
}

/* Append " <s>" to the command line; -E2BIG if it does not fit. */
static int cmdline_append(char *buf, size_t size, const char *s)
{
	size_t len = strlen(buf), add = strlen(s);

	if (!add)
		return 0;
	if (len + (len ? 1 : 0) + add + 1 > size)
		return -E2BIG;
	if (len)
		buf[len++] = ' ';
	memcpy(buf + len, s, add + 1);
	return 0;
}

/*
 * serial.serial_out_path, opened before KVM so that a bad path fails InstanceStart the
 * same way on any host. Non-blocking: a FIFO without a reader is refused here (ENXIO)
 * rather than hanging the VMM thread, and a full one later drops output, never stalls a
 * vCPU.
 */
static int vm_open_serial_output(struct vm *vm, const struct serial_cfg *sc,
				 struct config_err *err)
{
	int fd;

	if (!sc->present || !sc->serial_out_path)
		return 0;
	fd = serial_open_output(sc->serial_out_path);
	if (fd < 0) {
		struct stat st;
		bool fifo = stat(sc->serial_out_path, &st) == 0 && S_ISFIFO(st.st_mode);

		/* The path is cut short so that the reason always fits. */
		snprintf(err->msg, sizeof(err->msg),
			 "serial.serial_out_path: cannot open \"%.160s\": %s%s",
			 sc->serial_out_path, strerror(-fd),
			 fd == -ENXIO && fifo ? " (a named pipe needs a reader first)" : "");
		return fd;
	}
	vm->serial_out_fd = fd;
	return 0;
}

static int vm_add_legacy_devices(struct vm *vm, const struct vm_config *cfg,
				 struct config_err *err)
{
	struct irq_line serial_irq = { vm_irq_cb, vm, IRQ_SERIAL };
	struct irq_line kbd_irq = { vm_irq_cb, vm, IRQ_I8042 };
	int r;

	r = serial_create(&vm->serial, &serial_irq,
			  vm->serial_out_fd >= 0 ? vm->serial_out_fd : vm->opts.serial_out_fd,
			  vm->opts.serial_in_fd, vm->loop);
	if (!r && cfg->serial.present)
		serial_set_rate_limiter(vm->serial, &cfg->serial.rate_limiter);
	if (!r)
		r = bus_register(&vm->pio, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops,
				 vm->serial);
	if (!r)
		r = i8042_create(&vm->i8042, &kbd_irq, vm_on_i8042_reset, vm);
	if (!r)
		r = bus_register(&vm->pio, I8042_DATA_PORT, 1, &i8042_data_ops, vm->i8042);
	if (!r)
		r = bus_register(&vm->pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, vm->i8042);
	if (!r && vm->opts.boot_timer) {
		vm->boot_timer = calloc(1, sizeof(*vm->boot_timer));
		if (!vm->boot_timer)
			r = -ENOMEM;
		else {
			vm->boot_timer->start_ns = vm->opts.process_start_ns;
			r = bus_register(&vm->mmio, BOOT_TIMER_ADDR, BOOT_TIMER_SIZE,
					 &boot_timer_ops, vm->boot_timer);
		}
	}
	if (r)
		return vm_fail(err, r, "legacy devices");
	return 0;
}

/* The next free virtio-mmio window and its interrupt line. */
static int vm_virtio_slot(struct vm *vm, uint64_t *base, uint32_t *gsi, struct config_err *err)
{
	if (IRQ_VIRTIO_FIRST + vm->next_virtio_slot > IRQ_MAX) {
		snprintf(err->msg, sizeof(err->msg), "too many devices for the interrupt lines");
		return -ENOSPC;
	}
	*base = VIRTIO_MMIO_START + vm->next_virtio_slot * VIRTIO_MMIO_SIZE;
	*gsi = IRQ_VIRTIO_FIRST + vm->next_virtio_slot;
	vm->next_virtio_slot++;
	return 0;
}

/* Put a created virtio-mmio device on the bus, wire its interrupt, announce it. */
static int vm_attach_virtio(struct vm *vm, struct virtio_mmio_dev *dev, uint64_t base,
			    uint32_t gsi, char *cmdline, size_t size, const char *what,
			    struct config_err *err)
{
	char arg[64];
	int r = bus_register(&vm->mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, dev);

	if (!r)
		r = kvm_irqfd(vm->vm_fd, virtio_mmio_irqfd(dev), gsi, true);
	if (r) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(-r));
		return r;
	}
	snprintf(arg, sizeof(arg), "virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)base,
		 gsi);
	if (cmdline_append(cmdline, size, arg)) {
		snprintf(err->msg, sizeof(err->msg), "kernel command line too long");
		return -E2BIG;
	}
	return 0;
}

static struct virtio_mmio_env vm_virtio_env(struct vm *vm)
{
	return (struct virtio_mmio_env){
		.mem = &vm->mem,
		.loop = vm->loop,
		.set_ioeventfd = vm_set_ioeventfd,
		.ioeventfd_wildcard = vm->ioeventfd_wildcard,
		.ctx = vm,
	};
}

static int vm_add_drives(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t size,
			 struct config_err *err)
{
	struct virtio_mmio_env env = vm_virtio_env(vm);
	const struct drive_cfg *order[CONFIG_MAX_DRIVES];
	unsigned int n = 0;
	char arg[128];
	int r;

	/* The root drive goes first so that it becomes /dev/vda. */
	for (unsigned int i = 0; i < cfg->ndrives; i++)
		if (cfg->drives[i].is_root_device)
			order[n++] = &cfg->drives[i];
	for (unsigned int i = 0; i < cfg->ndrives; i++)
		if (!cfg->drives[i].is_root_device)
			order[n++] = &cfg->drives[i];

	for (unsigned int i = 0; i < n; i++) {
		const struct drive_cfg *d = order[i];
		struct virtio_blk *blk;
		uint64_t base;
		uint32_t gsi;

		r = vm_virtio_slot(vm, &base, &gsi, err);
		if (r)
			return r;
		r = virtio_blk_create(&blk, d, &env, base, err);
		if (r)
			return r;
		snprintf(vm->blk_id[vm->nblk], sizeof(vm->blk_id[0]), "%s", d->drive_id);
		vm->blk[vm->nblk++] = blk;
		r = vm_attach_virtio(vm, virtio_blk_mmio(blk), base, gsi, cmdline, size, d->drive_id,
				     err);
		if (r)
			return r;
		if (d->is_root_device) {
			if (d->partuuid)
				snprintf(arg, sizeof(arg), "root=PARTUUID=%s", d->partuuid);
			else
				snprintf(arg, sizeof(arg), "root=/dev/vda");
			if (cmdline_append(cmdline, size, arg) ||
			    cmdline_append(cmdline, size, d->is_read_only ? "ro" : "rw")) {
				snprintf(err->msg, sizeof(err->msg), "kernel command line too long");
				return -E2BIG;
			}
		}
	}
	return 0;
}

static int vm_add_nets(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t size,
		       struct config_err *err)
{
	struct virtio_mmio_env env = vm_virtio_env(vm);
	int r;

	for (unsigned int i = 0; i < cfg->nnets && i < CONFIG_MAX_NETS; i++) {
		const struct net_cfg *n = &cfg->nets[i];
		struct virtio_net *net;
		uint64_t base;
		uint32_t gsi;

		r = vm_virtio_slot(vm, &base, &gsi, err);
		if (r)
			return r;
		r = virtio_net_create(&net, n, &env, base, err);
		if (r)
			return r;
		vm->net[vm->nnet++] = net;
		r = vm_attach_virtio(vm, virtio_net_mmio(net), base, gsi, cmdline, size, n->iface_id,
				     err);
		if (r)
			return r;
	}
	return 0;
}

static int vm_add_vsock(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t size,
			struct config_err *err)
{
	struct virtio_mmio_env env = vm_virtio_env(vm);
	uint64_t base;
	uint32_t gsi;
	int r;

	if (!cfg->vsock.present)
		return 0;
	r = vm_virtio_slot(vm, &base, &gsi, err);
	if (!r)
		r = virtio_vsock_create(&vm->vsock, &cfg->vsock, &env, base, err);
	if (!r)
		r = vm_attach_virtio(vm, virtio_vsock_mmio(vm->vsock), base, gsi, cmdline, size,
				     "vsock", err);
	return r;
}

static int vm_add_entropy(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t size,
			  struct config_err *err)
{
	struct virtio_mmio_env env = vm_virtio_env(vm);
	uint64_t base;
	uint32_t gsi;
	int r;

	if (!cfg->entropy.present)
		return 0;
	r = vm_virtio_slot(vm, &base, &gsi, err);
	if (!r)
		r = virtio_rng_create(&vm->rng, &cfg->entropy, &env, base, err);
	if (!r)
		r = vm_attach_virtio(vm, virtio_rng_mmio(vm->rng), base, gsi, cmdline, size,
				     "entropy", err);
	return r;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
	      const struct vm_opts *opts, struct config_err *err)
{
	const struct machine_cfg *mc = &cfg->machine;
	struct kernel_image kernel;
	struct boot_err berr = { "" };
	struct boot_info bi = { 0 };
	uint8_t seed[32];
	int r;

	vm->kvm_fd = vm->vm_fd = vm->stop_efd = vm->serial_out_fd = -1;
	vm->mem.fd = -1;
	vm->loop = loop;
	vm->opts = *opts;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->stop_src = (struct ev_source){ .fd = -1, .fn = vm_stop_event, .opaque = vm };

	if (!cfg->has_boot_source || !cfg->boot_source.kernel_image_path) {
		snprintf(err->msg, sizeof(err->msg), "boot-source.kernel_image_path: not configured");
		return -EINVAL;
	}
	if (mc->vcpu_count < 1 || mc->vcpu_count > CONFIG_MAX_VCPUS) {
		snprintf(err->msg, sizeof(err->msg), "machine-config.vcpu_count: must be 1..%d",
			 CONFIG_MAX_VCPUS);
		return -EINVAL;
	}
	vm->nvcpus = mc->vcpu_count;

	/* Guest memory and the kernel first: bad images fail the same way on any host. */
	r = guest_mem_init(&vm->mem, (uint64_t)mc->mem_size_mib << 20);
	if (r) {
		snprintf(err->msg, sizeof(err->msg), "guest memory (%u MiB): %s", mc->mem_size_mib,
			 strerror(-r));
		return r;
	}
	r = kernel_load_file(&vm->mem, cfg->boot_source.kernel_image_path, &kernel, &berr);
	if (!r && cfg->boot_source.initrd_path)
		r = initrd_load_file(&vm->mem, cfg->boot_source.initrd_path, &kernel,
				     &bi.initrd_addr, &bi.initrd_size, &berr);
	if (r) {
		snprintf(err->msg, sizeof(err->msg), "%s", berr.msg);
		return r;
	}
	r = vm_open_serial_output(vm, &cfg->serial, err);
	if (r)
		return r;

	r = kvm_open(&vm->kvm_fd, err);
	if (r)
		return r;
	vm->nested_compat = nested_pvm_detect();
	if (vm->nested_compat)
		log_warn("nested-PVM KVM host detected (/sys/module/kvm_pvm): adding guest kernel "
			 "arguments \"%s\" and emulating int3",
			 nested_pvm_cmdline);
	r = kvm_create_vm(vm->kvm_fd, &vm->mem, &vm->vm_fd, err);
	if (r)
		return r;
	vm->ioeventfd_wildcard = kvm_vm_check_extension(vm->vm_fd, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
	if (!vm->ioeventfd_wildcard)
		log_info("KVM lacks KVM_CAP_IOEVENTFD_ANY_LENGTH: kicks are matched by value, "
			 "through instruction emulation (no fast MMIO path)");
	else
		log_debug("queue kicks of one-queue devices take KVM's fast MMIO path");
	r = kvm_get_supported_cpuid(vm->kvm_fd, &vm->cpuid);
	if (r)
		return vm_fail(err, r, "KVM_GET_SUPPORTED_CPUID");
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return vm_fail(err, -errno, "eventfd");
	vm->stop_src.fd = vm->stop_efd;
	r = ev_add(loop, &vm->stop_src, EPOLLIN);
	if (r)
		return vm_fail(err, r, "event loop");

	r = vm_add_legacy_devices(vm, cfg, err);
	if (r)
		return r;

	/* Command line: defaults, devices, host workarounds, then the user's arguments. */
	snprintf(vm->cmdline, sizeof(vm->cmdline), "%s", vm_default_cmdline);
	r = vm_add_drives(vm, cfg, vm->cmdline, sizeof(vm->cmdline), err);
	if (!r)
		r = vm_add_nets(vm, cfg, vm->cmdline, sizeof(vm->cmdline), err);
	if (!r)
		r = vm_add_entropy(vm, cfg, vm->cmdline, sizeof(vm->cmdline), err);
	if (!r)
		r = vm_add_vsock(vm, cfg, vm->cmdline, sizeof(vm->cmdline), err);
	if (r)
		return r;
	if ((vm->nested_compat && cmdline_append(vm->cmdline, sizeof(vm->cmdline),
						  nested_pvm_cmdline)) ||
	    (cfg->boot_source.boot_args &&
	     cmdline_append(vm->cmdline, sizeof(vm->cmdline), cfg->boot_source.boot_args))) {
		snprintf(err->msg, sizeof(err->msg), "boot-source.boot_args: command line too long");
		return -E2BIG;
	}

	/* A seed the guest credits (RANDOM_TRUST_BOOTLOADER): no entropy stall at boot. */
	if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed)) {
		bi.rng_seed = seed;
		bi.rng_seed_len = sizeof(seed);
	} else {
		log_warn("getrandom: %s; booting without an RNG seed", strerror(errno));
	}
	bi.cmdline = vm->cmdline;
	r = bootparams_setup(&vm->mem, &kernel, &bi, &berr);
	if (!r)
		r = mptable_setup(&vm->mem, vm->nvcpus, &berr);
	if (!r)
		r = boot_tables_setup(&vm->mem, &berr);
	explicit_bzero(seed, sizeof(seed));
	if (r) {
		snprintf(err->msg, sizeof(err->msg), "%s", berr.msg);
		return r;
	}
	log_info("kernel %s (%s) loaded at [0x%llx, 0x%llx), entry 0x%llx",
		 cfg->boot_source.kernel_image_path,
		 kernel.format == KERNEL_ELF ? "ELF" : "bzImage", (unsigned long long)kernel.start,
		 (unsigned long long)kernel.end, (unsigned long long)kernel.entry);
	log_info("kernel command line: %s", vm->cmdline);

	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		r = vcpu_create(vm, i, kernel.entry, err);
		if (r)
			return r;
	}
	return 0;
}

int vm_start(struct vm *vm, struct config_err *err)
{
	int r = vcpu_signal_init();

	if (r)
		return vm_fail(err, r, "vCPU signal");
	vm->start_ns = util_now_ns();
	if (vm->boot_timer)
		vm->boot_timer->vm_start_ns = vm->start_ns;
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		r = vcpu_start(&vm->vcpus[i]);
		if (r) {
			vm_request_stop(vm, VMM_EXIT_ERROR, "cannot start a vCPU thread");
			return vm_fail(err, r, "vCPU thread");
		}
	}
	return 0;
}

void vm_stop_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->stop_requested) {
		vm->stop_requested = true;
		vm->exit_code = VMM_EXIT_OK;
	}
	vm->state = VM_STOPPING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	/* A vCPU resetting a drive may wait for this thread, which stops reaping now. */
	for (unsigned int i = 0; i < vm->nblk; i++)
		virtio_blk_stop_waiters(vm->blk[i]);
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->thread_started)
			continue;
		/* A vCPU stuck in KVM_RUN gets kicked again until it leaves. */
		for (;;) {
			struct timespec ts;

			util_deadline(CLOCK_REALTIME, 50 * 1000000ULL, &ts);
			if (pthread_timedjoin_np(v->thread, NULL, &ts) == 0)
				break;
			vcpu_kick(v);
		}
		v->thread_started = false;
	}
}

void vm_destroy(struct vm *vm)
{
	vm_stop_all(vm);
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nblk; i++)
		virtio_blk_destroy(vm->blk[i]);
	vm->nblk = 0;
	for (unsigned int i = 0; i < vm->nnet; i++)
		virtio_net_destroy(vm->net[i]);
	vm->nnet = 0;
	virtio_rng_destroy(vm->rng);
	vm->rng = NULL;
	virtio_vsock_destroy(vm->vsock);
	vm->vsock = NULL;
	serial_destroy(vm->serial);
	vm->serial = NULL;
	/* After serial_destroy: the device wrote to it until then. */
	if (vm->serial_out_fd >= 0)
		close(vm->serial_out_fd);
	vm->serial_out_fd = -1;
	i8042_destroy(vm->i8042);
	vm->i8042 = NULL;
	free(vm->boot_timer);
	vm->boot_timer = NULL;
	free(vm->cpuid);
	vm->cpuid = NULL;
	if (vm->stop_src.fd >= 0 && vm->loop)
		ev_del(vm->loop, &vm->stop_src);
	vm->stop_src.fd = -1;
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->stop_efd = -1;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
	guest_mem_destroy(&vm->mem);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}

int vm_pause(struct vm *vm, struct config_err *err)
{
	struct timespec ts;
	uint64_t give_up;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_RUNNING) {
		pthread_mutex_unlock(&vm->lock);
		snprintf(err->msg, sizeof(err->msg), "the VM is not running");
		return -EINVAL;
	}
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);

	give_up = util_now_ns() + 2000000000ULL;
	pthread_mutex_lock(&vm->lock);
	/*
	 * In 10 ms slices: a vCPU resetting a drive may be waiting for this thread to reap
	 * its ring before it can pause.
	 */
	while (vm->vcpus_paused + vm->vcpus_exited < vm->nvcpus && !vm->stop_requested) {
		if (util_now_ns() >= give_up) {
			r = ETIMEDOUT;
			break;
		}
		pthread_mutex_unlock(&vm->lock);
		for (unsigned int i = 0; i < vm->nblk; i++)
			virtio_blk_serve_reset(vm->blk[i]);
		pthread_mutex_lock(&vm->lock);
		util_deadline(CLOCK_REALTIME, 10 * 1000000ULL, &ts);
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	if (r == 0 && !vm->stop_requested)
		vm->state = VM_PAUSED;
	else
		vm->pause_requested = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (r) {
		snprintf(err->msg, sizeof(err->msg), "vCPUs did not pause within 2 s");
		return -ETIMEDOUT;
	}
	return 0;
}

int vm_resume(struct vm *vm, struct config_err *err)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_PAUSED) {
		pthread_mutex_unlock(&vm->lock);
		snprintf(err->msg, sizeof(err->msg), "the VM is not paused");
		return -EINVAL;
	}
	vm->pause_requested = false;
	vm->state = VM_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm_send_ctrl_alt_del(struct vm *vm, struct config_err *err)
{
	int r = vm->i8042 ? i8042_send_ctrl_alt_del(vm->i8042) : -ENODEV;

	if (r)
		snprintf(err->msg, sizeof(err->msg), "cannot send Ctrl+Alt+Del: %s", strerror(-r));
	return r;
}
