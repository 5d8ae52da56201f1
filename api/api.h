/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Firecracker-compatible REST API on a Unix socket.
 *
 * Threading contract. The API server runs on its own thread: it accepts connections,
 * parses HTTP and validates request bodies. Anything that reads or changes the VM
 * configuration or the VM itself runs on the VMM thread: the API thread queues a
 * message and writes an eventfd that the VMM thread's event loop (vmm/eventloop.h)
 * watches; the VMM thread executes the message (calling the vmm_ops below for the
 * actions that touch the VM) and hands it back through a second eventfd. The API
 * thread keeps serving other clients meanwhile and answers when the result arrives,
 * or with 504 after API_VMM_TIMEOUT_MS so a stuck VMM never hangs a client. vCPU
 * threads never wait on the API.
 */
#ifndef API_API_H
#define API_API_H

#include "vmm/config.h"
#include "vmm/eventloop.h"

#define API_APP_NAME "vmm"
#define API_VMM_VERSION "0.1.0"

#define API_MAX_CONNS 128 /* more are accepted and closed at once */
#define API_IDLE_TIMEOUT_MS 60000 /* a connection with nothing to do is closed */
#define API_REQUEST_TIMEOUT_MS 10000 /* first byte to last byte of a request */
#define API_VMM_TIMEOUT_MS 60000 /* the VMM thread's answer (InstanceStart loads the kernel) */

struct vmm_ops {
	/* All called on the VMM thread; return 0 or -errno with err->msg filled. */
	int (*instance_start)(void *vmm, const struct vm_config *cfg, struct config_err *err);
	int (*pause)(void *vmm, struct config_err *err);
	int (*resume)(void *vmm, struct config_err *err);
	int (*send_ctrl_alt_del)(void *vmm, struct config_err *err);
	/* Called before metrics_flush() so the VMM can refresh gauges; may be NULL. */
	int (*flush_metrics)(void *vmm, struct config_err *err);
	int (*update_drive)(void *vmm, const char *drive_id, const char *path_on_host /*NULL: keep*/,
			    const struct rate_limiter_cfg *rl /*NULL: keep*/,
			    struct config_err *err);
	int (*update_net)(void *vmm, const char *iface_id,
			  const struct rate_limiter_cfg *rx /*NULL: keep*/,
			  const struct rate_limiter_cfg *tx /*NULL: keep*/, struct config_err *err);
	/*
	 * Called once on the API thread before it serves anything (install the "api"
	 * seccomp filter here). A failure makes api_server_start() fail. May be NULL.
	 */
	int (*api_thread_init)(void *vmm);
};

enum api_vm_state { API_VM_NOT_STARTED = 0, API_VM_RUNNING, API_VM_PAUSED };

struct api_server;

/*
 * Binds sock_path (a stale socket file is replaced; a live one is -EADDRINUSE; any
 * other file there is -EEXIST), starts the API thread, registers its eventfd in loop.
 * Must be called on the VMM thread. cfg is owned by the VMM thread and only touched
 * there; ops and vmm must outlive the server. 0 or -errno.
 */
int api_server_start(struct api_server **out, const char *sock_path, const char *instance_id,
		     struct vm_config *cfg, const struct vmm_ops *ops, void *vmm,
		     struct event_loop *loop);
/* On the VMM thread: joins the API thread, removes the socket file, frees s. NULL is ok. */
void api_server_stop(struct api_server *s);

/* The state as the API reports it (set from the results of the ops). Any thread. */
enum api_vm_state api_server_state(const struct api_server *s);
/*
 * The VMM core calls this if the VM starts without the API (--config-file), so the
 * API's phase rules follow. On the VMM thread.
 */
void api_server_set_state(struct api_server *s, enum api_vm_state st);

/* Tests: shorter timeouts (ms; 0 keeps the current value). Before clients connect. */
void api_server_set_timeouts(struct api_server *s, int idle_ms, int request_ms, int vmm_ms);

#endif
