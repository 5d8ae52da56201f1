/* SPDX-License-Identifier: Apache-2.0 */
/* Thin wrappers over the KVM ioctls the VMM uses; each returns 0 or -errno. */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/memory.h"

struct kvm_cpuid2;

/* Open /dev/kvm and check the API version and the capabilities the VMM relies on. */
int kvm_open(int *kvm_fd, struct config_err *err);
/* Create a VM with TSS/identity-map addresses, in-kernel irqchip and PIT, and guest RAM. */
int kvm_create_vm(int kvm_fd, const struct guest_mem *mem, int *vm_fd, struct config_err *err);
/* KVM_GET_SUPPORTED_CPUID into a malloc'd table. */
int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);
int kvm_irq_line(int vm_fd, uint32_t gsi, int level);
int kvm_irqfd(int vm_fd, int fd, uint32_t gsi, bool assign);
/* A 4-byte MMIO write of datamatch at addr signals fd; with wildcard, a write of any size
   and value does (len 0: KVM's fast MMIO path; needs KVM_CAP_IOEVENTFD_ANY_LENGTH). */
int kvm_ioeventfd(int vm_fd, uint64_t addr, uint64_t datamatch, bool wildcard, int fd,
		  bool assign);
/* KVM_CHECK_EXTENSION on a VM fd: > 0 when cap is there. */
int kvm_vm_check_extension(int vm_fd, long cap);

/* Per-vCPU CPUID: topology (APIC id, counts) and the hypervisor bit. */
int cpuid_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int vcpu_id,
		     unsigned int nvcpus, bool smt);
/* Patch a CPUID table in place for vcpu_id (exposed for unit tests). */
void cpuid_patch(struct kvm_cpuid2 *c, unsigned int vcpu_id, unsigned int nvcpus, bool smt);

/* Nested-PVM host detection: true when the compatibility mode must be on. */
bool nested_pvm_detect(void);
/* Guest kernel arguments the compatibility mode adds. */
extern const char nested_pvm_cmdline[];

#endif
