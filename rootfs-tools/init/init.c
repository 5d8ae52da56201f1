// SPDX-License-Identifier: MIT
/*
 * vmm-init: PID 1 of the project's guests.
 *
 * Mounts the usual filesystems, signals the VMM's boot timer, runs the command
 * given after `--` on the kernel command line (or a short default), reports how
 * it ended on the console and reboots, which with reboot=k resets the VM through
 * the i8042: that is how the VMM learns the guest is done. Whatever fails on the
 * way is reported and the VM still goes down; PID 1 never just hangs.
 *
 * Static, no dependencies beyond libc: it must run on an initramfs or an ext4
 * root that holds nothing but busybox.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Firecracker's boot timer: a write of this byte to this guest physical
 * address makes the VMM log the time since boot start. */
#define BOOT_TIMER_GPA 0xd0000000UL
#define BOOT_TIMER_MAGIC 123

#define CMDLINE_MAX 65536
#define COMMAND_MAX 65536
#define SHELL "/bin/sh"

/* Shown when no command is given: enough to see the VM is what was asked for. */
static const char default_command[] =
	"echo \"kernel: $(uname -a)\"; "
	"echo \"cpus: $(grep -c ^processor /proc/cpuinfo)\"; "
	"grep -E '^Mem(Total|Free)' /proc/meminfo; "
	"echo \"root: $(grep -m1 ' / ' /proc/mounts)\"";

struct mount_point {
	const char *source;
	const char *target;
	const char *type;
	unsigned long flags;
	const char *data;
};

static const struct mount_point mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One write per line so our lines do not interleave with the child's output. */
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "vmm-init: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, (size_t)n) < 0) {
		/* Nowhere left to report to. */
	}
}

/* The kernel opens /dev/console as fds 0-2 before running init; if that
 * failed (no /dev/console in the root), retry once devtmpfs is mounted. */
static void setup_console(void)
{
	int fd;

	if (fcntl(STDOUT_FILENO, F_GETFD) >= 0)
		return;
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static void mount_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		const struct mount_point *m = &mounts[i];

		/* A read-only root already has its mount points (or not). */
		if (mkdir(m->target, 0755) < 0 && errno != EEXIST && errno != EROFS)
			say("mkdir %s: %s", m->target, strerror(errno));
		if (mount(m->source, m->target, m->type, m->flags, m->data) < 0) {
			/* devtmpfs is already on /dev when the kernel automounted it. */
			if (errno == EBUSY)
				continue;
			say("mount %s on %s: %s", m->type, m->target, strerror(errno));
		}
		if (strcmp(m->target, "/dev") == 0)
			setup_console();
	}
}

static int signal_boot_timer(void)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile unsigned char *p;
	void *map;
	int fd;

	if (page <= 0)
		page = 4096;
	fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	map = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (off_t)BOOT_TIMER_GPA);
	if (map == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	p = map;
	*p = BOOT_TIMER_MAGIC;
	munmap(map, (size_t)page);
	close(fd);
	return 0;
}

/* Reads /proc/cmdline into buf (NUL-terminated, trailing newline dropped). */
static int read_cmdline(char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return 0;
}

/*
 * Is word one of the kernel command line's own tokens (before `--`)? Tokens
 * split at spaces outside double quotes, quotes removed, as the kernel does.
 */
static bool kernel_token(const char *cmdline, const char *word)
{
	const char *s = cmdline;
	size_t wlen = strlen(word);

	while (*s) {
		char tok[256];
		size_t len = 0;
		bool quoted = false, too_long = false;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++) {
			if (*s == '"') {
				quoted = !quoted;
				continue;
			}
			if (len < sizeof(tok) - 1)
				tok[len++] = *s;
			else
				too_long = true;
		}
		tok[len] = '\0';
		if (!quoted && strcmp(tok, "--") == 0)
			return false;
		if (!too_long && len == wlen && memcmp(tok, word, wlen) == 0)
			return true;
	}
	return false;
}

/*
 * The kernel hands init its unknown command-line words (Firecracker's
 * `nomodule`, for one) ahead of what follows `--`. Drop that prefix so a
 * default boot does not try to run them.
 */
static int skip_kernel_leftovers(int argc, char **argv)
{
	static char cmdline[CMDLINE_MAX];
	int first = 1;

	if (argc <= 1 || read_cmdline(cmdline, sizeof(cmdline)) < 0)
		return first;
	while (first < argc && kernel_token(cmdline, argv[first]))
		first++;
	if (first > 1)
		say("ignoring %d unknown kernel argument(s) passed to init, first: %s",
		    first - 1, argv[1]);
	return first;
}

/* Joins argv[first..] with spaces into buf; -E2BIG if it does not fit. */
static int join_args(char *buf, size_t size, int first, int argc, char **argv)
{
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = first; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (len + n + 2 > size)
			return -E2BIG;
		if (len)
			buf[len++] = ' ';
		memcpy(buf + len, argv[i], n);
		len += n;
		buf[len] = '\0';
	}
	return 0;
}

static void reap_all(int options)
{
	int i;

	/* Bounded: at most this many zombies per call. */
	for (i = 0; i < 4096; i++)
		if (waitpid(-1, NULL, options) <= 0)
			break;
}

/* Runs command with /bin/sh -c; returns its wait status or -errno. */
static int run_command(char *command)
{
	static char arg0[] = "sh", arg1[] = "-c";
	sigset_t all;
	pid_t pid, got;
	int status;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *const args[] = { arg0, arg1, command, NULL };

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		setsid();
		execv(SHELL, args);
		say("exec %s: %s", SHELL, strerror(errno));
		_exit(127);
	}
	/* Orphans are reparented to us: reap them while waiting for the shell. */
	for (;;) {
		got = waitpid(-1, &status, 0);
		if (got == pid)
			return status;
		if (got < 0 && errno != EINTR)
			return -errno;
	}
}

/* Give leftover processes a moment to exit, then kill them, so sync sees
 * their writes and nothing keeps a file open across the reset. */
static void stop_everything(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int i;

	if (kill(-1, SIGTERM) < 0)
		return; /* ESRCH: nobody left */
	for (i = 0; i < 20; i++) {
		reap_all(WNOHANG);
		if (kill(-1, 0) < 0 && errno == ESRCH)
			return;
		nanosleep(&tick, NULL);
	}
	kill(-1, SIGKILL);
	reap_all(WNOHANG);
}

static void __attribute__((noreturn)) power_off(void)
{
	sync();
	say("rebooting");
	reboot(RB_AUTOBOOT);
	say("reboot: %s; trying power off", strerror(errno));
	reboot(RB_POWER_OFF);
	say("power off: %s; exiting (the kernel panics, panic=1 resets)",
	    strerror(errno));
	_exit(1);
}

int main(int argc, char **argv)
{
	static char command[COMMAND_MAX];
	int first, status, err;

	/* Everything below (mounts, /dev/mem, reboot) is only sane as PID 1
	 * of a guest or a PID namespace; never touch a host by accident. */
	if (getpid() != 1) {
		fprintf(stderr, "vmm-init: must run as PID 1\n");
		return 2;
	}
	setenv("PATH", "/sbin:/bin:/usr/sbin:/usr/bin", 1);
	umask(022);

	mount_all();
	setup_console();
	say("started");

	if (getenv("VMM_INIT_NO_BOOT_TIMER")) {
		say("boot timer: disabled by VMM_INIT_NO_BOOT_TIMER");
	} else {
		err = signal_boot_timer();
		if (err < 0)
			say("boot timer: %s", strerror(-err));
	}

	first = skip_kernel_leftovers(argc, argv);
	if (first < argc) {
		if (join_args(command, sizeof(command), first, argc, argv) < 0) {
			say("command longer than %d bytes", COMMAND_MAX - 1);
			power_off();
		}
	} else {
		say("no command given, showing the VM");
		snprintf(command, sizeof(command), "%s", default_command);
	}

	status = run_command(command);
	if (status < 0)
		say("running %s: %s", SHELL, strerror(-status));
	else if (WIFEXITED(status))
		say("exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		say("killed by signal %d", WTERMSIG(status));

	stop_everything();
	power_off();
}
