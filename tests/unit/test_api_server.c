// SPDX-License-Identifier: Apache-2.0
/*
 * The API server in process: a fake VMM (ops that record calls) with its event loop on
 * a pthread, and clients speaking real HTTP over the Unix socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "tests/unit/test.h"
#include "vmm/util.h"

struct fake_vmm {
	int starts, pauses, resumes, cads, flushes, drive_updates, net_updates;
	int start_delay_ms;
	char last_drive_path[64];
};

static int f_start(void *v, const struct vm_config *cfg, struct config_err *err)
{
	struct fake_vmm *f = v;

	if (f->start_delay_ms)
		usleep((useconds_t)f->start_delay_ms * 1000);
	if (cfg->machine.vcpu_count == 7) { /* a failure the test can ask for */
		snprintf(err->msg, sizeof(err->msg), "fake: cannot start");
		return -EINVAL;
	}
	f->starts++;
	return 0;
}

static int f_pause(void *v, struct config_err *err)
{
	((struct fake_vmm *)v)->pauses++;
	return 0;
}

static int f_resume(void *v, struct config_err *err)
{
	((struct fake_vmm *)v)->resumes++;
	return 0;
}

static int f_cad(void *v, struct config_err *err)
{
	((struct fake_vmm *)v)->cads++;
	return 0;
}

static int f_flush(void *v, struct config_err *err)
{
	((struct fake_vmm *)v)->flushes++;
	return 0;
}

static int f_drive(void *v, const char *id, const char *path, const struct rate_limiter_cfg *rl,
		   struct config_err *err)
{
	struct fake_vmm *f = v;

	f->drive_updates++;
	snprintf(f->last_drive_path, sizeof(f->last_drive_path), "%s", path ? path : "(keep)");
	return 0;
}

static int f_net(void *v, const char *id, const struct rate_limiter_cfg *rx,
		 const struct rate_limiter_cfg *tx, struct config_err *err)
{
	((struct fake_vmm *)v)->net_updates++;
	return 0;
}

static const struct vmm_ops fake_ops = {
	.instance_start = f_start,
	.pause = f_pause,
	.resume = f_resume,
	.send_ctrl_alt_del = f_cad,
	.flush_metrics = f_flush,
	.update_drive = f_drive,
	.update_net = f_net,
};

struct env {
	struct event_loop loop;
	struct vm_config cfg;
	struct fake_vmm fake;
	struct api_server *srv;
	pthread_t vmm_thread;
	int stop;
	char path[108];
};

static void *vmm_loop(void *opaque)
{
	struct env *e = opaque;

	while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE))
		ev_loop_run_once(&e->loop, 20);
	return NULL;
}

static int env_start(struct env *e)
{
	static int seq;
	int r;

	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "/tmp/test_api_%d_%d.sock", getpid(), seq++);
	unlink(e->path);
	config_init(&e->cfg);
	if ((r = ev_loop_init(&e->loop)) < 0)
		return r;
	r = api_server_start(&e->srv, e->path, "test-vm", &e->cfg, &fake_ops, &e->fake, &e->loop);
	if (r < 0)
		return r;
	return -pthread_create(&e->vmm_thread, NULL, vmm_loop, e);
}

static void env_stop(struct env *e)
{
	__atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
	pthread_join(e->vmm_thread, NULL);
	api_server_stop(e->srv);
	ev_loop_destroy(&e->loop);
	config_free(&e->cfg);
}

static int cli_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int cli_send(int fd, const char *s)
{
	return util_write_all(fd, s, strlen(s));
}

struct resp {
	int status;
	char body[4096];
	bool closed; /* the server closed after this response */
};

/*
 * Read one response from fd (buffered in *buf between calls). 0, or -ETIMEDOUT /
 * -ECONNRESET when none came.
 */
struct rbuf {
	char d[65536];
	size_t len;
};

static int cli_read(int fd, struct rbuf *b, struct resp *r, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000;

	memset(r, 0, sizeof(*r));
	for (;;) {
		char *end;

		b->d[b->len] = '\0';
		end = strstr(b->d, "\r\n\r\n");
		if (end) {
			size_t hl = (size_t)(end - b->d) + 4, cl = 0;
			char *p = strcasestr(b->d, "Content-Length:");

			if (p && p < end)
				cl = strtoul(p + 15, NULL, 10);
			if (b->len >= hl + cl) {
				r->status = atoi(b->d + 9);
				memcpy(r->body, b->d + hl, MIN(cl, sizeof(r->body) - 1));
				r->closed = strcasestr(b->d, "Connection: close") &&
					    strcasestr(b->d, "Connection: close") < end;
				memmove(b->d, b->d + hl + cl, b->len - hl - cl);
				b->len -= hl + cl;
				return 0;
			}
		}
		{
			uint64_t now = util_now_ns();
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (now >= deadline)
				return -ETIMEDOUT;
			if (poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1) <= 0)
				continue;
			n = read(fd, b->d + b->len, sizeof(b->d) - 1 - b->len);
			if (n <= 0)
				return -ECONNRESET;
			b->len += (size_t)n;
		}
	}
}

/* Connection closed by the server within timeout_ms? */
static bool cli_closed(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c[256];

	while (poll(&pfd, 1, timeout_ms) > 0) {
		ssize_t n = read(fd, c, sizeof(c));

		if (n <= 0)
			return true;
	}
	return false;
}

/* One request on a fresh connection. */
static int request(struct env *e, const char *method, const char *path, const char *body,
		   struct resp *r)
{
	char req[8192];
	struct rbuf *b = malloc(sizeof(*b));
	int fd = cli_connect(e->path), rc;

	if (fd < 0 || !b) {
		free(b);
		return -1;
	}
	b->len = 0;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n%s",
		 method, path, body ? strlen(body) : 0, body ? body : "");
	cli_send(fd, req);
	rc = cli_read(fd, b, r, 2000);
	close(fd);
	free(b);
	return rc;
}

#define REQ(m, p, b, want)                                                              \
	do {                                                                            \
		CHECK_EQ(request(&e, m, p, b, &r), 0);                                  \
		if (r.status != (want))                                                 \
			fprintf(stderr, "  %s %s -> %d %s\n", m, p, r.status, r.body);  \
		CHECK_EQ(r.status, want);                                               \
	} while (0)

TEST(endpoints_preboot)
{
	struct env e;
	struct resp r;

	CHECK_EQ(env_start(&e), 0);
	REQ("GET", "/", NULL, 200);
	CHECK(strstr(r.body, "\"state\":\"Not started\""));
	CHECK(strstr(r.body, "\"id\":\"test-vm\""));
	REQ("GET", "/version", NULL, 200);
	CHECK(strstr(r.body, "firecracker_version"));
	REQ("GET", "/machine-config", NULL, 200);
	CHECK(strstr(r.body, "\"vcpu_count\":1"));
	REQ("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400);
	CHECK(strstr(r.body, "boot-source is not configured"));
	REQ("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"boot_args\": \"quiet\"}", 204);
	CHECK_EQ(r.body[0], 0);
	REQ("PUT", "/machine-config", "{\"vcpu_count\": 40, \"mem_size_mib\": 64}", 400);
	CHECK(strstr(r.body, "\"fault_message\":\"machine-config.vcpu_count: must be between 1 and 32\""));
	REQ("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64}", 204);
	REQ("PATCH", "/machine-config", "{\"mem_size_mib\": 256}", 204);
	REQ("GET", "/machine-config", NULL, 200);
	CHECK(strstr(r.body, "\"vcpu_count\":2"));
	CHECK(strstr(r.body, "\"mem_size_mib\":256"));
	REQ("PUT", "/drives/rootfs",
	    "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\", \"is_root_device\": true}", 204);
	REQ("PUT", "/drives/other",
	    "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\", \"is_root_device\": true}", 400);
	CHECK(strstr(r.body, "does not match"));
	REQ("PUT", "/drives/two",
	    "{\"drive_id\": \"two\", \"path_on_host\": \"/r\", \"is_root_device\": true}", 400);
	CHECK(strstr(r.body, "already the root device"));
	REQ("PUT", "/drives/bad-id", "{}", 400);
	CHECK(strstr(r.body, "drive_id in the path"));
	REQ("PUT", "/drives/", "{}", 400);
	REQ("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/x\"}", 400);
	CHECK(strstr(r.body, "only allowed after the microVM has started"));
	REQ("PUT", "/network-interfaces/eth0",
	    "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"06:00:00:00:00:01\"}",
	    204);
	REQ("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"guest_mac\": \"zz\"}", 400);
	REQ("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"}", 204);
	REQ("PUT", "/vsock", "{\"guest_cid\": 1, \"uds_path\": \"/tmp/v.sock\"}", 400);
	REQ("PUT", "/entropy", "{}", 204);
	REQ("PUT", "/entropy", "{\"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}", 400);
	REQ("PUT", "/boot-source", "", 400);
	CHECK(strstr(r.body, "body is required"));
	REQ("PUT", "/boot-source", "{not json", 400);
	CHECK(strstr(r.body, "invalid JSON"));
	REQ("PUT", "/actions", "{\"action_type\": \"Reboot\"}", 400);
	REQ("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400);
	REQ("PATCH", "/vm", "{\"state\": \"Paused\"}", 400);
	CHECK(strstr(r.body, "not started"));
	REQ("PATCH", "/vm", "{\"state\": \"Frozen\"}", 400);
	REQ("GET", "/nope", NULL, 404);
	CHECK(strstr(r.body, "fault_message"));
	REQ("DELETE", "/machine-config", NULL, 405);
	REQ("GET", "/boot-source", NULL, 405);
	REQ("PUT", "/balloon", "{}", 400);
	CHECK(strstr(r.body, "/balloon is not supported"));
	REQ("GET", "/mmds", NULL, 400);
	REQ("PUT", "/snapshot/create", "{}", 400);
	CHECK(strstr(r.body, "/snapshot is not supported"));
	REQ("PUT", "/cpu-config", "{}", 400);
	REQ("PUT", "/pmem/p0", "{}", 400);
	REQ("PATCH", "/hotplug/memory", "{}", 400);
	REQ("PUT", "/serial", "{\"serial_out_path\": 1}", 400);
	CHECK(strstr(r.body, "serial.serial_out_path: must be a string"));
	REQ("PUT", "/serial", "{\"serial_out_path\": \"/s\", \"rate_limiter\": {\"size\": 1, "
			      "\"refill_time\": 1}}", 204);
	REQ("GET", "/serial", NULL, 405);
	REQ("GET", "/vm/config", NULL, 200);
	CHECK(strstr(r.body, "\"kernel_image_path\":\"/k\""));
	CHECK(strstr(r.body, "\"drive_id\":\"rootfs\""));
	CHECK(strstr(r.body, "\"guest_cid\":3"));
	CHECK(strstr(r.body, "\"entropy\":{}"));
	CHECK(strstr(r.body, "\"serial\":{\"serial_out_path\":\"/s\""));
	CHECK_EQ(e.fake.starts, 0);
	env_stop(&e);
}

TEST(phase_rules_after_start)
{
	struct env e;
	struct resp r;

	CHECK_EQ(env_start(&e), 0);
	REQ("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}", 204);
	REQ("PUT", "/drives/d", "{\"drive_id\": \"d\", \"path_on_host\": \"/r\", \"is_root_device\": false}",
	    204);
	REQ("PUT", "/network-interfaces/n", "{\"iface_id\": \"n\", \"host_dev_name\": \"tap0\"}", 204);
	/* A failed start leaves the VM not started. */
	REQ("PUT", "/machine-config", "{\"vcpu_count\": 7, \"mem_size_mib\": 64}", 204);
	REQ("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400);
	CHECK(strstr(r.body, "fake: cannot start"));
	REQ("GET", "/", NULL, 200);
	CHECK(strstr(r.body, "Not started"));
	REQ("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}", 204);
	REQ("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 204);
	CHECK_EQ(e.fake.starts, 1);
	CHECK_EQ(api_server_state(e.srv), API_VM_RUNNING);
	REQ("GET", "/", NULL, 200);
	CHECK(strstr(r.body, "\"state\":\"Running\""));
	REQ("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400);
	REQ("PUT", "/boot-source", "{\"kernel_image_path\": \"/k2\"}", 400);
	CHECK(strstr(r.body, "PUT /boot-source: not allowed after the microVM has started"));
	REQ("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}", 400);
	REQ("PATCH", "/machine-config", "{\"vcpu_count\": 1}", 400);
	REQ("PUT", "/drives/d", "{\"drive_id\": \"d\", \"path_on_host\": \"/r\", \"is_root_device\": false}",
	    400);
	REQ("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/v\"}", 400);
	REQ("PUT", "/entropy", "{}", 400);
	REQ("PUT", "/serial", "{}", 400);
	CHECK(strstr(r.body, "PUT /serial: not allowed after the microVM has started"));
	REQ("PUT", "/logger", "{\"level\": \"Info\"}", 400);
	REQ("PATCH", "/drives/d", "{\"drive_id\": \"d\", \"path_on_host\": \"/new\"}", 204);
	CHECK_EQ(e.fake.drive_updates, 1);
	CHECK_STR(e.fake.last_drive_path, "/new");
	REQ("PATCH", "/drives/zz", "{\"drive_id\": \"zz\", \"path_on_host\": \"/new\"}", 400);
	CHECK(strstr(r.body, "no such drive"));
	REQ("PATCH", "/drives/d", "{\"drive_id\": \"d\", \"is_read_only\": true}", 400);
	REQ("PATCH", "/network-interfaces/n",
	    "{\"iface_id\": \"n\", \"rx_rate_limiter\": {\"ops\": {\"size\": 5, \"refill_time\": 10}}}",
	    204);
	CHECK_EQ(e.fake.net_updates, 1);
	REQ("GET", "/vm/config", NULL, 200);
	CHECK(strstr(r.body, "\"path_on_host\":\"/new\""));
	CHECK(strstr(r.body, "\"rx_rate_limiter\""));
	REQ("PATCH", "/vm", "{\"state\": \"Resumed\"}", 400);
	REQ("PATCH", "/vm", "{\"state\": \"Paused\"}", 204);
	REQ("GET", "/", NULL, 200);
	CHECK(strstr(r.body, "\"state\":\"Paused\""));
	REQ("PATCH", "/vm", "{\"state\": \"Paused\"}", 400);
	CHECK(strstr(r.body, "already paused"));
	REQ("PATCH", "/vm", "{\"state\": \"Resumed\"}", 204);
	CHECK_EQ(e.fake.pauses, 1);
	CHECK_EQ(e.fake.resumes, 1);
	REQ("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 204);
	CHECK_EQ(e.fake.cads, 1);
	env_stop(&e);
}

TEST(keep_alive_and_pipelining)
{
	static const char three[] =
		"GET /version HTTP/1.1\r\n\r\n"
		"PUT /boot-source HTTP/1.1\r\nContent-Length: 27\r\n\r\n{\"kernel_image_path\": \"/k\"}"
		"GET /vm/config HTTP/1.1\r\n\r\n";
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;
	int fd;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	fd = cli_connect(e.path);
	CHECK(fd >= 0);
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(cli_send(fd, "GET / HTTP/1.1\r\n\r\n"), 0);
		CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
		CHECK_EQ(r.status, 200);
		CHECK(!r.closed);
	}
	CHECK_EQ(cli_send(fd, three), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(strstr(r.body, "firecracker_version"));
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 204);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(strstr(r.body, "/k"));
	/* Connection: close is honoured. */
	CHECK_EQ(cli_send(fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK(r.closed);
	CHECK(cli_closed(fd, 1000));
	close(fd);
	free(b);
	env_stop(&e);
}

TEST(garbage_and_huge)
{
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;
	int fd;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	fd = cli_connect(e.path);
	CHECK_EQ(cli_send(fd, "\x16\x03\x01\x02\x00garbage\r\n\r\n"), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 400);
	CHECK(strstr(r.body, "fault_message"));
	CHECK(cli_closed(fd, 1000));
	close(fd);

	fd = cli_connect(e.path);
	b->len = 0;
	CHECK_EQ(cli_send(fd, "PUT /boot-source HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n"), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 413);
	close(fd);

	fd = cli_connect(e.path);
	b->len = 0;
	CHECK_EQ(cli_send(fd, "PUT /boot-source HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 411);
	close(fd);

	/* A body at the limit is read and parsed (and refused as JSON, not as HTTP). */
	{
		size_t n = 65536;
		char *big = malloc(n + 128);

		CHECK(big);
		fd = cli_connect(e.path);
		b->len = 0;
		snprintf(big, 128, "PUT /boot-source HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
		{
			size_t h = strlen(big);

			memset(big + h, ' ', n);
			big[h + n] = '\0';
		}
		CHECK_EQ(cli_send(fd, big), 0);
		CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
		CHECK_EQ(r.status, 400);
		CHECK(strstr(r.body, "invalid JSON"));
		free(big);
		close(fd);
	}
	/* Still serving. */
	REQ("GET", "/", NULL, 200);
	free(b);
	env_stop(&e);
}

TEST(expect_continue)
{
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;
	int fd;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	fd = cli_connect(e.path);
	CHECK_EQ(cli_send(fd, "PUT /boot-source HTTP/1.1\r\nExpect: 100-continue\r\n"
			      "Content-Length: 27\r\n\r\n"),
		 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 100);
	CHECK_EQ(cli_send(fd, "{\"kernel_image_path\": \"/k\"}"), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 204);
	close(fd);
	free(b);
	env_stop(&e);
}

TEST(many_concurrent_connections)
{
	enum { N = 100 };
	struct rbuf *b = calloc(1, sizeof(*b));
	int fds[N];
	struct env e;
	struct resp r;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	for (int i = 0; i < N; i++) {
		fds[i] = cli_connect(e.path);
		CHECK(fds[i] >= 0);
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(cli_send(fds[i], "GET /machine-config HTTP/1.1\r\n\r\n"), 0);
	for (int i = 0; i < N; i++) {
		b->len = 0;
		CHECK_EQ(cli_read(fds[i], b, &r, 3000), 0);
		CHECK_EQ(r.status, 200);
		close(fds[i]);
	}
	free(b);
	env_stop(&e);
}

TEST(connection_cap)
{
	enum { N = API_MAX_CONNS + 8 };
	int fds[N], refused = 0;
	struct env e;
	struct resp r;

	CHECK_EQ(env_start(&e), 0);
	for (int i = 0; i < N; i++)
		fds[i] = cli_connect(e.path);
	/* Let the server accept them all; the ones over the cap are closed. */
	usleep(300 * 1000);
	for (int i = 0; i < N; i++)
		if (fds[i] < 0 || cli_closed(fds[i], 0))
			refused++;
	CHECK(refused >= N - API_MAX_CONNS);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	usleep(100 * 1000);
	REQ("GET", "/", NULL, 200);
	env_stop(&e);
}

TEST(stalled_client_does_not_block_others)
{
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;
	uint64_t t0;
	int slow, idle;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	api_server_set_timeouts(e.srv, 400, 300, 0);
	slow = cli_connect(e.path);
	idle = cli_connect(e.path);
	CHECK(slow >= 0 && idle >= 0);
	/* Half a request, then silence. */
	CHECK_EQ(cli_send(slow, "PUT /boot-source HTTP/1.1\r\nContent-Le"), 0);
	t0 = util_now_ns();
	REQ("GET", "/", NULL, 200);
	CHECK(util_now_ns() - t0 < 200 * 1000000ULL);
	/* The slow one gets 408 and is dropped; the idle one is closed. */
	CHECK_EQ(cli_read(slow, b, &r, 2000), 0);
	CHECK_EQ(r.status, 408);
	CHECK(cli_closed(slow, 1000));
	CHECK(cli_closed(idle, 1500));
	close(slow);
	close(idle);
	free(b);
	env_stop(&e);
}

TEST(client_disconnects_mid_request)
{
	struct env e;
	struct resp r;

	CHECK_EQ(env_start(&e), 0);
	for (int i = 0; i < 20; i++) {
		int fd = cli_connect(e.path);

		CHECK(fd >= 0);
		cli_send(fd, i % 2 ? "PUT /boot-source HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"ke"
				   : "GET /vm/config HTTP/1.1\r\n\r\n");
		close(fd);
	}
	REQ("GET", "/", NULL, 200);
	env_stop(&e);
}

/*
 * While a request waits at a busy VMM thread, the API thread keeps reading: requests the
 * client pipelines meanwhile are answered afterwards, in order; clients that hang up
 * while their request is at the VMM thread cost nothing (ASAN build: no leak, no
 * use-after-free when their answers come back).
 */
TEST(requests_sent_while_vmm_busy)
{
	static const char start[] = "PUT /actions HTTP/1.1\r\nContent-Length: 32\r\n\r\n"
				    "{\"action_type\": \"InstanceStart\"}";
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;
	int fd, gone[20], mem = 0;
	char *p;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	REQ("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}", 204);
	/* vcpu_count 7: the fake start fails (after 300 ms), so configuration stays open. */
	REQ("PUT", "/machine-config", "{\"vcpu_count\": 7, \"mem_size_mib\": 64}", 204);
	e.fake.start_delay_ms = 300;
	fd = cli_connect(e.path);
	CHECK(fd >= 0);
	CHECK_EQ(cli_send(fd, start), 0);
	/* Queued behind the start at the VMM thread, then hang up. */
	for (int i = 0; i < 20; i++) {
		char req[160], body[64];

		snprintf(body, sizeof(body), "{\"vcpu_count\": 2, \"mem_size_mib\": %d}", 100 + i);
		snprintf(req, sizeof(req), "PUT /machine-config HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(body), body);
		gone[i] = cli_connect(e.path);
		CHECK(gone[i] >= 0);
		CHECK_EQ(cli_send(gone[i], req), 0);
	}
	usleep(50 * 1000);
	for (int i = 0; i < 20; i++)
		close(gone[i]);
	/* Pipelined in pieces while the start is still running. */
	CHECK_EQ(cli_send(fd, "GET /vm/config HTTP/1.1\r\n"), 0);
	usleep(20 * 1000);
	CHECK_EQ(cli_send(fd, "\r\nGET /version HTTP/1.1\r\n\r\n"), 0);
	CHECK_EQ(cli_read(fd, b, &r, 3000), 0);
	CHECK_EQ(r.status, 400);
	CHECK(strstr(r.body, "fake: cannot start"));
	/* Answered after the start: the abandoned requests ran before it. */
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(strstr(r.body, "\"/k\""));
	p = strstr(r.body, "\"mem_size_mib\":");
	CHECK(p);
	mem = atoi(p + strlen("\"mem_size_mib\":"));
	CHECK(mem >= 100 && mem < 120);
	CHECK(strstr(r.body, "\"vcpu_count\":2"));
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(strstr(r.body, "firecracker_version"));
	close(fd);
	REQ("GET", "/", NULL, 200);
	free(b);
	env_stop(&e);
}

TEST(vmm_timeout_gives_504)
{
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	api_server_set_timeouts(e.srv, 0, 0, 200);
	e.fake.start_delay_ms = 700;
	REQ("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}", 204);
	REQ("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 504);
	CHECK(strstr(r.body, "did not answer"));
	/* GET / is answered by the API thread itself, even while the VMM is busy. */
	usleep(100 * 1000);
	REQ("GET", "/", NULL, 200);
	usleep(800 * 1000);
	REQ("GET", "/", NULL, 200);
	CHECK(strstr(r.body, "Running"));
	free(b);
	env_stop(&e);
}

TEST(socket_file_handling)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vm_config cfg;
	struct event_loop loop;
	struct api_server *s = NULL, *s2 = NULL;
	char path[108];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_api_stale_%d.sock", getpid());
	unlink(path);
	config_init(&cfg);
	CHECK_EQ(ev_loop_init(&loop), 0);
	/* A stale socket file (bound, nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	CHECK_EQ(api_server_start(&s, path, "x", &cfg, &fake_ops, NULL, &loop), 0);
	/* A live one is not. */
	CHECK_EQ(api_server_start(&s2, path, "x", &cfg, &fake_ops, NULL, &loop), -EADDRINUSE);
	api_server_stop(s);
	CHECK(access(path, F_OK) < 0); /* removed on stop */
	/* A regular file is never removed. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_EQ(api_server_start(&s2, path, "x", &cfg, &fake_ops, NULL, &loop), -EEXIST);
	CHECK_EQ(access(path, F_OK), 0);
	unlink(path);
	ev_loop_destroy(&loop);
}

TEST(metrics_and_logger)
{
	char mpath[64], lpath[64], line[8192] = "";
	struct env e;
	struct resp r;
	FILE *f;

	snprintf(mpath, sizeof(mpath), "/tmp/test_api_metrics_%d", getpid());
	snprintf(lpath, sizeof(lpath), "/tmp/test_api_log_%d", getpid());
	unlink(mpath);
	CHECK_EQ(env_start(&e), 0);
	REQ("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 400);
	CHECK(strstr(r.body, "not initialized"));
	REQ("PUT", "/metrics", "{\"metrics_path\": \"/nonexistent/dir/m\"}", 400);
	char body[128];

	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", mpath);
	REQ("PUT", "/metrics", body, 204);
	REQ("PUT", "/metrics", body, 400);
	CHECK(strstr(r.body, "already initialized"));
	REQ("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 204);
	CHECK_EQ(e.fake.flushes, 1);
	f = fopen(mpath, "r");
	CHECK(f);
	CHECK(fgets(line, sizeof(line), f));
	fclose(f);
	CHECK(strstr(line, "\"api_server\""));
	CHECK(strstr(line, "\"metrics_count\":"));
	CHECK(line[strlen(line) - 1] == '\n');
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\", \"level\": \"Debug\"}", lpath);
	REQ("PUT", "/logger", body, 204);
	REQ("PUT", "/logger", "{\"level\": \"Chatty\"}", 400);
	unlink(mpath);
	unlink(lpath);
	env_stop(&e);
}

static int init_fail(void *v)
{
	return -EPERM;
}

static pid_t init_tid;

static int init_record(void *v)
{
	init_tid = gettid();
	return 0;
}

TEST(api_thread_init_hook)
{
	struct vmm_ops ops = fake_ops;
	struct vm_config cfg;
	struct event_loop loop;
	struct api_server *s = NULL;
	char path[108];

	snprintf(path, sizeof(path), "/tmp/test_api_init_%d.sock", getpid());
	unlink(path);
	config_init(&cfg);
	CHECK_EQ(ev_loop_init(&loop), 0);
	ops.api_thread_init = init_fail;
	CHECK_EQ(api_server_start(&s, path, "x", &cfg, &ops, NULL, &loop), -EPERM);
	CHECK(access(path, F_OK) < 0);
	ops.api_thread_init = init_record;
	CHECK_EQ(api_server_start(&s, path, "x", &cfg, &ops, NULL, &loop), 0);
	CHECK(init_tid != 0 && init_tid != gettid());
	api_server_stop(s);
	ev_loop_destroy(&loop);
}

TEST(half_close_is_answered)
{
	struct rbuf *b = calloc(1, sizeof(*b));
	struct env e;
	struct resp r;
	int fd;

	CHECK(b);
	CHECK_EQ(env_start(&e), 0);
	fd = cli_connect(e.path);
	CHECK(fd >= 0);
	CHECK_EQ(cli_send(fd, "GET /vm/config HTTP/1.1\r\n\r\n"), 0);
	CHECK_EQ(shutdown(fd, SHUT_WR), 0);
	CHECK_EQ(cli_read(fd, b, &r, 2000), 0);
	CHECK_EQ(r.status, 200);
	CHECK(strstr(r.body, "machine-config"));
	CHECK(cli_closed(fd, 1000));
	close(fd);
	free(b);
	env_stop(&e);
}
