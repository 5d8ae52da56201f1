/* SPDX-License-Identifier: Apache-2.0 */
/* The BPF programs embedded at build time; defined in the generated seccomp_filters.c. */
#ifndef VMM_SECCOMP_FILTERS_H
#define VMM_SECCOMP_FILTERS_H

#include <linux/filter.h>

#include "vmm/seccomp/seccomp.h"

struct seccomp_embedded_bpf {
	const struct sock_filter *insns;
	unsigned short count;
};

/* Indexed by enum seccomp_thread, then enum seccomp_mode. */
extern const struct seccomp_embedded_bpf seccomp_embedded_bpf[SECCOMP_THREAD_COUNT][2];

/* Native syscall names by number (NULL where none), for violation reports. */
#define SECCOMP_SYSCALL_NAMES 512
extern const char *const seccomp_syscall_names[SECCOMP_SYSCALL_NAMES];

#endif
