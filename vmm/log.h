/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: timestamped lines "<time> [<id>:<thread>] <LEVEL> <origin>: <message>".
 * Thread-safe; the sink is stderr until log_set_path() points it at a file or FIFO.
 */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_OFF = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Parse "Error", "Warning", "Info", "Debug", "Trace", "Off" (case-insensitive). 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Options of the API's Logger object. */
void log_set_show(bool show_level, bool show_origin);
void log_set_instance_id(const char *id);
/* Redirect output to path (opened O_APPEND, or O_WRONLY for a FIFO). 0 or -errno. */
int log_set_path(const char *path);
/* Name the calling thread in log lines (e.g. "vcpu0", "api"). */
void log_set_thread_name(const char *name);

/* UTC calendar time; log_utc() is plain arithmetic, so async-signal-safe. */
struct log_utc {
	int year, month, day, hour, min, sec;
};

void log_utc(int64_t secs, struct log_utc *t);
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Rate limiting for messages a guest can trigger at will (a hostile guest must not fill
 * the host's log): at most LOG_RL_BURST lines per LOG_RL_INTERVAL_NS per state; the
 * caller serialises access to the state (usually the device lock).
 */
#define LOG_RL_BURST 10
#define LOG_RL_INTERVAL_NS (5ULL * 1000 * 1000 * 1000)
struct log_ratelimit {
	uint64_t window_start_ns;
	unsigned int in_window;
	unsigned int suppressed;
};
/* true if a line may be written now; logs how many were suppressed when a window ends. */
bool log_ratelimit_ok(struct log_ratelimit *rl);

#define log_warn_ratelimited(rl, ...)            \
	do {                                     \
		if (log_ratelimit_ok(rl))        \
			log_warn(__VA_ARGS__);   \
	} while (0)

#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
