// SPDX-License-Identifier: Apache-2.0
/*
 * The embedded seccomp filters, for real: each test forks, installs a filter in the
 * child and makes allowed and forbidden calls. A forbidden call must kill the child
 * with SIGSYS; allowed ones must work. Children leave with _exit() so that no
 * sanitizer exit hook runs under the filter.
 */
#include "tests/unit/test.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "vmm/seccomp/seccomp.h"

/* In no policy; with a missing path it is harmless even when allowed (log mode). */
static long forbidden(void)
{
	return syscall(SYS_acct, "/nonexistent/test-seccomp");
}

/* Run fn in a child; return its wait status. fn returns the exit code. */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status = -1;

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static bool killed_by_sigsys(int status)
{
	return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static bool exited_ok(int status)
{
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	fprintf(stderr, "  child status 0x%x (signal %d, exit %d)\n", status,
		WIFSIGNALED(status) ? WTERMSIG(status) : 0,
		WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return false;
}

struct kind_arg {
	enum seccomp_thread which;
	bool call_forbidden;
};

static int kind_child(void *opaque)
{
	struct kind_arg *k = opaque;
	struct timespec ts;
	int p[2], futex_word = 0;
	char c = 'x';

	if (pipe2(p, O_CLOEXEC) < 0)
		return 10;
	if (seccomp_install_thread(k->which) != 0)
		return 2;
	if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1)
		return 3;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
		return 4;
	if (syscall(SYS_futex, &futex_word, FUTEX_WAKE, 1, NULL, NULL, 0) != 0)
		return 5;
	if (syscall(SYS_gettid) <= 0)
		return 6;
	if (k->call_forbidden)
		forbidden();
	return 0;
}

TEST(each_filter_allows_common_calls)
{
	for (int w = 0; w < SECCOMP_THREAD_COUNT; w++) {
		struct kind_arg k = { (enum seccomp_thread)w, false };

		fprintf(stderr, "  %s\n", seccomp_thread_name(k.which));
		CHECK(exited_ok(in_child(kind_child, &k)));
	}
}

TEST(each_filter_kills_on_forbidden_call)
{
	for (int w = 0; w < SECCOMP_THREAD_COUNT; w++) {
		struct kind_arg k = { (enum seccomp_thread)w, true };

		CHECK(killed_by_sigsys(in_child(kind_child, &k)));
	}
}

TEST(unknown_thread_kind)
{
	CHECK_EQ(seccomp_install_thread(SECCOMP_THREAD_COUNT), -EINVAL);
	CHECK_EQ(seccomp_install_thread((enum seccomp_thread)-1), -EINVAL);
	CHECK(seccomp_thread_name(SECCOMP_THREAD_COUNT) == NULL);
	CHECK_STR(seccomp_thread_name(SECCOMP_THREAD_VCPU), "vcpu");
}

static int vcpu_ioctls(void *opaque)
{
	int p[2];
	long which = (long)opaque;

	if (pipe2(p, O_CLOEXEC) < 0 || seccomp_install_thread(SECCOMP_THREAD_VCPU))
		return 2;
	/* Allowed: reaches the kernel, which refuses it on a pipe. */
	if (ioctl(p[0], KVM_RUN, 0) != -1 || errno != ENOTTY)
		return 3;
	/* Allowed even if a caller sign-extends the 32-bit request (bit 31 set). */
	if (syscall(SYS_ioctl, p[0], (unsigned long)(long)(int)KVM_GET_REGS, NULL) != -1 ||
	    errno != ENOTTY)
		return 4;
	if (which == 1)
		ioctl(p[0], KVM_CREATE_VM, 0);		/* a VM ioctl: not for vCPUs */
	if (which == 2)
		ioctl(p[0], TCGETS, NULL);
	if (which == 3)	/* an allowed request number in the upper 32 bits does not help */
		syscall(SYS_ioctl, p[0], 0x100000000UL | KVM_CREATE_VM, NULL);
	return 0;
}

TEST(vcpu_ioctl_requests)
{
	CHECK(exited_ok(in_child(vcpu_ioctls, (void *)0L)));
	CHECK(killed_by_sigsys(in_child(vcpu_ioctls, (void *)1L)));
	CHECK(killed_by_sigsys(in_child(vcpu_ioctls, (void *)2L)));
	CHECK(killed_by_sigsys(in_child(vcpu_ioctls, (void *)3L)));
}

static int api_child(void *opaque)
{
	long which = (long)opaque;
	int p[2], n = 0;

	if (pipe2(p, O_CLOEXEC) < 0 || seccomp_install_thread(SECCOMP_THREAD_API))
		return 2;
	if (ioctl(p[0], FIONREAD, &n) != 0 || n != 0)
		return 3;
	if (which == 1)
		ioctl(p[0], KVM_RUN, 0);	/* the API thread never runs a vCPU */
	if (which == 2)
		open("/etc/hostname", O_RDONLY | O_CLOEXEC);	/* nor opens files */
	if (which == 3)
		fork();
	return 0;
}

TEST(api_filter)
{
	CHECK(exited_ok(in_child(api_child, (void *)0L)));
	CHECK(killed_by_sigsys(in_child(api_child, (void *)1L)));
	CHECK(killed_by_sigsys(in_child(api_child, (void *)2L)));
	CHECK(killed_by_sigsys(in_child(api_child, (void *)3L)));
}

static int vmm_child(void *opaque)
{
	long which = (long)opaque;

	if (seccomp_install_thread(SECCOMP_THREAD_VMM))
		return 2;
	if (which == 1)
		execl("/bin/true", "true", (char *)NULL);	/* the VMM never execs */
	if (which == 2)
		syscall(SYS_ptrace, 0, 0, 0, 0);
	if (which == 3)
		syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL);
	return 0;
}

TEST(vmm_filter)
{
	CHECK(exited_ok(in_child(vmm_child, (void *)0L)));
	CHECK(killed_by_sigsys(in_child(vmm_child, (void *)1L)));
	CHECK(killed_by_sigsys(in_child(vmm_child, (void *)2L)));
	CHECK(killed_by_sigsys(in_child(vmm_child, (void *)3L)));
}

static int jailer_exec_child(void *opaque)
{
	long stack_vcpu = (long)opaque;

	if (seccomp_install_thread(SECCOMP_THREAD_JAILER))
		return 2;
	if (stack_vcpu && seccomp_install_thread(SECCOMP_THREAD_VCPU))
		return 3;
	/* A dynamically linked program must start under the jailer's filter alone. */
	execl("/bin/true", "true", (char *)NULL);
	return 4;
}

TEST(jailer_filter_allows_exec_and_stacks)
{
	CHECK(exited_ok(in_child(jailer_exec_child, (void *)0L)));
	/* Stacked: the vCPU filter forbids execve even though the jailer's allows it. */
	CHECK(killed_by_sigsys(in_child(jailer_exec_child, (void *)1L)));
}

static int log_child(void *opaque)
{
	seccomp_set_mode(SECCOMP_MODE_LOG);
	if (seccomp_install_thread(SECCOMP_THREAD_VCPU))
		return 2;
	/* Logged by the kernel, not fatal. */
	forbidden();
	return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2 ? 0 : 3;
}

TEST(log_mode_survives)
{
	CHECK(exited_ok(in_child(log_child, NULL)));
}

static void *thread_installs(void *unused)
{
	if (seccomp_install_thread(SECCOMP_THREAD_VCPU))
		return (void *)1;
	return NULL;
}

static int per_thread_child(void *opaque)
{
	pthread_t t;
	void *ret;
	bool kill_from_thread = opaque != NULL;

	if (!kill_from_thread) {
		/* A filter installed by another thread does not apply to this one (no TSYNC). */
		if (pthread_create(&t, NULL, thread_installs, NULL) || pthread_join(t, &ret) || ret)
			return 2;
		if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0)
			return 3;
		forbidden();
		return 0;
	}
	/* ...but a violation in any thread kills the whole process. */
	if (pthread_create(&t, NULL, thread_installs, NULL))
		return 2;
	pthread_join(t, NULL);
	return 0;
}

static void *thread_violates(void *unused)
{
	if (seccomp_install_thread(SECCOMP_THREAD_VCPU))
		return (void *)1;
	forbidden();
	return NULL;
}

static int process_kill_child(void *opaque)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_violates, NULL))
		return 2;
	pthread_join(t, NULL);
	/* Never reached if the whole process was killed. */
	return 0;
}

TEST(filters_are_per_thread_kill_is_per_process)
{
	CHECK(exited_ok(in_child(per_thread_child, NULL)));
	CHECK(killed_by_sigsys(in_child(process_kill_child, NULL)));
}

static char bpf_path[64];

static int file_child(void *opaque)
{
	if (seccomp_install_file(bpf_path))
		return 2;
	if (getpid() <= 0)
		return 3;
	if (opaque)
		forbidden();
	return 0;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

TEST(install_from_file)
{
	const void *insns;
	unsigned long len;
	int fd;

	snprintf(bpf_path, sizeof(bpf_path), "/tmp/test_seccomp.XXXXXX");
	fd = mkstemp(bpf_path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(seccomp_embedded(SECCOMP_THREAD_VCPU, &insns, &len), 0);
	CHECK(len > 0 && len % 8 == 0);
	CHECK_EQ(write_file(bpf_path, insns, len), 0);
	CHECK(exited_ok(in_child(file_child, NULL)));
	CHECK(killed_by_sigsys(in_child(file_child, (void *)1)));

	/* Malformed programs are refused before anything is installed (safe to call here). */
	CHECK_EQ(write_file(bpf_path, insns, 0), 0);
	CHECK_EQ(seccomp_install_file(bpf_path), -EINVAL);
	CHECK_EQ(write_file(bpf_path, insns, 12), 0);
	CHECK_EQ(seccomp_install_file(bpf_path), -EINVAL);
	unlink(bpf_path);
	CHECK_EQ(seccomp_install_file(bpf_path), -ENOENT);
	CHECK_EQ(seccomp_install_file("/tmp"), -EINVAL);
	CHECK_EQ(seccomp_install_bpf(NULL, 8), -EINVAL);
	CHECK_EQ(seccomp_install_bpf(insns, 7), -EINVAL);
	CHECK_EQ(seccomp_install_bpf(insns, (4096 + 1) * 8UL), -EINVAL);
	CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), 0);
}
