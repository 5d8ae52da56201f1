// SPDX-License-Identifier: Apache-2.0
/*
 * kvm-hold: keeps one idle VM (in-kernel irqchip, one vCPU that never runs) alive in L1
 * for as long as the harness runs.
 *
 * Why: creating the first VM and destroying the last one flip KVM's static keys
 * (preempt notifiers in the scheduler, the local APIC's "software disabled" key). The
 * kernel rewrites its own text for that, with int3 and cross-CPU syncs, and under QEMU
 * TCG this now and then leaves both L1 CPUs looping on the int3 (a soft lockup that never
 * ends). With this VM held, the counts never return to zero, so tests that create and
 * destroy VMs back to back no longer patch kernel text.
 *
 * usage: kvm-hold   (prints "kvm-hold: ready" once the VM exists, then sleeps until killed)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm, vm, vcpu;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "kvm-hold: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0UL) < 0) {
		fprintf(stderr, "kvm-hold: cannot create the VM: %s\n", strerror(errno));
		return 1;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
	if (vcpu < 0) {
		fprintf(stderr, "kvm-hold: KVM_CREATE_VCPU: %s\n", strerror(errno));
		return 1;
	}
	printf("kvm-hold: ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
