/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: timestamped lines "<time> [<id>:<thread>] <LEVEL> <origin>: <message>".
 * Thread-safe; the sink is stderr until log_set_path() points it at a file or FIFO.
 */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <stdbool.h>

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

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
