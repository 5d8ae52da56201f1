// SPDX-License-Identifier: Apache-2.0
#include "vmm/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Guards the group list, the sink fd and the id; counters themselves are lock-free. */
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_group *groups;
static int metrics_fd = -1;
static char metrics_id[65];

uint64_t metrics_flushes, metrics_dropped_lines;

static const char *const self_names[] = { "flushes", "dropped_lines" };
static uint64_t self_vals[2];

int metrics_register(struct metrics_group *g)
{
	pthread_mutex_lock(&metrics_lock);
	for (struct metrics_group *p = groups; p; p = p->next) {
		if (p == g || !strcmp(p->name, g->name)) {
			pthread_mutex_unlock(&metrics_lock);
			return -EEXIST;
		}
	}
	g->next = groups;
	groups = g;
	pthread_mutex_unlock(&metrics_lock);
	return 0;
}

void metrics_unregister(struct metrics_group *g)
{
	pthread_mutex_lock(&metrics_lock);
	for (struct metrics_group **p = &groups; *p; p = &(*p)->next) {
		if (*p == g) {
			*p = g->next;
			break;
		}
	}
	pthread_mutex_unlock(&metrics_lock);
}

int metrics_set_path(const char *path)
{
	int flags = O_WRONLY | O_CLOEXEC | O_NONBLOCK;
	struct stat st;
	int fd;

	pthread_mutex_lock(&metrics_lock);
	if (metrics_fd >= 0) {
		pthread_mutex_unlock(&metrics_lock);
		return -EBUSY;
	}
	/* A FIFO without a reader gives ENXIO here: report it rather than block. */
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		fd = open(path, flags);
	else
		fd = open(path, flags | O_CREAT | O_APPEND, 0600);
	if (fd < 0) {
		int e = -errno;

		pthread_mutex_unlock(&metrics_lock);
		return e;
	}
	metrics_fd = fd;
	pthread_mutex_unlock(&metrics_lock);
	return 0;
}

bool metrics_configured(void)
{
	bool r;

	pthread_mutex_lock(&metrics_lock);
	r = metrics_fd >= 0;
	pthread_mutex_unlock(&metrics_lock);
	return r;
}

void metrics_set_id(const char *id)
{
	pthread_mutex_lock(&metrics_lock);
	snprintf(metrics_id, sizeof(metrics_id), "%s", id ? id : "");
	pthread_mutex_unlock(&metrics_lock);
}

static json_t *group_json(const char *const *names, const uint64_t *vals, unsigned int n)
{
	json_t *o = json_object();

	for (unsigned int i = 0; o && i < n; i++)
		json_object_set_new(o, names[i],
				    json_integer((json_int_t)__atomic_load_n(&vals[i],
									     __ATOMIC_RELAXED)));
	return o;
}

int metrics_flush(void)
{
	struct timespec ts;
	json_t *root;
	char *line;
	size_t len;
	ssize_t w;
	int r = 0;

	pthread_mutex_lock(&metrics_lock);
	if (metrics_fd < 0) {
		pthread_mutex_unlock(&metrics_lock);
		return -ENODEV;
	}
	metrics_inc(&metrics_flushes);
	self_vals[0] = __atomic_load_n(&metrics_flushes, __ATOMIC_RELAXED);
	self_vals[1] = __atomic_load_n(&metrics_dropped_lines, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &ts);
	root = json_object();
	if (!root) {
		pthread_mutex_unlock(&metrics_lock);
		return -ENOMEM;
	}
	json_object_set_new(root, "utc_timestamp_ms",
			    json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
	if (metrics_id[0])
		json_object_set_new(root, "id", json_string(metrics_id));
	json_object_set_new(root, "metrics", group_json(self_names, self_vals, 2));
	for (struct metrics_group *g = groups; g; g = g->next)
		json_object_set_new(root, g->name, group_json(g->names, g->vals, g->n));
	line = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!line) {
		pthread_mutex_unlock(&metrics_lock);
		return -ENOMEM;
	}
	len = strlen(line);
	line[len++] = '\n'; /* overwrite the NUL: write() takes the length */
	/* One write: a FIFO reader sees whole lines (up to PIPE_BUF) or nothing. */
	w = write(metrics_fd, line, len);
	if (w < 0) {
		r = -errno;
		metrics_inc(&metrics_dropped_lines);
		if (r == -EAGAIN)
			r = 0;
	} else if ((size_t)w != len) {
		metrics_inc(&metrics_dropped_lines);
	}
	free(line);
	pthread_mutex_unlock(&metrics_lock);
	return r;
}

void metrics_close(void)
{
	pthread_mutex_lock(&metrics_lock);
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_fd = -1;
	pthread_mutex_unlock(&metrics_lock);
}
