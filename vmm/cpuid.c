// SPDX-License-Identifier: Apache-2.0
/* Per-vCPU CPUID: KVM's supported table with the topology of this VM filled in. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/kvm.h"
#include "vmm/util.h"

#define CPUID_HYPERVISOR_BIT (1u << 31) /* leaf 1 ECX */
#define CPUID_HTT_BIT (1u << 28) /* leaf 1 EDX */

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

void cpuid_patch(struct kvm_cpuid2 *c, unsigned int vcpu_id, unsigned int nvcpus, bool smt)
{
	unsigned int threads = smt && nvcpus > 1 ? 2 : 1;
	unsigned int thread_shift = bits_for(threads);
	unsigned int pkg_shift = bits_for(nvcpus);

	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* APIC id in EBX[31:24], logical processor count in EBX[23:16]. */
			e->ebx = (e->ebx & 0xffff) | (vcpu_id << 24) | ((nvcpus & 0xff) << 16);
			e->ecx |= CPUID_HYPERVISOR_BIT;
			if (nvcpus > 1)
				e->edx |= CPUID_HTT_BIT;
			else
				e->edx &= ~CPUID_HTT_BIT;
			break;
		case 4:
			/* Intel: cores per package - 1 in EAX[31:26]; caches shared per core. */
			e->eax = (e->eax & 0x3ff) | (((nvcpus / threads) - 1) << 26) |
				 ((threads - 1) << 14);
			break;
		case 0xb:
		case 0x1f:
			e->edx = vcpu_id; /* x2APIC id */
			if (e->index == 0) {
				e->eax = thread_shift;
				e->ebx = threads;
				e->ecx = (1u << 8) | 0; /* level 0: SMT */
			} else if (e->index == 1) {
				e->eax = pkg_shift;
				e->ebx = nvcpus;
				e->ecx = (2u << 8) | 1; /* level 1: core */
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index; /* invalid level type ends the list */
			}
			break;
		case 0x80000008:
			/* AMD: ApicIdSize in ECX[15:12], NC (threads - 1) in ECX[7:0]. */
			e->ecx = (e->ecx & ~0xf0ffu) | (pkg_shift << 12) | ((nvcpus - 1) & 0xff);
			break;
		default:
			break;
		}
	}
}

int cpuid_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int vcpu_id,
		     unsigned int nvcpus, bool smt)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	cleanup_free struct kvm_cpuid2 *c = malloc(sz);

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	cpuid_patch(c, vcpu_id, nvcpus, smt);
	return ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
}
