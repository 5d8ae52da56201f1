// SPDX-License-Identifier: Apache-2.0
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/util.h"

/* Just below the IOAPIC, as other VMMs do; only Intel VMX uses them. */
#define KVM_TSS_ADDR 0xfffbd000UL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static int kvm_fail(struct config_err *err, int e, const char *what)
{
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(-e));
	return e;
}

int kvm_open(int *kvm_fd, struct config_err *err)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
		{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	};
	cleanup_close int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int v;

	if (fd < 0) {
		int e = errno;

		snprintf(err->msg, sizeof(err->msg), "cannot open /dev/kvm: %s%s", strerror(e),
			 e == ENOENT || e == ENODEV ? " (this host offers no KVM)" : "");
		return -e;
	}
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(err->msg, sizeof(err->msg), "KVM API version %d, need %d", v,
			 KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			snprintf(err->msg, sizeof(err->msg), "KVM lacks %s", caps[i].name);
			return -ENOTSUP;
		}
	}
	*kvm_fd = util_steal_fd(&fd);
	return 0;
}

int kvm_create_vm(int kvm_fd, const struct guest_mem *mem, int *vm_fd, struct config_err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	cleanup_close int fd = -1;

	fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (fd < 0)
		return kvm_fail(err, -errno, "KVM_CREATE_VM");
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return kvm_fail(err, -errno, "fcntl(vm)");
	if (ioctl(fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		return kvm_fail(err, -errno, "KVM_SET_TSS_ADDR");
	if (ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return kvm_fail(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR");
	for (unsigned int i = 0; i < mem->nregions; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = mem->regions[i].gpa,
			.memory_size = mem->regions[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].hva,
		};

		if (ioctl(fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return kvm_fail(err, -errno, "KVM_SET_USER_MEMORY_REGION");
	}
	if (ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return kvm_fail(err, -errno, "KVM_CREATE_IRQCHIP");
	if (ioctl(fd, KVM_CREATE_PIT2, &pit) < 0)
		return kvm_fail(err, -errno, "KVM_CREATE_PIT2");
	*vm_fd = util_steal_fd(&fd);
	return 0;
}

int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	for (unsigned int n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return -errno;
	}
	return -E2BIG;
}

int kvm_irq_line(int vm_fd, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	return ioctl(vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int kvm_irqfd(int vm_fd, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi,
			       .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return ioctl(vm_fd, KVM_IRQFD, &i) < 0 ? -errno : 0;
}

int kvm_ioeventfd(int vm_fd, uint64_t addr, uint64_t datamatch, bool wildcard, int fd,
		  bool assign)
{
	struct kvm_ioeventfd e = {
		.datamatch = wildcard ? 0 : datamatch,
		.addr = addr,
		.len = wildcard ? 0 : 4,
		.fd = fd,
		.flags = (wildcard ? 0 : KVM_IOEVENTFD_FLAG_DATAMATCH) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(vm_fd, KVM_IOEVENTFD, &e) < 0 ? -errno : 0;
}

int kvm_vm_check_extension(int vm_fd, long cap)
{
	int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? -errno : r;
}
