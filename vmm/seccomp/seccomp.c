// SPDX-License-Identifier: Apache-2.0
/*
 * Run-time side of the seccomp filters: load embedded or file BPF with seccomp(2).
 * Deliberately tiny; everything that parses policy runs at build time.
 */
#include "vmm/seccomp/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/seccomp/filters.h"
#include "vmm/util.h"

static enum seccomp_mode seccomp_mode = SECCOMP_MODE_KILL;
/* Read by the SIGSYS handler: a plain int in TLS is async-signal-safe. */
static __thread int thread_kind = -1;

void seccomp_set_thread_kind(enum seccomp_thread which)
{
	thread_kind = (unsigned int)which < SECCOMP_THREAD_COUNT ? (int)which : -1;
}

int seccomp_thread_kind(void)
{
	return thread_kind;
}

static const char *const thread_names[SECCOMP_THREAD_COUNT] = {
	[SECCOMP_THREAD_VCPU] = "vcpu",
	[SECCOMP_THREAD_VMM] = "vmm",
	[SECCOMP_THREAD_API] = "api",
	[SECCOMP_THREAD_JAILER] = "jailer",
};

void seccomp_set_mode(enum seccomp_mode mode)
{
	seccomp_mode = mode == SECCOMP_MODE_LOG ? SECCOMP_MODE_LOG : SECCOMP_MODE_KILL;
}

const char *seccomp_thread_name(enum seccomp_thread which)
{
	if ((unsigned int)which >= SECCOMP_THREAD_COUNT)
		return NULL;
	return thread_names[which];
}

int seccomp_embedded(enum seccomp_thread which, const void **insns, unsigned long *len)
{
	const struct seccomp_embedded_bpf *f;

	if ((unsigned int)which >= SECCOMP_THREAD_COUNT)
		return -EINVAL;
	f = &seccomp_embedded_bpf[which][seccomp_mode];
	if (!f->insns || !f->count)
		return -EINVAL;
	*insns = f->insns;
	*len = (unsigned long)f->count * sizeof(struct sock_filter);
	return 0;
}

int seccomp_install_bpf(const void *insns, unsigned long len)
{
	struct sock_fprog prog;

	if (!insns || !len || len % sizeof(struct sock_filter) ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -EINVAL;
	prog.len = (unsigned short)(len / sizeof(struct sock_filter));
	/* The kernel copies the program; it never writes through this pointer. */
	prog.filter = (struct sock_filter *)(uintptr_t)insns;

	/* Without CAP_SYS_ADMIN the kernel requires no_new_privs; set it regardless. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* flags 0: this thread only. Threads install their own filter (no TSYNC). */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

int seccomp_install_thread(enum seccomp_thread which)
{
	const void *insns;
	unsigned long len;
	int r = seccomp_embedded(which, &insns, &len);

	if (r < 0)
		return r;
	seccomp_set_thread_kind(which);
	r = seccomp_install_bpf(insns, len);
#ifdef VMM_TEST_HOOKS
	if (!r)
		seccomp_test_trigger_point(which);
#endif
	return r;
}

int seccomp_install_file(const char *bpf_path)
{
	const size_t max = BPF_MAXINSNS * sizeof(struct sock_filter);
	int fd = open(bpf_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > max ||
		 st.st_size % (off_t)sizeof(struct sock_filter))
		r = -EINVAL;
	else if (!(buf = malloc((size_t)st.st_size)))
		r = -ENOMEM;
	/* Trust the size we checked, not the file: stop at st_size, reject a short read. */
	while (!r && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EINVAL;
		else
			got += (size_t)n;
	}
	/* Close before installing: the new filter need not allow close(). The buffer
	 * (<= 32 KiB) is below malloc's mmap threshold, so free() makes no syscall. */
	close(fd);
	if (!r)
		r = seccomp_install_bpf(buf, got);
	free(buf);
	return r;
}

#ifdef VMM_TEST_HOOKS
static int trigger_armed = -1, trigger_fired;

int seccomp_test_trigger_arm(const char *name)
{
	for (int i = 0; i < SECCOMP_THREAD_JAILER; i++) {
		if (name && !strcmp(name, thread_names[i])) {
			trigger_armed = i;
			return 0;
		}
	}
	return -EINVAL;
}

void seccomp_test_trigger_point(enum seccomp_thread which)
{
	/* Only the first thread of the kind: one report, one well-defined culprit. */
	if (trigger_armed < 0 || (int)which != trigger_armed ||
	    __atomic_exchange_n(&trigger_fired, 1, __ATOMIC_RELAXED))
		return;
	/* acct(2) is in no policy; with a missing path it changes nothing even in log mode. */
	syscall(SYS_acct, "/nonexistent/vmm-seccomp-test-trigger");
}
#endif
