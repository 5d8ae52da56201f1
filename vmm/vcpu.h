/* SPDX-License-Identifier: Apache-2.0 */
/* vCPU creation, boot register state and the per-vCPU run loop (one thread each). */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include "vmm/vm.h"

/* Create vCPU id and load its boot state (CPUID, MSRs, long mode, registers, LAPIC). */
int vcpu_create(struct vm *vm, unsigned int id, uint64_t entry, struct config_err *err);
/* Start the thread. */
int vcpu_start(struct vcpu *vcpu);
/* Make the vCPU leave KVM_RUN soon (any thread). */
void vcpu_kick(struct vcpu *vcpu);
/* Close the fd and unmap kvm_run; the thread must be joined. */
void vcpu_destroy(struct vcpu *vcpu);
/* Install the no-op kick signal handler; call once before starting vCPUs. */
int vcpu_signal_init(void);

#endif
