// SPDX-License-Identifier: Apache-2.0
/*
 * API latency under load: the API server in process with a stub VMM whose event loop
 * runs on its own thread (as in the vmm), and 100 concurrent keep-alive clients each
 * sending configuration requests (PUT /machine-config, which goes through the VMM
 * thread) back to back. Prints p50/p90/p99/max of the round trip seen by the clients.
 * With a vmm binary path as argv[1], also measures process start to the API socket
 * accepting connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "vmm/util.h"

#define CLIENTS 100
#define REQS 200

static char sock_path[108];
static uint64_t lat[CLIENTS * REQS];
static int stop_loop;
static int pace_us; /* 0: back to back; else each client sends one request per pace_us */

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

/* Read one response with a known-small body; returns the status or -1. */
static int read_response(int fd)
{
	char buf[4096];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *end;

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			char *cl = strstr(buf, "Content-Length: ");
			size_t want = (size_t)(end - buf) + 4 + (cl ? strtoul(cl + 16, NULL, 10) : 0);

			if (len >= want)
				return atoi(buf + 9);
		}
	}
}

static void *client(void *arg)
{
	long id = (long)arg;
	int fd = connect_to(sock_path);
	char req[256];

	if (fd < 0) {
		perror("connect");
		return (void *)1;
	}
	for (int i = 0; i < REQS; i++) {
		int mem = 128 + 2 * (int)((id + i) % 64);
		char body[96];
		uint64_t t0;
		int n;

		snprintf(body, sizeof(body), "{\"vcpu_count\": 2, \"mem_size_mib\": %d}", mem);
		n = snprintf(req, sizeof(req),
			     "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			     strlen(body), body);
		if (pace_us) {
			/* Spread the clients over the period so arrivals are not in lockstep. */
			useconds_t d = (useconds_t)(i == 0 ? (id * pace_us) / CLIENTS : pace_us);

			usleep(d);
		}
		t0 = util_now_ns();
		if (util_write_all(fd, req, (size_t)n) < 0 || read_response(fd) != 204) {
			fprintf(stderr, "client %ld: request %d failed\n", id, i);
			close(fd);
			return (void *)1;
		}
		lat[id * REQS + i] = util_now_ns() - t0;
	}
	close(fd);
	return NULL;
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

int main(int argc, char **argv)
{
	struct event_loop loop;
	struct vm_config cfg;
	struct api_server *srv;
	pthread_t lt, th[CLIENTS];
	uint64_t t0, total;
	size_t n = CLIENTS * REQS;
	int r, bad = 0;

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock_path, sizeof(sock_path), "/tmp/bench_api_%d.sock", getpid());
	config_init(&cfg);
	if (ev_loop_init(&loop) < 0)
		return 1;
	r = api_server_start(&srv, sock_path, "bench", &cfg, &ops, NULL, &loop);
	if (r < 0) {
		fprintf(stderr, "api_server_start: %s\n", strerror(-r));
		return 1;
	}
	pthread_create(&lt, NULL, loop_thread, &loop);
	for (int phase = 0; phase < 2 && !bad; phase++) {
		pace_us = phase ? 10000 : 0;
		t0 = util_now_ns();
		for (long i = 0; i < CLIENTS; i++)
			pthread_create(&th[i], NULL, client, (void *)i);
		for (int i = 0; i < CLIENTS; i++) {
			void *ret;

			pthread_join(th[i], &ret);
			bad += ret != NULL;
		}
		total = util_now_ns() - t0;
		qsort(lat, n, sizeof(lat[0]), cmp_u64);
		printf("PUT /machine-config, %d concurrent keep-alive clients x %d requests, %s: "
		       "p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us; %.0f req/s\n",
		       CLIENTS, REQS,
		       phase ? "each client 1 request per 10 ms" : "back to back (saturated)",
		       lat[n / 2] / 1e3, lat[n * 90 / 100] / 1e3, lat[n * 99 / 100] / 1e3,
		       lat[n - 1] / 1e3, (double)n / ((double)total / 1e9));
	}
	__atomic_store_n(&stop_loop, 1, __ATOMIC_RELEASE);
	pthread_join(lt, NULL);
	api_server_stop(srv);
	ev_loop_destroy(&loop);
	config_free(&cfg);
	if (bad) {
		fprintf(stderr, "%d clients failed\n", bad);
		return 1;
	}
	if (argc > 1)
		startup_bench(argv[1]);
	return 0;
}
