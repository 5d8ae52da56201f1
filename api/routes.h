/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing (API thread) and execution (VMM thread) of API requests, apart from any I/O
 * so the fuzzer and unit tests can drive them directly.
 */
#ifndef API_ROUTES_H
#define API_ROUTES_H

#include "api/api.h"
#include "api/http.h"

enum api_endpoint {
	EP_ROOT,
	EP_VERSION,
	EP_VM_CONFIG,
	EP_BOOT_SOURCE,
	EP_MACHINE_CONFIG,
	EP_DRIVES,
	EP_NETWORK_INTERFACES,
	EP_VSOCK,
	EP_ENTROPY,
	EP_ACTIONS,
	EP_VM,
	EP_LOGGER,
	EP_METRICS,
	EP_SERIAL,
	EP_UNSUPPORTED,
	EP_UNKNOWN,
	EP_COUNT
};

enum api_op {
	OP_GET_VM_CONFIG,
	OP_GET_MACHINE,
	OP_PUT_BOOT_SOURCE,
	OP_PUT_MACHINE,
	OP_PATCH_MACHINE,
	OP_PUT_DRIVE,
	OP_PATCH_DRIVE,
	OP_PUT_NET,
	OP_PATCH_NET,
	OP_PUT_VSOCK,
	OP_PUT_ENTROPY,
	OP_PUT_LOGGER,
	OP_PUT_METRICS,
	OP_PUT_SERIAL,
	OP_INSTANCE_START,
	OP_SEND_CTRL_ALT_DEL,
	OP_FLUSH_METRICS,
	OP_PAUSE,
	OP_RESUME,
};

struct api_response {
	int status;
	char *body; /* malloc'd JSON, or NULL */
};

/* What the API thread hands to the VMM thread; owned by whoever holds it. */
struct api_msg {
	enum api_op op;
	enum api_endpoint ep;
	union {
		struct boot_source_cfg boot;
		struct {
			struct machine_cfg m;
			unsigned int fields;
		} machine;
		struct drive_cfg drive;
		struct drive_patch drive_patch;
		struct net_cfg net;
		struct net_patch net_patch;
		struct vsock_cfg vsock;
		struct entropy_cfg entropy;
		struct logger_cfg logger;
		struct metrics_cfg metrics;
		struct serial_cfg serial;
	} u;
	struct api_response resp; /* filled by api_execute() */
	/* Plumbing for the server. */
	struct api_msg *next;
	void *conn;
	bool close_after;
	uint64_t start_ns, deadline_ns;
};

/* The VMM-thread side: everything api_execute() may touch. */
struct api_ctx {
	struct vm_config *cfg;
	const struct vmm_ops *ops;
	void *vmm;
	int state; /* enum api_vm_state; written on the VMM thread, read anywhere (atomic) */
	char instance_id[65];
	/*
	 * Opening the log and metrics sinks (log_set_path, metrics_set_path by default).
	 * The fuzzer replaces them so hostile input never creates files.
	 */
	int (*open_log)(const char *path);
	int (*open_metrics)(const char *path);
};

/*
 * API thread: route and validate req. Returns 1 with *msg set when the request must run
 * on the VMM thread, or 0 with resp filled for an immediate answer. ep is set either way.
 */
int api_route(const struct api_ctx *ctx, const struct http_request *req, struct api_msg **msg,
	      struct api_response *resp, enum api_endpoint *ep);

/* VMM thread: run msg against ctx, fill msg->resp. Never blocks on the API. */
void api_execute(struct api_ctx *ctx, struct api_msg *msg);

void api_msg_free(struct api_msg *msg);

/* A {"fault_message": ...} response. */
void api_fault(struct api_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Metrics: per-endpoint request counts and latencies ("api_server" group). */
void api_metrics_register(void);
void api_metrics_record(enum api_endpoint ep, int status, uint64_t latency_ns);

#endif
