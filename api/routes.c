// SPDX-License-Identifier: Apache-2.0
/*
 * Request routing and the handlers. Routing and body validation run on the API thread;
 * api_execute() runs on the VMM thread and is the only code that touches the vm_config
 * or calls vmm_ops. Phase rules (pre-boot only, post-boot only) are checked there, where
 * the state cannot change underneath.
 */
#include "api/routes.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/util.h"

void api_fault(struct api_response *resp, int status, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX + 64];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp->status = status;
	free(resp->body);
	o = json_pack("{s:s}", "fault_message", msg);
	/* A message built from hostile input may not be valid UTF-8: fall back. */
	if (!o)
		o = json_pack("{s:s}", "fault_message", "invalid request");
	resp->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
}

static void ok_json(struct api_response *resp, char *body)
{
	if (!body) {
		api_fault(resp, 500, "out of memory");
		return;
	}
	free(resp->body);
	resp->status = 200;
	resp->body = body;
}

void api_msg_free(struct api_msg *m)
{
	if (!m)
		return;
	switch (m->op) {
	case OP_PUT_BOOT_SOURCE:
		config_boot_source_free(&m->u.boot);
		break;
	case OP_PUT_DRIVE:
		config_drive_free(&m->u.drive);
		break;
	case OP_PATCH_DRIVE:
		config_drive_patch_free(&m->u.drive_patch);
		break;
	case OP_PUT_NET:
		config_net_free(&m->u.net);
		break;
	case OP_PUT_VSOCK:
		config_vsock_free(&m->u.vsock);
		break;
	case OP_PUT_LOGGER:
		config_logger_free(&m->u.logger);
		break;
	case OP_PUT_METRICS:
		config_metrics_free(&m->u.metrics);
		break;
	case OP_PUT_SERIAL:
		config_serial_free(&m->u.serial);
		break;
	default:
		break;
	}
	free(m->resp.body);
	free(m);
}

/* ---- routing (API thread) ---- */

static const char *const unsupported_prefixes[] = {
	"/balloon", "/mmds", "/snapshot", "/cpu-config", "/pmem", "/hotplug",
};

/* "/drives/<id>": *id points at <id> (maybe empty); false if the prefix does not match. */
static bool match_id_path(const char *path, const char *prefix, const char **id)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n))
		return false;
	if (path[n] == '\0') {
		*id = path + n;
		return true;
	}
	if (path[n] != '/')
		return false;
	*id = path + n + 1;
	return true;
}

static struct api_msg *new_msg(enum api_op op, enum api_endpoint ep)
{
	struct api_msg *m = calloc(1, sizeof(*m));

	if (m) {
		m->op = op;
		m->ep = ep;
	}
	return m;
}

static int load_body(const struct http_request *req, json_t **j, struct api_response *resp)
{
	struct config_err err = { "" };

	if (req->body_len == 0) {
		api_fault(resp, 400, "%s %s: a JSON request body is required", req->method_name,
			  req->path);
		return -EINVAL;
	}
	if (config_json_load(req->body, req->body_len, j, &err) < 0) {
		api_fault(resp, 400, "%s", err.msg);
		return -EINVAL;
	}
	return 0;
}

static int method_not_allowed(const struct http_request *req, struct api_response *resp,
			      const char *allowed)
{
	api_fault(resp, 405, "%s %s: method not allowed (allowed: %s)", req->method_name, req->path,
		  allowed);
	return 0;
}

static int route_actions(json_t *j, struct api_msg **out, struct api_response *resp)
{
	static const char *const names[] = { "InstanceStart", "SendCtrlAltDel", "FlushMetrics" };
	static const enum api_op ops[] = { OP_INSTANCE_START, OP_SEND_CTRL_ALT_DEL,
					   OP_FLUSH_METRICS };
	const char *key;
	json_t *v, *t;

	if (!json_is_object(j)) {
		api_fault(resp, 400, "actions: must be a JSON object");
		return 0;
	}
	json_object_foreach(j, key, v) {
		if (strcmp(key, "action_type")) {
			api_fault(resp, 400, "actions.%.64s: unknown field", key);
			return 0;
		}
	}
	t = json_object_get(j, "action_type");
	if (!t) {
		api_fault(resp, 400, "actions.action_type: missing required field");
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (json_is_string(t) && !strcmp(json_string_value(t), names[i])) {
			*out = new_msg(ops[i], EP_ACTIONS);
			if (!*out) {
				api_fault(resp, 500, "out of memory");
				return 0;
			}
			return 1;
		}
	}
	api_fault(resp, 400,
		  "actions.action_type: must be one of \"InstanceStart\", \"SendCtrlAltDel\", "
		  "\"FlushMetrics\"");
	return 0;
}

static int route_vm(json_t *j, struct api_msg **out, struct api_response *resp)
{
	const char *key, *s;
	json_t *v, *st;

	if (!json_is_object(j)) {
		api_fault(resp, 400, "vm: must be a JSON object");
		return 0;
	}
	json_object_foreach(j, key, v) {
		if (strcmp(key, "state")) {
			api_fault(resp, 400, "vm.%.64s: unknown field", key);
			return 0;
		}
	}
	st = json_object_get(j, "state");
	if (!st) {
		api_fault(resp, 400, "vm.state: missing required field");
		return 0;
	}
	s = json_is_string(st) ? json_string_value(st) : "";
	if (strcmp(s, "Paused") && strcmp(s, "Resumed")) {
		api_fault(resp, 400, "vm.state: must be one of \"Paused\", \"Resumed\"");
		return 0;
	}
	*out = new_msg(!strcmp(s, "Paused") ? OP_PAUSE : OP_RESUME, EP_VM);
	if (!*out) {
		api_fault(resp, 500, "out of memory");
		return 0;
	}
	return 1;
}

/* Parse a body for a resource; the message takes the parsed struct. */
static int route_body(const struct http_request *req, enum api_op op, enum api_endpoint ep,
		      const char *path_id, struct api_msg **out, struct api_response *resp)
{
	struct config_err err = { "" };
	struct api_msg *m;
	json_t *j = NULL;
	const char *body_id = NULL, *id_field = NULL;
	int r;

	if (load_body(req, &j, resp) < 0)
		return 0;
	if (op == OP_INSTANCE_START) { /* /actions: several ops behind one endpoint */
		r = route_actions(j, out, resp);
		json_decref(j);
		return r;
	}
	if (op == OP_PAUSE) {
		r = route_vm(j, out, resp);
		json_decref(j);
		return r;
	}
	m = new_msg(op, ep);
	if (!m) {
		json_decref(j);
		api_fault(resp, 500, "out of memory");
		return 0;
	}
	switch (op) {
	case OP_PUT_BOOT_SOURCE:
		r = config_boot_source_parse(j, "boot-source", &m->u.boot, &err);
		break;
	case OP_PUT_MACHINE:
	case OP_PATCH_MACHINE:
		r = config_machine_parse(j, "machine-config", op == OP_PATCH_MACHINE,
					 &m->u.machine.m, &m->u.machine.fields, &err);
		break;
	case OP_PUT_DRIVE:
		r = config_drive_parse(j, "drive", &m->u.drive, &err);
		body_id = m->u.drive.drive_id;
		id_field = "drive_id";
		break;
	case OP_PATCH_DRIVE:
		r = config_drive_patch_parse(j, "drive", &m->u.drive_patch, &err);
		body_id = m->u.drive_patch.drive_id;
		id_field = "drive_id";
		break;
	case OP_PUT_NET:
		r = config_net_parse(j, "network-interface", &m->u.net, &err);
		body_id = m->u.net.iface_id;
		id_field = "iface_id";
		break;
	case OP_PATCH_NET:
		r = config_net_patch_parse(j, "network-interface", &m->u.net_patch, &err);
		body_id = m->u.net_patch.iface_id;
		id_field = "iface_id";
		break;
	case OP_PUT_VSOCK:
		r = config_vsock_parse(j, "vsock", &m->u.vsock, &err);
		break;
	case OP_PUT_ENTROPY:
		r = config_entropy_parse(j, "entropy", &m->u.entropy, &err);
		break;
	case OP_PUT_LOGGER:
		r = config_logger_parse(j, "logger", &m->u.logger, &err);
		break;
	case OP_PUT_METRICS:
		r = config_metrics_parse(j, "metrics", &m->u.metrics, &err);
		break;
	case OP_PUT_SERIAL:
		r = config_serial_parse(j, "serial", &m->u.serial, &err);
		break;
	default:
		r = -EINVAL;
		snprintf(err.msg, sizeof(err.msg), "internal: unexpected operation");
		break;
	}
	json_decref(j);
	if (r < 0) {
		/* The parsers leave their outputs zeroed on error: nothing to free inside. */
		memset(&m->u, 0, sizeof(m->u));
		api_msg_free(m);
		api_fault(resp, 400, "%s", err.msg);
		return 0;
	}
	if (path_id && strcmp(path_id, body_id)) {
		api_fault(resp, 400, "%s \"%s\" in the body does not match \"%s\" in the path",
			  id_field, body_id, path_id);
		api_msg_free(m);
		return 0;
	}
	*out = m;
	return 1;
}

static int route_id(const struct http_request *req, const char *id, enum api_endpoint ep,
		    enum api_op put, enum api_op patch, struct api_msg **msg,
		    struct api_response *resp)
{
	const char *what = ep == EP_DRIVES ? "drive_id" : "iface_id";

	if (req->method != HTTP_PUT && req->method != HTTP_PATCH)
		return method_not_allowed(req, resp, "PUT, PATCH");
	if (!*id) {
		api_fault(resp, 400, "%s %s: missing %s in the path", req->method_name, req->path,
			  what);
		return 0;
	}
	if (!config_id_valid(id)) {
		api_fault(resp, 400, "%s in the path: must be 1 to %d characters of [A-Za-z0-9_]",
			  what, CONFIG_ID_MAX);
		return 0;
	}
	return route_body(req, req->method == HTTP_PUT ? put : patch, ep, id, msg, resp);
}

static char *instance_info(const struct api_ctx *ctx)
{
	static const char *const states[] = { "Not started", "Running", "Paused" };
	int st = __atomic_load_n(&ctx->state, __ATOMIC_ACQUIRE);
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "app_name", API_APP_NAME, "id",
			      ctx->instance_id, "state", states[st >= 0 && st <= 2 ? st : 0],
			      "vmm_version", API_VMM_VERSION);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

int api_route(const struct api_ctx *ctx, const struct http_request *req, struct api_msg **msg,
	      struct api_response *resp, enum api_endpoint *ep)
{
	const char *p = req->path, *id;
	bool put = req->method == HTTP_PUT, get = req->method == HTTP_GET;

	*msg = NULL;
	resp->status = 0;
	resp->body = NULL;
	*ep = EP_UNKNOWN;

	for (size_t i = 0; i < ARRAY_SIZE(unsupported_prefixes); i++) {
		size_t n = strlen(unsupported_prefixes[i]);

		if (!strncmp(p, unsupported_prefixes[i], n) && (p[n] == '\0' || p[n] == '/')) {
			*ep = EP_UNSUPPORTED;
			api_fault(resp, 400, "%s %s: %s is not supported by this VMM",
				  req->method_name, p, unsupported_prefixes[i]);
			return 0;
		}
	}
	if (!strcmp(p, "/")) {
		*ep = EP_ROOT;
		if (!get)
			return method_not_allowed(req, resp, "GET");
		ok_json(resp, instance_info(ctx));
		return 0;
	}
	if (!strcmp(p, "/version")) {
		json_t *o;

		*ep = EP_VERSION;
		if (!get)
			return method_not_allowed(req, resp, "GET");
		o = json_pack("{s:s}", "firecracker_version", API_VMM_VERSION);
		ok_json(resp, o ? json_dumps(o, JSON_COMPACT) : NULL);
		json_decref(o);
		return 0;
	}
	if (!strcmp(p, "/vm/config")) {
		*ep = EP_VM_CONFIG;
		if (!get)
			return method_not_allowed(req, resp, "GET");
		*msg = new_msg(OP_GET_VM_CONFIG, *ep);
		goto queued;
	}
	if (!strcmp(p, "/machine-config")) {
		*ep = EP_MACHINE_CONFIG;
		if (get) {
			*msg = new_msg(OP_GET_MACHINE, *ep);
			goto queued;
		}
		if (put || req->method == HTTP_PATCH)
			return route_body(req, put ? OP_PUT_MACHINE : OP_PATCH_MACHINE, *ep, NULL,
					  msg, resp);
		return method_not_allowed(req, resp, "GET, PUT, PATCH");
	}
	if (match_id_path(p, "/drives", &id)) {
		*ep = EP_DRIVES;
		return route_id(req, id, *ep, OP_PUT_DRIVE, OP_PATCH_DRIVE, msg, resp);
	}
	if (match_id_path(p, "/network-interfaces", &id)) {
		*ep = EP_NETWORK_INTERFACES;
		return route_id(req, id, *ep, OP_PUT_NET, OP_PATCH_NET, msg, resp);
	}
	{
		static const struct {
			const char *path;
			enum api_endpoint ep;
			enum api_op op;
			enum http_method method;
		} simple[] = {
			{ "/boot-source", EP_BOOT_SOURCE, OP_PUT_BOOT_SOURCE, HTTP_PUT },
			{ "/vsock", EP_VSOCK, OP_PUT_VSOCK, HTTP_PUT },
			{ "/entropy", EP_ENTROPY, OP_PUT_ENTROPY, HTTP_PUT },
			{ "/logger", EP_LOGGER, OP_PUT_LOGGER, HTTP_PUT },
			{ "/metrics", EP_METRICS, OP_PUT_METRICS, HTTP_PUT },
			{ "/serial", EP_SERIAL, OP_PUT_SERIAL, HTTP_PUT },
			/* The two below dispatch on the body. */
			{ "/actions", EP_ACTIONS, OP_INSTANCE_START, HTTP_PUT },
			{ "/vm", EP_VM, OP_PAUSE, HTTP_PATCH },
		};

		for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
			if (strcmp(p, simple[i].path))
				continue;
			*ep = simple[i].ep;
			if (req->method != simple[i].method)
				return method_not_allowed(req, resp,
							  simple[i].method == HTTP_PUT ? "PUT"
										       : "PATCH");
			return route_body(req, simple[i].op, *ep, NULL, msg, resp);
		}
	}
	api_fault(resp, 404, "%s %s: no such resource", req->method_name, p);
	return 0;
queued:
	if (!*msg) {
		api_fault(resp, 500, "out of memory");
		return 0;
	}
	return 1;
}

/* ---- execution (VMM thread) ---- */

static int get_state(struct api_ctx *ctx)
{
	return __atomic_load_n(&ctx->state, __ATOMIC_ACQUIRE);
}

static void set_state(struct api_ctx *ctx, int st)
{
	__atomic_store_n(&ctx->state, st, __ATOMIC_RELEASE);
}

static bool require_preboot(struct api_ctx *ctx, struct api_msg *m, const char *what)
{
	if (get_state(ctx) == API_VM_NOT_STARTED)
		return true;
	api_fault(&m->resp, 400, "%s: not allowed after the microVM has started", what);
	return false;
}

static bool require_postboot(struct api_ctx *ctx, struct api_msg *m, const char *what)
{
	if (get_state(ctx) != API_VM_NOT_STARTED)
		return true;
	api_fault(&m->resp, 400, "%s: only allowed after the microVM has started", what);
	return false;
}

static void done(struct api_msg *m, int r, const struct config_err *err)
{
	if (r < 0)
		api_fault(&m->resp, 400, "%s", err->msg[0] ? err->msg : strerror(-r));
	else
		m->resp.status = 204;
}

/* An op the VMM core did not provide. */
static int no_op(struct config_err *err, const char *name)
{
	snprintf(err->msg, sizeof(err->msg), "%s: not supported by this VMM", name);
	return -EOPNOTSUPP;
}

static void exec_patch_drive(struct api_ctx *ctx, struct api_msg *m)
{
	struct drive_patch *p = &m->u.drive_patch;
	struct config_err err = { "" };
	struct drive_cfg *d;
	int r;

	if (!require_postboot(ctx, m, "PATCH /drives"))
		return;
	d = config_find_drive(ctx->cfg, p->drive_id);
	if (!d) {
		api_fault(&m->resp, 400, "drive \"%s\": no such drive", p->drive_id);
		return;
	}
	if (!p->path_on_host && !p->has_rate_limiter) {
		m->resp.status = 204; /* nothing to change */
		return;
	}
	r = ctx->ops->update_drive
		    ? ctx->ops->update_drive(ctx->vmm, p->drive_id, p->path_on_host,
					     p->has_rate_limiter ? &p->rate_limiter : NULL, &err)
		    : no_op(&err, "PATCH /drives");
	if (r == 0) {
		/* Keep GET /vm/config truthful. */
		if (p->path_on_host) {
			free(d->path_on_host);
			d->path_on_host = p->path_on_host;
			p->path_on_host = NULL;
		}
		if (p->has_rate_limiter)
			d->rate_limiter = p->rate_limiter;
	}
	done(m, r, &err);
}

static void exec_patch_net(struct api_ctx *ctx, struct api_msg *m)
{
	struct net_patch *p = &m->u.net_patch;
	struct config_err err = { "" };
	struct net_cfg *n;
	int r;

	if (!require_postboot(ctx, m, "PATCH /network-interfaces"))
		return;
	n = config_find_net(ctx->cfg, p->iface_id);
	if (!n) {
		api_fault(&m->resp, 400, "network interface \"%s\": no such interface",
			  p->iface_id);
		return;
	}
	if (!p->has_rx && !p->has_tx) {
		m->resp.status = 204;
		return;
	}
	r = ctx->ops->update_net ? ctx->ops->update_net(ctx->vmm, p->iface_id,
							 p->has_rx ? &p->rx : NULL,
							 p->has_tx ? &p->tx : NULL, &err)
				 : no_op(&err, "PATCH /network-interfaces");
	if (r == 0) {
		if (p->has_rx)
			n->rx_rate_limiter = p->rx;
		if (p->has_tx)
			n->tx_rate_limiter = p->tx;
	}
	done(m, r, &err);
}

static void exec_logger(struct api_ctx *ctx, struct api_msg *m)
{
	struct logger_cfg *l = &m->u.logger;
	int r;

	if (!require_preboot(ctx, m, "PUT /logger"))
		return;
	if (l->log_path && (r = (ctx->open_log ? ctx->open_log : log_set_path)(l->log_path)) < 0) {
		api_fault(&m->resp, 400, "logger.log_path: cannot open \"%s\": %s", l->log_path,
			  strerror(-r));
		return;
	}
	log_set_level((enum log_level)l->level);
	log_set_show(l->show_level, l->show_log_origin);
	config_logger_free(&ctx->cfg->logger);
	ctx->cfg->logger = *l;
	l->log_path = NULL;
	m->resp.status = 204;
}

static void exec_metrics(struct api_ctx *ctx, struct api_msg *m)
{
	struct metrics_cfg *mc = &m->u.metrics;
	int r;

	if (!require_preboot(ctx, m, "PUT /metrics"))
		return;
	r = (ctx->open_metrics ? ctx->open_metrics : metrics_set_path)(mc->metrics_path);
	if (r == -EBUSY) {
		api_fault(&m->resp, 400, "metrics: the metrics system is already initialized");
		return;
	}
	if (r < 0) {
		api_fault(&m->resp, 400, "metrics.metrics_path: cannot open \"%s\": %s",
			  mc->metrics_path, strerror(-r));
		return;
	}
	metrics_set_id(mc->emit_id ? ctx->instance_id : NULL);
	config_metrics_free(&ctx->cfg->metrics);
	ctx->cfg->metrics = *mc;
	mc->metrics_path = NULL;
	m->resp.status = 204;
}

static void exec_action(struct api_ctx *ctx, struct api_msg *m)
{
	struct config_err err = { "" };
	int st = get_state(ctx), r;

	switch (m->op) {
	case OP_INSTANCE_START:
		if (st != API_VM_NOT_STARTED) {
			api_fault(&m->resp, 400, "InstanceStart: the microVM is already started");
			return;
		}
		if (!ctx->cfg->has_boot_source) {
			api_fault(&m->resp, 400,
				  "InstanceStart: boot-source is not configured (PUT /boot-source)");
			return;
		}
		r = ctx->ops->instance_start ? ctx->ops->instance_start(ctx->vmm, ctx->cfg, &err)
					     : no_op(&err, "InstanceStart");
		if (r == 0)
			set_state(ctx, API_VM_RUNNING);
		break;
	case OP_SEND_CTRL_ALT_DEL:
		if (!require_postboot(ctx, m, "SendCtrlAltDel"))
			return;
		r = ctx->ops->send_ctrl_alt_del ? ctx->ops->send_ctrl_alt_del(ctx->vmm, &err)
						: no_op(&err, "SendCtrlAltDel");
		break;
	case OP_FLUSH_METRICS:
		if (!metrics_configured()) {
			api_fault(&m->resp, 400,
				  "FlushMetrics: the metrics system is not initialized (PUT /metrics)");
			return;
		}
		r = ctx->ops->flush_metrics ? ctx->ops->flush_metrics(ctx->vmm, &err) : 0;
		if (r == 0)
			r = metrics_flush();
		break;
	case OP_PAUSE:
		if (st != API_VM_RUNNING) {
			api_fault(&m->resp, 400, "vm.state Paused: the microVM is %s",
				  st == API_VM_PAUSED ? "already paused" : "not started");
			return;
		}
		r = ctx->ops->pause ? ctx->ops->pause(ctx->vmm, &err) : no_op(&err, "Pause");
		if (r == 0)
			set_state(ctx, API_VM_PAUSED);
		break;
	case OP_RESUME:
		if (st != API_VM_PAUSED) {
			api_fault(&m->resp, 400, "vm.state Resumed: the microVM is %s",
				  st == API_VM_RUNNING ? "not paused" : "not started");
			return;
		}
		r = ctx->ops->resume ? ctx->ops->resume(ctx->vmm, &err) : no_op(&err, "Resume");
		if (r == 0)
			set_state(ctx, API_VM_RUNNING);
		break;
	default:
		return;
	}
	done(m, r, &err);
}

void api_execute(struct api_ctx *ctx, struct api_msg *m)
{
	struct config_err err = { "" };
	struct vm_config *cfg = ctx->cfg;
	int r;

	switch (m->op) {
	case OP_GET_VM_CONFIG:
		ok_json(&m->resp, config_to_json(cfg));
		return;
	case OP_GET_MACHINE:
		ok_json(&m->resp, config_machine_to_json(&cfg->machine));
		return;
	case OP_PUT_BOOT_SOURCE:
		if (!require_preboot(ctx, m, "PUT /boot-source"))
			return;
		config_boot_source_apply(cfg, &m->u.boot);
		m->resp.status = 204;
		return;
	case OP_PUT_MACHINE:
	case OP_PATCH_MACHINE:
		if (!require_preboot(ctx, m,
				     m->op == OP_PUT_MACHINE ? "PUT /machine-config"
							     : "PATCH /machine-config"))
			return;
		r = config_machine_apply(cfg, &m->u.machine.m, m->u.machine.fields,
					 m->op == OP_PUT_MACHINE, "machine-config", &err);
		done(m, r, &err);
		return;
	case OP_PUT_DRIVE:
		if (!require_preboot(ctx, m, "PUT /drives"))
			return;
		r = config_drive_apply(cfg, &m->u.drive, "drive", &err);
		done(m, r, &err);
		return;
	case OP_PATCH_DRIVE:
		exec_patch_drive(ctx, m);
		return;
	case OP_PUT_NET:
		if (!require_preboot(ctx, m, "PUT /network-interfaces"))
			return;
		r = config_net_apply(cfg, &m->u.net, "network-interface", &err);
		done(m, r, &err);
		return;
	case OP_PATCH_NET:
		exec_patch_net(ctx, m);
		return;
	case OP_PUT_VSOCK:
		if (!require_preboot(ctx, m, "PUT /vsock"))
			return;
		config_vsock_free(&cfg->vsock);
		cfg->vsock = m->u.vsock;
		m->u.vsock.uds_path = NULL;
		m->resp.status = 204;
		return;
	case OP_PUT_ENTROPY:
		if (!require_preboot(ctx, m, "PUT /entropy"))
			return;
		cfg->entropy = m->u.entropy;
		m->resp.status = 204;
		return;
	case OP_PUT_SERIAL:
		/* The output file is opened at InstanceStart, where a missing reader is reported. */
		if (!require_preboot(ctx, m, "PUT /serial"))
			return;
		config_serial_free(&cfg->serial);
		cfg->serial = m->u.serial;
		m->u.serial.serial_out_path = NULL;
		m->resp.status = 204;
		return;
	case OP_PUT_LOGGER:
		exec_logger(ctx, m);
		return;
	case OP_PUT_METRICS:
		exec_metrics(ctx, m);
		return;
	case OP_INSTANCE_START:
	case OP_SEND_CTRL_ALT_DEL:
	case OP_FLUSH_METRICS:
	case OP_PAUSE:
	case OP_RESUME:
		exec_action(ctx, m);
		return;
	}
	api_fault(&m->resp, 500, "internal: unknown operation");
}

/* ---- metrics ---- */

static const char *const ep_names[EP_COUNT] = {
	[EP_ROOT] = "root",
	[EP_VERSION] = "version",
	[EP_VM_CONFIG] = "vm_config",
	[EP_BOOT_SOURCE] = "boot_source",
	[EP_MACHINE_CONFIG] = "machine_config",
	[EP_DRIVES] = "drives",
	[EP_NETWORK_INTERFACES] = "network_interfaces",
	[EP_VSOCK] = "vsock",
	[EP_ENTROPY] = "entropy",
	[EP_ACTIONS] = "actions",
	[EP_VM] = "vm",
	[EP_LOGGER] = "logger",
	[EP_METRICS] = "metrics",
	[EP_SERIAL] = "serial",
	[EP_UNSUPPORTED] = "unsupported",
	[EP_UNKNOWN] = "unknown",
};

enum { M_COUNT, M_FAILS, M_US_SUM, M_US_MAX, M_PER_EP };

static char api_metric_names[EP_COUNT * M_PER_EP][48];
static const char *api_metric_ptrs[EP_COUNT * M_PER_EP];
static uint64_t api_metric_vals[EP_COUNT * M_PER_EP];
static struct metrics_group api_metrics = {
	.name = "api_server",
	.n = EP_COUNT * M_PER_EP,
	.names = api_metric_ptrs,
	.vals = api_metric_vals,
};

void api_metrics_register(void)
{
	static const char *const suffix[M_PER_EP] = { "count", "fails", "latency_us_sum",
						      "latency_us_max" };

	for (int e = 0; e < EP_COUNT; e++) {
		for (int k = 0; k < M_PER_EP; k++) {
			int i = e * M_PER_EP + k;

			snprintf(api_metric_names[i], sizeof(api_metric_names[i]), "%s_%s",
				 ep_names[e], suffix[k]);
			api_metric_ptrs[i] = api_metric_names[i];
		}
	}
	metrics_register(&api_metrics); /* -EEXIST on a second server: fine */
}

void api_metrics_record(enum api_endpoint ep, int status, uint64_t latency_ns)
{
	uint64_t *v;

	if ((unsigned int)ep >= EP_COUNT)
		ep = EP_UNKNOWN;
	v = &api_metric_vals[ep * M_PER_EP];
	metrics_inc(&v[M_COUNT]);
	if (status >= 400)
		metrics_inc(&v[M_FAILS]);
	metrics_add(&v[M_US_SUM], latency_ns / 1000);
	metrics_max(&v[M_US_MAX], latency_ns / 1000);
}
