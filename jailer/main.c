// SPDX-License-Identifier: Apache-2.0
/*
 * jailer: build a jail and exec the VMM in it. The steps run in the order below;
 * each one is fatal on failure, and a failure undoes what this run created.
 *
 *   close inherited fds, clear the environment, parse and validate
 *   open the exec file (and netns, /dev/null) - nothing created yet
 *   create <base>/<exec name>/<id>/root, copy the exec file in
 *   join the network namespace, apply resource limits, create and join cgroups
 *   new mount namespace, pivot_root into the jail, device nodes
 *   [--daemonize] setsid, stdio to /dev/null
 *   [--new-pid-ns] fork into a new PID namespace: the child goes on; the parent waits
 *                  until the child has exec'd (or failed), writes <exec name>.pid in
 *                  the jail with the child's PID and exits 0 (1 if the child failed)
 *   drop to uid:gid with no capabilities, no_new_privs, seccomp, execve
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jailer/jailer.h"
#include "vmm/seccomp/seccomp.h"

static struct jail_fs fs = { .exec_fd = -1, .host_mntns_fd = -1 };
static bool fs_owned, cgroups_owned, privileges_dropped;
/* In the --new-pid-ns child: tells the waiting parent that the child failed. */
static int report_fd = -1;

static void cleanup(void)
{
	if (privileges_dropped) {
		/* setns and rmdir need the privileges just given up. */
		if (fs_owned)
			fprintf(stderr, "jailer: %s is left behind (failure after the "
					"privilege drop)\n", fs.id_dir);
		return;
	}
	if (cgroups_owned)
		jail_cgroup_cleanup();
	if (fs_owned)
		jail_fs_cleanup(&fs);
	cgroups_owned = fs_owned = false;
}

static void __attribute__((noreturn)) die_common(const char *fmt, va_list ap, int err)
{
	fputs("jailer: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	cleanup();
	if (report_fd >= 0) {
		char c = 1;

		if (write(report_fd, &c, 1) < 0) {
			/* The parent then sees EOF; the exit status below still says it. */
		}
	}
	exit(1);
}

void jail_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	die_common(fmt, ap, 0);
}

void jail_die_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	die_common(fmt, ap, err);
}

static void spawn_in_pid_ns(void)
{
	char path[300], buf[32], c;
	int p[2], fd, n;
	ssize_t got;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		jail_die_errno("pipe2");
	/* Affects children only: the fork below becomes PID 1 of the new namespace. */
	if (unshare(CLONE_NEWPID) < 0)
		jail_die_errno("unshare(CLONE_NEWPID)");
	pid = fork();
	if (pid < 0)
		jail_die_errno("fork");
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		return;
	}
	close(p[1]);
	/* The child owns the jail and its cleanup now. The parent leaves with _exit():
	 * after unshare(CLONE_NEWPID) it cannot fork into the (possibly dead) namespace,
	 * which exit-time hooks such as LeakSanitizer's would try. */
	fs_owned = cgroups_owned = false;
	do
		got = read(p[0], &c, 1);
	while (got < 0 && errno == EINTR);
	if (got != 0) {
		waitpid(pid, NULL, 0);
		_exit(1);
	}
	/* EOF: the close-on-exec pipe closed, so the child is running the exec file. */
	n = snprintf(path, sizeof(path), "/%s.pid", fs.exec_name);
	if (n < 0 || (size_t)n >= sizeof(path))
		_exit(1);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0) {
		fprintf(stderr, "jailer: cannot write %s: %s\n", path, strerror(errno));
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	struct jail_args a;
	char err[512], exec_path[300], **vmm_argv;
	int netns_fd = -1, devnull_fd = -1, r;

	/* Nothing the caller left open may reach the jail. */
	if (close_range(3, ~0U, 0) < 0)
		jail_die_errno("close_range");
	if (clearenv() != 0)
		jail_die("clearenv failed");
	umask(022);

	r = jail_parse_args(argc, argv, &a, err, sizeof(err));
	if (r == 1) {
		jail_usage();
		return 0;
	}
	if (r < 0)
		jail_die("%s", err);
	if (geteuid() != 0)
		jail_die("must run as root");

	/* Everything that can be checked without side effects, before creating anything. */
	jail_fs_prepare(&fs, &a);
	if (a.netns) {
		netns_fd = open(a.netns, O_RDONLY | O_CLOEXEC);
		if (netns_fd < 0)
			jail_die_errno("--netns %s", a.netns);
	}
	if (a.daemonize) {
		/* Opened now: the jail has no /dev/null. */
		devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull_fd < 0)
			jail_die_errno("open /dev/null");
	}
	jail_cgroup_prepare(&a);
	jail_fs_probe_devices();

	fs_owned = true;
	jail_fs_create(&fs, &a);
	if (netns_fd >= 0) {
		if (setns(netns_fd, CLONE_NEWNET) < 0)
			jail_die_errno("join network namespace %s", a.netns);
		close(netns_fd);
	}
	jail_apply_rlimits(&a);
	cgroups_owned = true;
	jail_cgroup_apply(&a);
	jail_fs_enter(&fs);
	jail_fs_make_devices(&a);
	if ((size_t)snprintf(exec_path, sizeof(exec_path), "/%s", fs.exec_name) >=
	    sizeof(exec_path))
		jail_die("exec path too long");
	jail_fs_check_interpreter(exec_path);

	if (a.daemonize) {
		if (setsid() < 0)
			jail_die_errno("setsid (is the jailer a process group leader?)");
		if (dup2(devnull_fd, 0) < 0 || dup2(devnull_fd, 1) < 0 || dup2(devnull_fd, 2) < 0)
			jail_die_errno("redirect stdio to /dev/null");
		close(devnull_fd);
	}
	if (a.new_pid_ns)
		spawn_in_pid_ns();

	vmm_argv = calloc((size_t)a.vmm_argc + 2, sizeof(*vmm_argv));
	if (!vmm_argv)
		jail_die("out of memory");
	vmm_argv[0] = exec_path;
	for (int i = 0; i < a.vmm_argc; i++)
		vmm_argv[i + 1] = a.vmm_argv[i];

	jail_drop_privileges(&a);
	privileges_dropped = true;
	r = seccomp_install_thread(SECCOMP_THREAD_JAILER);
	if (r < 0) {
		errno = -r;
		jail_die_errno("install the seccomp filter");
	}
	execve(exec_path, vmm_argv, (char *[]){ NULL });
	jail_die_errno("execve %s", exec_path);
}
