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
	/*
	 * Default: SECCOMP_RET_TRAP. The thread gets SIGSYS; the VMM's handler
	 * (sigsys.h) logs the thread kind and syscall and exits with status 148. With
	 * no handler (the jailer, tests) SIGSYS's default action kills the whole process.
	 * A foreign-ABI syscall (x32, i386) is SECCOMP_RET_KILL_PROCESS either way.
	 */
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
 * first and records which as the thread's kind (seccomp_set_thread_kind()).
 * Irreversible. 0 or -errno (-EINVAL for an unknown which).
 */
int seccomp_install_thread(enum seccomp_thread which);

/*
 * Name the calling thread's kind for violation reports (seccomp_install_thread() does
 * it; call it before seccomp_install_file() too). seccomp_thread_kind() returns it, or
 * -1 when the thread never said; async-signal-safe.
 */
void seccomp_set_thread_kind(enum seccomp_thread which);
int seccomp_thread_kind(void);

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
 * Test-only, compiled in only with -DVMM_TEST_HOOKS (make vmm-testhooks), never in
 * the release vmm: arm a trigger so that the first thread of kind name ("vcpu",
 * "vmm" or "api", from --test-seccomp-trigger) makes a syscall no policy allows
 * (acct) right after seccomp_install_thread() put its filter on. 0 or -EINVAL.
 */
int seccomp_test_trigger_arm(const char *name);
/* Called by seccomp_install_thread() after a successful install; no-op unless armed. */
void seccomp_test_trigger_point(enum seccomp_thread which);
#endif

#endif
