// SPDX-License-Identifier: Apache-2.0
/*
 * The API thread: a non-blocking epoll server on a Unix socket. Each connection has
 * at most one request in flight at the VMM thread; pipelined requests wait in its input
 * buffer, which bounds memory per client. Every wait has a deadline (idle connection,
 * request trickling in, VMM answer), so a slow or silent client costs a slot and some
 * memory until it is dropped, and never the attention of the thread.
 *
 * The request path is kept to few system calls, because on a busy host each one is a
 * chance to be descheduled: a request costs one recv and one send on the API thread, the
 * queues between the threads are signalled only when they go from empty to non-empty,
 * and their eventfds are edge-triggered, so nobody reads them.
 */
#include "api/api.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/routes.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define CONN_IN_MAX (HTTP_MAX_HEADER_BYTES + HTTP_MAX_BODY)
#define CONN_OUT_MAX (1024 * 1024) /* responses are small; this is a runaway guard */
#define CONN_OUT_SOFT (64 * 1024) /* stop answering pipelined requests above this */

struct api_conn {
	int fd;
	struct api_conn *prev, *next;
	struct http_buf in, out;
	struct api_msg *pending; /* at the VMM thread */
	uint64_t last_io_ns; /* last progress either way */
	uint64_t req_start_ns; /* first byte of the request being received, 0 if none */
	uint32_t events; /* registered epoll mask */
	bool sent_continue;
	bool closing; /* close once out is flushed */
	bool peer_eof;
	bool lingering; /* answered and shut down for writing: dropping input until EOF */
	bool dead; /* closed; freed after the current epoll batch */
	uint64_t linger_start_ns;
	uint64_t linger_bytes;
};

#define LINGER_MAX_BYTES (1024 * 1024)
#define LINGER_MAX_NS (2ULL * 1000 * 1000 * 1000)

struct api_server {
	/* VMM-thread side. */
	struct api_ctx ctx;
	struct event_loop *loop;
	struct ev_source req_src;
	bool req_src_added;

	/* Shared: the two queues. */
	pthread_mutex_t lock;
	struct api_msg *req_head, *req_tail;
	struct api_msg *done_head, *done_tail;
	int req_efd; /* API -> VMM */
	int done_efd; /* VMM -> API */
	int stop_efd;

	/* API thread. */
	int listen_fd;
	int epfd;
	pthread_t thread;
	bool thread_started;
	struct api_conn *conns;
	struct api_conn *graveyard; /* closed during this batch, not freed yet */
	unsigned int nconns;
	char *sock_path;
	int idle_ms, request_ms, vmm_ms;
	/* api_thread_init's result, handed back to api_server_start(). */
	pthread_cond_t init_cond;
	int init_state; /* 1: pending, 0: ok, <0: -errno */
};

/* epoll tags for the non-connection fds. */
static char tag_listen, tag_done, tag_stop;

static void efd_signal(int fd)
{
	uint64_t one = 1;

	/* EAGAIN only when the counter is saturated, and then a wake-up is pending anyway. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("api: eventfd write: %s", strerror(errno));
}

/*
 * Append under the lock; true if the queue was empty. Only that transition needs a
 * wake-up: the consumer takes the whole queue each time it runs, and a message added
 * while it is queued (or running) is taken by the run that wake-up causes, since the
 * consumer empties the queue after its edge-triggered wake-up arrived.
 */
static bool msg_append(struct api_msg **head, struct api_msg **tail, struct api_msg *m)
{
	bool was_empty = !*head;

	m->next = NULL;
	if (*tail)
		(*tail)->next = m;
	else
		*head = m;
	*tail = m;
	return was_empty;
}

/* ---- VMM thread ---- */

static void vmm_on_request(void *opaque, uint32_t events)
{
	struct api_server *s = opaque;
	struct api_msg *list, *last = NULL, *m;
	bool wake;

	/* req_efd is edge-triggered: nothing to read back. */
	pthread_mutex_lock(&s->lock);
	list = s->req_head;
	s->req_head = s->req_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	if (!list)
		return;
	for (m = list; m; m = m->next) {
		api_execute(&s->ctx, m);
		last = m;
	}
	/* Splice the whole batch onto the done queue. */
	pthread_mutex_lock(&s->lock);
	wake = !s->done_head;
	if (s->done_tail)
		s->done_tail->next = list;
	else
		s->done_head = list;
	s->done_tail = last;
	pthread_mutex_unlock(&s->lock);
	if (wake)
		efd_signal(s->done_efd);
}

/* ---- API thread ---- */

static int conn_update_events(struct api_server *s, struct api_conn *c)
{
	uint32_t ev = 0;
	struct epoll_event e;

	/*
	 * Reading on while a request is at the VMM thread saves two epoll_ctl calls per
	 * request; what a pipelining client sends meanwhile waits in c->in, bounded.
	 */
	if (c->lingering || (!c->closing && !c->peer_eof && c->in.len < CONN_IN_MAX))
		ev |= EPOLLIN | EPOLLRDHUP;
	if (c->out.len)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return 0;
	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
		return -errno;
	c->events = ev;
	return 0;
}

/*
 * Events for c may still be in the batch being dispatched, so the memory lives until the
 * batch is done (conn_reap); everything else goes now.
 */
static void conn_close(struct api_server *s, struct api_conn *c)
{
	if (c->dead)
		return;
	/* A request still at the VMM thread is freed when it comes back. */
	if (c->pending)
		c->pending->conn = NULL;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	http_buf_free(&c->in);
	http_buf_free(&c->out);
	c->dead = true;
	c->next = s->graveyard;
	s->graveyard = c;
	s->nconns--;
}

static void conn_reap(struct api_server *s)
{
	while (s->graveyard) {
		struct api_conn *c = s->graveyard;

		s->graveyard = c->next;
		free(c);
	}
}

static void conn_respond(struct api_conn *c, const struct api_response *r, bool close)
{
	const char *body = r->body;

	if (close)
		c->closing = true;
	if (http_format_response(&c->out, r->status ? r->status : 500, body,
				 body ? strlen(body) : 0, close, CONN_OUT_MAX) < 0)
		c->closing = true; /* cannot answer: drop the client */
}

static void conn_fault(struct api_conn *c, int status, const char *msg)
{
	struct api_response r = { 0 };

	api_fault(&r, status, "%s", msg);
	conn_respond(c, &r, true);
	free(r.body);
}

static void conn_submit(struct api_server *s, struct api_conn *c, struct api_msg *m)
{
	uint64_t now = util_now_ns();
	bool wake;

	m->conn = c;
	m->deadline_ns = now + (uint64_t)__atomic_load_n(&s->vmm_ms, __ATOMIC_RELAXED) * 1000000;
	c->pending = m;
	pthread_mutex_lock(&s->lock);
	wake = msg_append(&s->req_head, &s->req_tail, m);
	pthread_mutex_unlock(&s->lock);
	if (wake)
		efd_signal(s->req_efd);
}

/* Serve the complete requests in c->in, one at a time. */
static void conn_process(struct api_server *s, struct api_conn *c)
{
	while (!c->pending && !c->closing && c->out.len < CONN_OUT_SOFT && c->in.len) {
		struct http_request req;
		struct api_response resp;
		enum api_endpoint ep;
		struct api_msg *m;
		uint64_t t0;
		long r;

		r = http_parse_request(c->in.p, c->in.len, &req);
		if (r < 0) {
			char msg[64];

			snprintf(msg, sizeof(msg), "malformed or refused HTTP request (%s)",
				 http_reason((int)-r));
			conn_fault(c, (int)-r, msg);
			api_metrics_record(EP_UNKNOWN, (int)-r, 0);
			c->in.len = 0;
			break;
		}
		if (r == 0) {
			if (req.header_len && req.expect_continue && !c->sent_continue) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

				if (http_buf_append(&c->out, cont, sizeof(cont) - 1, CONN_OUT_MAX))
					c->closing = true;
				c->sent_continue = true;
			}
			if (!c->req_start_ns)
				c->req_start_ns = util_now_ns();
			break;
		}
		t0 = util_now_ns();
		if (api_route(&s->ctx, &req, &m, &resp, &ep)) {
			m->start_ns = t0;
			m->close_after = !req.keep_alive;
			conn_submit(s, c, m);
		} else {
			conn_respond(c, &resp, !req.keep_alive);
			api_metrics_record(ep, resp.status, util_now_ns() - t0);
			free(resp.body);
		}
		http_buf_consume(&c->in, (size_t)r);
		c->sent_continue = false;
		c->req_start_ns = c->in.len ? util_now_ns() : 0;
	}
}

/* Write what we can. false: the connection was closed. */
static bool conn_flush(struct api_server *s, struct api_conn *c)
{
	while (c->out.len) {
		ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_close(s, c);
			return false;
		}
		http_buf_consume(&c->out, (size_t)w);
		c->last_io_ns = util_now_ns();
	}
	if (!c->out.len && !c->pending && (c->closing || (c->peer_eof && !c->in.len))) {
		/*
		 * Lingering close: closing a Unix socket with unread data resets the peer,
		 * and a client still sending (an oversized body) would lose the answer it is
		 * owed. Stop writing, then read and drop its input, bounded in bytes and time.
		 */
		if (c->closing && !c->peer_eof && !c->lingering) {
			shutdown(c->fd, SHUT_WR);
			c->lingering = true;
			c->linger_start_ns = util_now_ns();
		} else if (!c->lingering || c->peer_eof) {
			conn_close(s, c);
			return false;
		}
	}
	if (conn_update_events(s, c) < 0) {
		conn_close(s, c);
		return false;
	}
	return true;
}

static void conn_read(struct api_server *s, struct api_conn *c)
{
	char buf[16384];

	if (c->lingering) {
		for (int i = 0; i < 8; i++) {
			ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0 || errno != EAGAIN)
					c->peer_eof = true;
				break;
			}
			c->linger_bytes += (uint64_t)n;
			if (c->linger_bytes > LINGER_MAX_BYTES) {
				c->peer_eof = true; /* enough: close (conn_flush) */
				break;
			}
		}
		return;
	}

	/* Bounded: at most one buffer's worth per wake-up, so one client cannot hog us. */
	for (int i = 0; i < 8 && c->in.len < CONN_IN_MAX; i++) {
		size_t room = MIN(sizeof(buf), CONN_IN_MAX - c->in.len);
		ssize_t n = recv(c->fd, buf, room, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->closing = true, c->in.len = 0;
			break;
		}
		if (n == 0) {
			/* Half-close: answer what is complete, drop a partial request. */
			c->peer_eof = true;
			break;
		}
		if (http_buf_append(&c->in, buf, (size_t)n, CONN_IN_MAX) < 0) {
			c->closing = true;
			break;
		}
		c->last_io_ns = util_now_ns();
		/* Short read: the socket is very likely empty; epoll says if not. */
		if ((size_t)n < room)
			break;
	}
	conn_process(s, c);
	if (c->peer_eof && !c->pending)
		c->closing = true;
}

static void accept_all(struct api_server *s)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event e;
		struct api_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("api: accept: %s", strerror(errno));
			return;
		}
		if (s->nconns >= API_MAX_CONNS) {
			static const char busy[] =
				"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				"Connection: close\r\n\r\n";

			/* Best effort: a full socket buffer just loses the courtesy. */
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->last_io_ns = util_now_ns();
		c->events = EPOLLIN | EPOLLRDHUP;
		e.events = c->events;
		e.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
	}
}

static void handle_done(struct api_server *s)
{
	struct api_msg *list, *m, *next;

	/* done_efd is edge-triggered: nothing to read back. */
	pthread_mutex_lock(&s->lock);
	list = s->done_head;
	s->done_head = s->done_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	for (m = list; m; m = next) {
		struct api_conn *c = m->conn;

		next = m->next;
		api_metrics_record(m->ep, m->resp.status, util_now_ns() - m->start_ns);
		if (c && !c->dead) {
			c->pending = NULL;
			conn_respond(c, &m->resp, m->close_after);
			conn_process(s, c);
			if (c->peer_eof && !c->pending)
				c->closing = true;
			conn_flush(s, c);
		}
		api_msg_free(m);
	}
}

static void check_timeouts(struct api_server *s)
{
	uint64_t now = util_now_ns();
	uint64_t idle_ns = (uint64_t)__atomic_load_n(&s->idle_ms, __ATOMIC_RELAXED) * 1000000;
	uint64_t req_ns = (uint64_t)__atomic_load_n(&s->request_ms, __ATOMIC_RELAXED) * 1000000;
	struct api_conn *c, *next;

	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->pending && now > c->pending->deadline_ns) {
			struct api_response r = { 0 };

			/* The VMM thread still owns the message; it is freed on return. */
			c->pending->conn = NULL;
			c->pending = NULL;
			api_fault(&r, 504, "the VMM did not answer in time; outcome unknown");
			conn_respond(c, &r, true);
			free(r.body);
			conn_flush(s, c);
			continue;
		}
		if (c->req_start_ns && !c->pending &&
		    now - c->req_start_ns > req_ns) {
			c->in.len = 0;
			c->req_start_ns = 0;
			conn_fault(c, 408, "request not received in time");
			conn_flush(s, c);
			continue;
		}
		if (c->lingering && now - c->linger_start_ns > LINGER_MAX_NS) {
			conn_close(s, c);
			continue;
		}
		/* Silent client, or one that stopped reading its answers. */
		if (!c->pending && now - c->last_io_ns > idle_ns)
			conn_close(s, c);
	}
}

static void *api_thread(void *opaque)
{
	struct api_server *s = opaque;
	uint64_t last_check = 0;

	int r = 0;

	log_set_thread_name("api");
	if (s->ctx.ops->api_thread_init)
		r = s->ctx.ops->api_thread_init(s->ctx.vmm);
	pthread_mutex_lock(&s->lock);
	s->init_state = r < 0 ? r : 0;
	pthread_cond_signal(&s->init_cond);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return NULL;
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(s->epfd, evs, 64, 100);
		uint64_t now;

		if (n < 0 && errno != EINTR) {
			log_error("api: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			struct api_conn *c = p;

			if (p == &tag_stop)
				goto out;
			if (p == &tag_listen) {
				accept_all(s);
				continue;
			}
			if (p == &tag_done) {
				handle_done(s);
				continue;
			}
			/* Closed earlier in this batch. */
			if (c->dead)
				continue;
			/*
			 * Both directions gone: nobody can read an answer. (A half-close
			 * shows as EPOLLRDHUP and is answered.) Level-triggered HUP would
			 * otherwise spin while a request is at the VMM thread.
			 */
			if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
				conn_close(s, c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
				conn_read(s, c);
			conn_flush(s, c);
		}
		now = util_now_ns();
		if (now - last_check > 50 * 1000000ULL) {
			check_timeouts(s);
			last_check = now;
		}
		conn_reap(s);
	}
out:
	while (s->conns)
		conn_close(s, s->conns);
	conn_reap(s);
	return NULL;
}

/* ---- set-up ---- */

static int bind_socket(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cleanup_close int probe = -1;

		if (errno != EADDRINUSE)
			return -errno;
		/* Only ever remove a socket file, and only one nobody listens on. */
		if (lstat(path, &st) < 0)
			return -errno;
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return -EADDRINUSE;
		if (errno != ECONNREFUSED)
			return -errno;
		if (unlink(path) < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -errno;
	}
	/* Whoever can connect controls the VM: owner only. */
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		int e = -errno;

		unlink(path);
		return e;
	}
	*out = util_steal_fd(&fd);
	return 0;
}

static int epoll_tag(int epfd, int fd, void *tag, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void server_free(struct api_server *s)
{
	struct api_msg *m, *next;

	if (s->req_src_added)
		ev_del(s->loop, &s->req_src);
	for (m = s->req_head; m; m = next) {
		next = m->next;
		api_msg_free(m);
	}
	for (m = s->done_head; m; m = next) {
		next = m->next;
		api_msg_free(m);
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->sock_path);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->req_efd >= 0)
		close(s->req_efd);
	if (s->done_efd >= 0)
		close(s->done_efd);
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->init_cond);
	free(s->sock_path);
	free(s);
}

int api_server_start(struct api_server **out, const char *sock_path, const char *instance_id,
		     struct vm_config *cfg, const struct vmm_ops *ops, void *vmm,
		     struct event_loop *loop)
{
	struct api_server *s;
	sigset_t all, old;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->init_cond, NULL);
	s->init_state = 1;
	s->listen_fd = s->epfd = s->req_efd = s->done_efd = s->stop_efd = -1;
	s->ctx.cfg = cfg;
	s->ctx.ops = ops;
	s->ctx.vmm = vmm;
	snprintf(s->ctx.instance_id, sizeof(s->ctx.instance_id), "%s",
		 instance_id ? instance_id : "anonymous-instance");
	s->loop = loop;
	s->idle_ms = API_IDLE_TIMEOUT_MS;
	s->request_ms = API_REQUEST_TIMEOUT_MS;
	s->vmm_ms = API_VMM_TIMEOUT_MS;
	s->sock_path = strdup(sock_path);
	if (!s->sock_path) {
		r = -ENOMEM;
		goto fail;
	}
	s->req_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->done_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->req_efd < 0 || s->done_efd < 0 || s->stop_efd < 0 || s->epfd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = bind_socket(sock_path, &s->listen_fd)) < 0)
		goto fail;
	/*
	 * Each eventfd write wakes an edge-triggered waiter, even while the counter is
	 * non-zero, so the queue eventfds never need reading (the counter cannot reach its
	 * 2^64 - 2 limit: one write per empty -> non-empty transition).
	 */
	if ((r = epoll_tag(s->epfd, s->listen_fd, &tag_listen, EPOLLIN)) < 0 ||
	    (r = epoll_tag(s->epfd, s->done_efd, &tag_done, EPOLLIN | EPOLLET)) < 0 ||
	    (r = epoll_tag(s->epfd, s->stop_efd, &tag_stop, EPOLLIN)) < 0)
		goto fail;
	s->req_src = (struct ev_source){ .fd = s->req_efd, .fn = vmm_on_request, .opaque = s };
	if ((r = ev_add(loop, &s->req_src, EPOLLIN | EPOLLET)) < 0)
		goto fail;
	s->req_src_added = true;
	api_metrics_register();
	/* The API thread takes no signals: they belong to the VMM and vCPU threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&s->thread, NULL, api_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	s->thread_started = true;
	pthread_mutex_lock(&s->lock);
	while (s->init_state == 1)
		pthread_cond_wait(&s->init_cond, &s->lock);
	r = s->init_state;
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		pthread_join(s->thread, NULL);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	server_free(s);
	return r;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		efd_signal(s->stop_efd);
		pthread_join(s->thread, NULL);
	}
	server_free(s);
}

enum api_vm_state api_server_state(const struct api_server *s)
{
	return (enum api_vm_state)__atomic_load_n(&s->ctx.state, __ATOMIC_ACQUIRE);
}

void api_server_set_state(struct api_server *s, enum api_vm_state st)
{
	__atomic_store_n(&s->ctx.state, (int)st, __ATOMIC_RELEASE);
}

void api_server_set_timeouts(struct api_server *s, int idle_ms, int request_ms, int vmm_ms)
{
	/* Read by the API thread at its next check. */
	if (idle_ms > 0)
		__atomic_store_n(&s->idle_ms, idle_ms, __ATOMIC_RELAXED);
	if (request_ms > 0)
		__atomic_store_n(&s->request_ms, request_ms, __ATOMIC_RELAXED);
	if (vmm_ms > 0)
		__atomic_store_n(&s->vmm_ms, vmm_ms, __ATOMIC_RELAXED);
}
