// SPDX-License-Identifier: Apache-2.0
/*
 * API latency under load, and process start to the API socket accepting connections.
 *
 * The server is the real vmm binary (argv[1]) before InstanceStart, so every
 * PUT /machine-config goes API thread -> VMM thread -> API thread, under the VMM's own
 * seccomp filters; without argv[1], the API server in this process with a stub VMM loop.
 * The load generator is one epoll thread with 100 keep-alive connections (the way wrk
 * and similar tools drive many clients), so on this 2-core host the figures measure the
 * server rather than the scheduling of 100 client threads. Latency: from just before a
 * request's send() to its whole response read, taken by the generator. Two loads:
 * paced (each connection sends one request every 10 ms, arrivals spread evenly, an
 * offered 10k req/s) and saturated (each connection sends its next request as soon as
 * its answer arrives: by Little's law p50 ~ 100 / throughput there, so that line is
 * about throughput, the paced one about latency).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "vmm/util.h"

#define CLIENTS 100
#define REQS 200
#define PACE_NS (10ULL * 1000 * 1000)

static int stop_loop;

static int ok_start(void *v, const struct vm_config *c, struct config_err *e)
{
	return 0;
}

static const struct vmm_ops ops = { .instance_start = ok_start };

static void *loop_thread(void *opaque)
{
	struct event_loop *loop = opaque;

	while (!__atomic_load_n(&stop_loop, __ATOMIC_ACQUIRE))
		ev_loop_run_once(loop, 20);
	return NULL;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

struct client {
	int fd;
	int sent, done;
	bool in_flight;
	uint64_t t_send, next_due;
	size_t len;
	char buf[1024];
};

/* A complete response at the head of c->buf: its length, 0 if incomplete, -1 if bad. */
static long response_len(struct client *c, int *status)
{
	char *end, *cl;
	size_t want;

	c->buf[c->len] = '\0';
	end = strstr(c->buf, "\r\n\r\n");
	if (!end)
		return c->len >= sizeof(c->buf) - 1 ? -1 : 0;
	cl = strstr(c->buf, "Content-Length: ");
	want = (size_t)(end - c->buf) + 4 + (cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0);
	if (want >= sizeof(c->buf))
		return -1;
	*status = atoi(c->buf + 9);
	return c->len >= want ? (long)want : 0;
}

static int client_send(struct client *c, int id)
{
	char req[256], body[96];
	int n;

	snprintf(body, sizeof(body), "{\"vcpu_count\": 2, \"mem_size_mib\": %d}",
		 128 + 2 * ((id + c->sent) % 64));
	n = snprintf(req, sizeof(req),
		     "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		     strlen(body), body);
	c->t_send = util_now_ns();
	/* A request is far smaller than the socket buffer: one send takes it all. */
	if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	c->in_flight = true;
	c->sent++;
	return 0;
}

/*
 * Run one load: every client sends REQS requests; paced ones at pace_ns intervals.
 * Latencies go to lat[]; returns -1 on any failed request.
 */
static int run_load(const char *path, uint64_t pace_ns, uint64_t *lat, double *secs)
{
	static struct client cl[CLIENTS];
	int ep = epoll_create1(EPOLL_CLOEXEC), left = CLIENTS, rc = 0;
	uint64_t t0 = util_now_ns();

	if (ep < 0)
		return -1;
	for (int i = 0; i < CLIENTS; i++)
		cl[i].fd = -1;
	for (int i = 0; i < CLIENTS; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].fd = connect_to(path);
		if (cl[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &e) < 0) {
			perror("connect");
			rc = -1;
			goto out;
		}
		cl[i].next_due = t0 + (pace_ns * (uint64_t)i) / CLIENTS;
	}
	while (left) {
		struct epoll_event evs[CLIENTS];
		uint64_t now = util_now_ns(), first_due = UINT64_MAX;
		struct timespec ts, *timeout = NULL;
		int n;

		for (int i = 0; i < CLIENTS; i++) {
			struct client *c = &cl[i];

			if (c->in_flight || c->sent == REQS)
				continue;
			if (!pace_ns || c->next_due <= now) {
				if (client_send(c, i) < 0) {
					fprintf(stderr, "client %d: send failed\n", i);
					rc = -1;
					goto out;
				}
				c->next_due += pace_ns;
			} else if (c->next_due < first_due) {
				first_due = c->next_due;
			}
		}
		if (first_due != UINT64_MAX) {
			/* Nanosecond timeout: sends go out on time, not bunched per ms. */
			ts.tv_sec = (time_t)((first_due - now) / 1000000000);
			ts.tv_nsec = (long)((first_due - now) % 1000000000);
			timeout = &ts;
		}
		n = epoll_pwait2(ep, evs, CLIENTS, timeout, NULL);
		if (n < 0 && errno != EINTR) {
			perror("epoll_pwait2");
			rc = -1;
			goto out;
		}
		for (int k = 0; k < n; k++) {
			struct client *c = &cl[evs[k].data.u32];
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
			int status = 0;
			long got;

			if (r <= 0) {
				fprintf(stderr, "client %u: connection lost\n", evs[k].data.u32);
				rc = -1;
				goto out;
			}
			c->len += (size_t)r;
			got = response_len(c, &status);
			if (got < 0 || (got > 0 && status != 204)) {
				fprintf(stderr, "client %u: bad response (status %d)\n",
					evs[k].data.u32, status);
				rc = -1;
				goto out;
			}
			if (!got)
				continue;
			lat[evs[k].data.u32 * REQS + c->done++] = util_now_ns() - c->t_send;
			memmove(c->buf, c->buf + got, c->len - (size_t)got);
			c->len -= (size_t)got;
			c->in_flight = false;
			if (c->done == REQS)
				left--;
		}
	}
	*secs = (double)(util_now_ns() - t0) / 1e9;
out:
	for (int i = 0; i < CLIENTS; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	close(ep);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Microseconds from "API socket ... accepting N us after process start" in a log file. */
static double logged_ready_us(const char *log)
{
	char line[512];
	double us = -1;
	FILE *f = fopen(log, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, " accepting ");
		unsigned long long v;

		if (p && sscanf(p, " accepting %llu us", &v) == 1)
			us = (double)v;
	}
	fclose(f);
	return us;
}

/* Best and mean of fork + exec + exit of /bin/true: what any process start costs here. */
static void exec_baseline(int runs, double *best, double *mean)
{
	double sum = 0;

	*best = 1e9;
	for (int i = 0; i < runs; i++) {
		uint64_t t0 = util_now_ns();
		pid_t pid = fork();
		double ms;

		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
		ms = (double)(util_now_ns() - t0) / 1e6;
		sum += ms;
		if (ms < *best)
			*best = ms;
	}
	*mean = sum / runs;
}

static void startup_bench(const char *vmm)
{
	char path[108], log[128];
	double best = 1e9, sum = 0, in_best = 1e9, in_sum = 0, t_best, t_mean;
	int runs = 20, in_n = 0;

	snprintf(path, sizeof(path), "/tmp/bench_api_start_%d.sock", getpid());
	snprintf(log, sizeof(log), "/tmp/bench_api_start_%d.log", getpid());
	for (int i = 0; i < runs; i++) {
		uint64_t t0, t1 = 0;
		pid_t pid;
		int fd = -1;
		double us;

		unlink(path);
		unlink(log);
		t0 = util_now_ns();
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			dup2(null, 2);
			execl(vmm, vmm, "--api-sock", path, "--log-path", log, "--level", "Info",
			      (char *)NULL);
			_exit(127);
		}
		/* Poll until a connect succeeds: that is "accepting connections". */
		while (util_now_ns() - t0 < 2000000000ULL) {
			fd = connect_to(path);
			if (fd >= 0) {
				t1 = util_now_ns();
				close(fd);
				break;
			}
			usleep(50);
		}
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		if (!t1) {
			printf("api start: %s did not open its socket\n", vmm);
			return;
		}
		sum += (double)(t1 - t0) / 1e6;
		if ((double)(t1 - t0) / 1e6 < best)
			best = (double)(t1 - t0) / 1e6;
		us = logged_ready_us(log);
		if (us >= 0) {
			in_sum += us / 1000;
			in_n++;
			if (us / 1000 < in_best)
				in_best = us / 1000;
		}
	}
	unlink(path);
	unlink(log);
	exec_baseline(runs, &t_best, &t_mean);
	printf("process start to API socket accepting: best %.2f ms, mean %.2f ms (%d runs, "
	       "fork+exec included, goal < 5 ms)\n",
	       best, sum / runs, runs);
	if (in_n)
		printf("  of which inside the VMM (main() to listening, its log): best %.2f ms, "
		       "mean %.2f ms\n", in_best, in_sum / in_n);
	printf("  peer on this host: fork+exec+exit of /bin/true: best %.2f ms, mean %.2f ms; "
	       "VMM/true ratio (best) %.2f\n", t_best, t_mean, best / t_best);
}

/* utime + stime of a process in microseconds (-1 if unknown). */
static double proc_cpu_us(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	FILE *f;
	int ok;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	/* Fields 14 and 15, counted after the ")" that ends the command name. */
	p = ok ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* Start the vmm binary with its API socket at path; its pid, or -1. */
static pid_t start_vmm(const char *vmm, const char *path, const char *log)
{
	uint64_t t0 = util_now_ns();
	pid_t pid;

	unlink(path);
	unlink(log);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(null, 1);
		dup2(null, 2);
		execl(vmm, vmm, "--api-sock", path, "--log-path", log, "--level", "Info",
		      (char *)NULL);
		_exit(127);
	}
	while (pid > 0 && util_now_ns() - t0 < 5000000000ULL) {
		int fd = connect_to(path);

		if (fd >= 0) {
			close(fd);
			return pid;
		}
		usleep(1000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static uint64_t lat[CLIENTS * REQS];
	struct event_loop loop;
	struct vm_config cfg;
	struct api_server *srv = NULL;
	pthread_t lt;
	char path[108], log[128];
	size_t n = CLIENTS * REQS;
	pid_t vmm_pid = -1;
	int bad = 0;

	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "/tmp/bench_api_%d.sock", getpid());
	snprintf(log, sizeof(log), "/tmp/bench_api_%d.vmm.log", getpid());
	config_init(&cfg);
	if (argc > 1) {
		vmm_pid = start_vmm(argv[1], path, log);
		if (vmm_pid < 0) {
			fprintf(stderr, "%s did not open its API socket\n", argv[1]);
			return 1;
		}
		printf("server: %s (pid %d), before InstanceStart\n", argv[1], (int)vmm_pid);
	} else {
		int r;

		if (ev_loop_init(&loop) < 0)
			return 1;
		r = api_server_start(&srv, path, "bench", &cfg, &ops, NULL, &loop);
		if (r < 0) {
			fprintf(stderr, "api_server_start: %s\n", strerror(-r));
			return 1;
		}
		pthread_create(&lt, NULL, loop_thread, &loop);
		printf("server: the API server in this process, stub VMM loop on a thread\n");
	}
	for (int phase = 0; phase < 2 && !bad; phase++) {
		uint64_t pace = phase ? 0 : PACE_NS;
		double secs = 0, cpu0 = proc_cpu_us(vmm_pid), cpu;

		if (run_load(path, pace, lat, &secs) < 0) {
			bad = 1;
			break;
		}
		cpu = proc_cpu_us(vmm_pid) - cpu0;
		qsort(lat, n, sizeof(lat[0]), cmp_u64);
		printf("PUT /machine-config, %d concurrent keep-alive clients x %d requests, %s: "
		       "p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us; %.0f req/s\n",
		       CLIENTS, REQS,
		       pace ? "each client 1 request per 10 ms" : "back to back (saturated)",
		       lat[n / 2] / 1e3, lat[n * 90 / 100] / 1e3, lat[n * 99 / 100] / 1e3,
		       lat[n - 1] / 1e3, (double)n / secs);
		if (vmm_pid > 0 && cpu0 >= 0 && cpu >= 0)
			printf("  server CPU (all vmm threads, user + system): %.1f us per request\n",
			       cpu / (double)n);
	}
	if (vmm_pid > 0) {
		int st = 0;

		kill(vmm_pid, SIGTERM);
		waitpid(vmm_pid, &st, 0);
		/* 143 is the VMM's own exit on SIGTERM; anything else (148: seccomp) is news. */
		if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 143)) {
			char cmd[160];

			fprintf(stderr, "vmm exited badly (wait status %#x); its log:\n", st);
			snprintf(cmd, sizeof(cmd), "cat %s >&2", log);
			if (system(cmd) != 0)
				fprintf(stderr, "(no log)\n");
			bad = 1;
		}
		unlink(path);
		unlink(log);
	} else {
		__atomic_store_n(&stop_loop, 1, __ATOMIC_RELEASE);
		pthread_join(lt, NULL);
		api_server_stop(srv);
		ev_loop_destroy(&loop);
	}
	config_free(&cfg);
	if (bad)
		return 1;
	if (argc > 1)
		startup_bench(argv[1]);
	return 0;
}
