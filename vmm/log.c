// SPDX-License-Identifier: Apache-2.0
#include "vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level cur_level = LOG_INFO;
static int log_fd = STDERR_FILENO;
static bool show_level = true, show_origin = false;
static char instance_id[65] = "anonymous-instance";
static __thread char thread_name[16] = "main";

static const char *const level_names[] = {
	[LOG_OFF] = "OFF",     [LOG_ERROR] = "ERROR", [LOG_WARN] = "WARN",
	[LOG_INFO] = "INFO",   [LOG_DEBUG] = "DEBUG", [LOG_TRACE] = "TRACE",
};

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} map[] = {
		{ "off", LOG_OFF },	{ "error", LOG_ERROR }, { "warning", LOG_WARN },
		{ "warn", LOG_WARN },	{ "info", LOG_INFO },	{ "debug", LOG_DEBUG },
		{ "trace", LOG_TRACE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcasecmp(s, map[i].name)) {
			*out = map[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_level(enum log_level level)
{
	__atomic_store_n(&cur_level, level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return __atomic_load_n(&cur_level, __ATOMIC_RELAXED);
}

void log_set_show(bool level, bool origin)
{
	pthread_mutex_lock(&log_lock);
	show_level = level;
	show_origin = origin;
	pthread_mutex_unlock(&log_lock);
}

void log_set_instance_id(const char *id)
{
	pthread_mutex_lock(&log_lock);
	snprintf(instance_id, sizeof(instance_id), "%s", id);
	pthread_mutex_unlock(&log_lock);
}

int log_set_path(const char *path)
{
	struct stat st;
	int flags = O_WRONLY | O_CLOEXEC | O_NONBLOCK;
	int fd;

	/* A FIFO is opened without O_CREAT; a regular file is appended to. */
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		fd = open(path, flags);
	else
		fd = open(path, flags | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&log_lock);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_set_thread_name(const char *name)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name);
}

/* New length after an snprintf at offset n that returned r, leaving room for '\n'. */
static size_t clamp_len(int r, size_t n, size_t size)
{
	if (r < 0)
		return n;
	n += (size_t)r;
	return n > size - 2 ? size - 2 : n;
}

/*
 * UTC calendar fields from Unix seconds, by the days-to-civil arithmetic of the
 * proleptic Gregorian calendar. Not gmtime_r: glibc's first call loads the time zone
 * (an open of /etc/localtime), and the first line may come from a thread whose seccomp
 * filter forbids open, or from the SIGSYS handler itself.
 */
void log_utc(int64_t secs, struct log_utc *t)
{
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t sod = secs - days * 86400;
	int64_t z = days + 719468; /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097; /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365], from March 1 */
	int64_t mp = (5 * doy + 2) / 153; /* [0, 11], March = 0 */

	t->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	t->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	t->year = (int)(yoe + era * 400 + (t->month <= 2));
	t->hour = (int)(sod / 3600);
	t->min = (int)(sod / 60 % 60);
	t->sec = (int)(sod % 60);
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct log_utc tm;
	size_t n;
	int r;
	va_list ap;

	if (level == LOG_OFF || level > log_get_level())
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	log_utc(ts.tv_sec, &tm);
	pthread_mutex_lock(&log_lock);
	r = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ [%s:%s]",
		     tm.year, tm.month, tm.day, tm.hour, tm.min, tm.sec, ts.tv_nsec / 1000,
		     instance_id, thread_name);
	n = clamp_len(r, 0, sizeof(buf));
	if (show_level)
		n = clamp_len(snprintf(buf + n, sizeof(buf) - n, " %s", level_names[level]), n,
			      sizeof(buf));
	if (show_origin)
		n = clamp_len(snprintf(buf + n, sizeof(buf) - n, " %s:%d", file, line), n,
			      sizeof(buf));
	n = clamp_len(snprintf(buf + n, sizeof(buf) - n, " "), n, sizeof(buf));
	va_start(ap, fmt);
	n = clamp_len(vsnprintf(buf + n, sizeof(buf) - n, fmt, ap), n, sizeof(buf));
	va_end(ap);
	buf[n++] = '\n';
	/* Best effort: a full FIFO drops the line rather than stalling a vCPU. */
	if (write(log_fd, buf, n) < 0) {
	}
	pthread_mutex_unlock(&log_lock);
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (!rl->window_start_ns || now - rl->window_start_ns >= LOG_RL_INTERVAL_NS) {
		if (rl->suppressed)
			log_warn("%u similar messages suppressed", rl->suppressed);
		rl->window_start_ns = now;
		rl->in_window = 0;
		rl->suppressed = 0;
	}
	if (rl->in_window < LOG_RL_BURST) {
		rl->in_window++;
		return true;
	}
	rl->suppressed++;
	return false;
}
