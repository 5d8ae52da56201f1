// SPDX-License-Identifier: Apache-2.0
/*
 * The SIGSYS handler behind SECCOMP_RET_TRAP (see sigsys.h). Everything it touches is
 * prepared by seccomp_sigsys_init(); in the handler itself: no malloc, no stdio, no
 * locks, only write(2), clock_gettime(2) (vDSO) and exit_group(2).
 */
#include "vmm/seccomp/sigsys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/seccomp/filters.h"
#include "vmm/seccomp/seccomp.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

static int log_fd = -1, metrics_fd = -1;
static char instance_id[65];
static int reported;

static uint64_t num_faults;
static const char *const seccomp_metric_names[] = { "num_faults" };
static struct metrics_group seccomp_mgroup = {
	.name = "seccomp", .n = 1, .names = seccomp_metric_names, .vals = &num_faults,
};

/* A bounded string builder that never fails: output is truncated at the end. */
struct sbuf {
	char b[512];
	size_t n;
};

static void put_str(struct sbuf *s, const char *str)
{
	while (*str && s->n < sizeof(s->b) - 1)
		s->b[s->n++] = *str++;
}

static void put_uint(struct sbuf *s, uint64_t v, unsigned int min_digits)
{
	char tmp[24];
	unsigned int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while ((v || i < min_digits) && i < sizeof(tmp));
	while (i && s->n < sizeof(s->b) - 1)
		s->b[s->n++] = tmp[--i];
}

/* Same timestamp format as vmm/log.c. */
static void put_time(struct sbuf *s, const struct timespec *ts)
{
	struct log_utc t;

	log_utc(ts->tv_sec, &t);
	put_uint(s, (uint64_t)t.year, 4);
	put_str(s, "-");
	put_uint(s, (uint64_t)t.month, 2);
	put_str(s, "-");
	put_uint(s, (uint64_t)t.day, 2);
	put_str(s, "T");
	put_uint(s, (uint64_t)t.hour, 2);
	put_str(s, ":");
	put_uint(s, (uint64_t)t.min, 2);
	put_str(s, ":");
	put_uint(s, (uint64_t)t.sec, 2);
	put_str(s, ".");
	put_uint(s, (uint64_t)(ts->tv_nsec / 1000), 6);
	put_str(s, "Z");
}

static void write_out(int fd, const struct sbuf *s)
{
	/* Best effort: nothing to do about a failed write on the way out. */
	if (fd >= 0 && write(fd, s->b, s->n) < 0) {
	}
}

static void sigsys_handler(int sig, siginfo_t *si, void *uctx)
{
	int kind = seccomp_thread_kind(), nr = si->si_syscall, saved_errno = errno;
	const char *kname = kind >= 0 ? seccomp_thread_name((enum seccomp_thread)kind) : NULL;
	const char *sname = nr >= 0 && nr < SECCOMP_SYSCALL_NAMES ? seccomp_syscall_names[nr] : NULL;
	struct timespec ts = { 0, 0 };
	struct sbuf s = { .n = 0 };

	/* Only a seccomp trap is a violation; a SIGSYS sent by kill(2) is ignored. */
	if (si->si_code != SYS_SECCOMP) {
		errno = saved_errno;
		return;
	}
	metrics_inc(&num_faults);
	/* Several threads may trap at once: one report, then everyone leaves. */
	if (__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL))
		_exit(SECCOMP_EXIT_BAD_SYSCALL);

	clock_gettime(CLOCK_REALTIME, &ts);
	put_time(&s, &ts);
	put_str(&s, " [");
	put_str(&s, instance_id);
	put_str(&s, ":");
	put_str(&s, kname ? kname : "unknown");
	put_str(&s, "] ERROR seccomp violation: ");
	put_str(&s, kname ? kname : "unknown");
	put_str(&s, " thread made forbidden syscall ");
	put_uint(&s, (uint64_t)(nr < 0 ? 0 : nr), 1);
	put_str(&s, " (");
	put_str(&s, sname ? sname : "?");
	put_str(&s, "), exiting with status ");
	put_uint(&s, SECCOMP_EXIT_BAD_SYSCALL, 1);
	put_str(&s, " (bad syscall)\n");
	write_out(STDERR_FILENO, &s);
	if (log_fd != STDERR_FILENO)
		write_out(log_fd, &s);

	if (metrics_fd >= 0) {
		s.n = 0;
		put_str(&s, "{\"utc_timestamp_ms\": ");
		put_uint(&s, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, 1);
		put_str(&s, ", \"seccomp\": {\"num_faults\": ");
		put_uint(&s, __atomic_load_n(&num_faults, __ATOMIC_RELAXED), 1);
		put_str(&s, ", \"syscall\": ");
		put_uint(&s, (uint64_t)(nr < 0 ? 0 : nr), 1);
		put_str(&s, ", \"thread\": \"");
		put_str(&s, kname ? kname : "unknown");
		put_str(&s, "\"}}\n");
		write_out(metrics_fd, &s);
	}
	/* exit_group: every thread, no atexit handlers, no stdio flushing. */
	_exit(SECCOMP_EXIT_BAD_SYSCALL);
}

/* O_NONBLOCK: a FIFO with no reader fails now rather than blocking; a full one drops. */
static int open_sink(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

int seccomp_sigsys_init(const char *log_path, const char *metrics_path, const char *id)
{
	struct sigaction sa;
	size_t n = id ? strlen(id) : 0;
	int r;

	if (n >= sizeof(instance_id))
		n = sizeof(instance_id) - 1;
	memcpy(instance_id, id ? id : "", n);
	instance_id[n] = '\0';
	if (log_path && (log_fd = open_sink(log_path)) < 0)
		return -errno;
	if (metrics_path && (metrics_fd = open_sink(metrics_path)) < 0)
		return -errno;
	r = metrics_register(&seccomp_mgroup);
	if (r && r != -EEXIST)
		return r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	/* Block everything else while reporting: the handler ends the process anyway. */
	sigfillset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void seccomp_sigsys_thread_init(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
