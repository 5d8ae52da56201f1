/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of the vhost-vsock backend's Unix-socket interface: with vhost-vsock the
 * kernel carries the guest's streams, so a host program reaches the guest over AF_VSOCK.
 * To keep Firecracker's host-initiated protocol working, the VMM still accepts on
 * uds_path and the bridge turns each client into an AF_VSOCK stream:
 *   client writes "CONNECT <port>\n" -> non-blocking AF_VSOCK connect to (guest_cid,
 *   port) -> "OK <local vsock port>\n" to the client once the guest accepted -> bytes
 *   spliced both ways through bounded buffers on the event loop; an EOF is passed on as a
 *   half-close (shutdown SHUT_WR), an error on either side closes both.
 * A client that sends no valid line within VSOCK_CONNECT_TIMEOUT_S, or whose connect
 * fails or takes longer than that, is closed without an answer (as the userspace backend
 * does). Everything runs on the VMM thread.
 */
#ifndef VMM_VIRTIO_VSOCK_BRIDGE_H
#define VMM_VIRTIO_VSOCK_BRIDGE_H

#include <pthread.h>
#include <stdint.h>

struct event_loop;
struct vsock_bridge;

#define VSOCK_BRIDGE_MAX_CONNS 256
#define VSOCK_BRIDGE_BUF (64 * 1024) /* per direction per connection */

struct vsock_bridge_stats {
	uint64_t opened; /* spliced after OK */
	uint64_t refused; /* bad line, timeout, connect failed, table full */
	uint64_t closed;
	uint64_t live; /* gauge: every accepted client not closed yet */
	uint64_t to_guest_bytes, from_guest_bytes;
};

/*
 * Bridge clients to guest_cid on loop; lock (may be NULL) is taken by the bridge's event
 * handlers and by vsock_bridge_get_stats. 0 or -errno.
 */
int vsock_bridge_create(struct vsock_bridge **out, struct event_loop *loop, uint32_t guest_cid,
			pthread_mutex_t *lock);
/* Take over an accepted, non-blocking, CLOEXEC client fd (closed if no slot). Lock held. */
void vsock_bridge_accept(struct vsock_bridge *b, int fd);
/* Lock held. */
void vsock_bridge_get_stats(struct vsock_bridge *b, struct vsock_bridge_stats *out);
/* Close every connection (the guest reset: its streams are gone); VMM thread, lock held.
   NULL ok. */
void vsock_bridge_reset(struct vsock_bridge *b);
/* Close every connection. NULL ok. */
void vsock_bridge_destroy(struct vsock_bridge *b);

#endif
