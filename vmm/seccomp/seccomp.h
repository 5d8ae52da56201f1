/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread seccomp filters. The allow-lists live in vmm/seccomp/policy/<thread>.policy,
 * are compiled to BPF by libseccomp at build time (seccomp-compile.c) and embedded
 * in the binary; at run time this file only hands the BPF to seccomp(2), so no
 * policy parsing or libseccomp code runs in a process that faces a guest.
 *
 * Filters stack: the jailer installs SECCOMP_FILTER_JAILER before exec, and each VMM
 * thread adds its own, stricter one. A syscall runs only if every filter allows it.
 */
#ifndef VMM_SECCOMP_SECCOMP_H
#define VMM_SECCOMP_SECCOMP_H

#include <stdbool.h>

enum seccomp_thread {
	SECCOMP_THREAD_VCPU,
	SECCOMP_THREAD_VMM,
	SECCOMP_THREAD_API,
	/* The jailer's looser start-up filter: every thread policy plus execve and loading. */
	SECCOMP_THREAD_JAILER,
	SECCOMP_THREAD_COUNT,
};

/* What happens on a syscall outside the policy. */
enum seccomp_mode {
	/* Default: SECCOMP_RET_KILL_PROCESS; the whole VMM dies with SIGSYS. */
	SECCOMP_MODE_KILL,
	/* Debugging: SECCOMP_RET_LOG; the syscall runs and the kernel logs it (audit/dmesg). */
	SECCOMP_MODE_LOG,
};

/*
 * Select kill or log mode for later seccomp_install_thread() calls. Call once at
 * start-up, before any thread installs a filter; not thread-safe.
 */
void seccomp_set_mode(enum seccomp_mode mode);

/* "vcpu", "vmm", "api", "jailer" for which, or NULL when out of range. */
const char *seccomp_thread_name(enum seccomp_thread which);

/*
 * Install the embedded filter for which on the calling thread only (no TSYNC): each
 * thread calls this itself before it touches untrusted input. Sets no_new_privs
 * first. Irreversible. 0 or -errno (-EINVAL for an unknown which).
 */
int seccomp_install_thread(enum seccomp_thread which);

/*
 * Install a raw BPF program (an array of struct sock_filter, as written by
 * seccomp_export_bpf()) read from bpf_path on the calling thread; for
 * --seccomp-filter. The file is read in full before anything is installed.
 * 0 or -errno (-EINVAL for an empty, misaligned or over-long program).
 */
int seccomp_install_file(const char *bpf_path);

/* Same as seccomp_install_file() for a program already in memory (len in bytes). */
int seccomp_install_bpf(const void *insns, unsigned long len);

/* The embedded program for which in the current mode (for tests and tools). 0 or -EINVAL. */
int seccomp_embedded(enum seccomp_thread which, const void **insns, unsigned long *len);

#ifdef VMM_TEST_HOOKS
/*
 * Test-only, never in release builds: arm a trigger so that the thread of kind
 * which makes a syscall no policy allows (acct) the next time it calls
 * seccomp_test_trigger_point() for that kind. name is "vcpu", "vmm" or "api" (from a
 * test flag or the VMM_TEST_SECCOMP_TRIGGER environment variable). 0 or -EINVAL.
 */
int seccomp_test_trigger_arm(const char *name);
/* Called by each thread right after seccomp_install_thread(); no-op unless armed. */
void seccomp_test_trigger_point(enum seccomp_thread which);
#endif

#endif
