/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock (virtio 1.2, 5.10) with Firecracker's hybrid design, userspace backend:
 * the guest's AF_VSOCK streams to CID 2 become AF_UNIX streams on the host.
 *   host to guest: a host process connects to uds_path and writes "CONNECT <port>\n";
 *                  the VMM answers "OK <host_port>\n" once the guest accepted;
 *   guest to host: a guest connection to CID 2 port P connects to "<uds_path>_<P>".
 * Queues: rx (0), tx (1), event (2; never used: TRANSPORT_RESET only matters after a
 * snapshot restore, which this device does not do). All socket and queue work runs on
 * the VMM thread.
 *
 * vhost-vsock backend (`vmm --vsock-backend vhost`): the kernel runs rx and tx
 * (VHOST_VSOCK_SET_GUEST_CID guest_cid at creation, SET_RUNNING 1 after DRIVER_OK, 0 on
 * reset, on a vhost ring error, which also sets DEVICE_NEEDS_RESET, and before destroy);
 * the event queue stays with the VMM. Rings are checked to lie in guest RAM before
 * vhost gets their host addresses; the call eventfd is watched by the VMM, which sets
 * InterruptStatus and fires the irqfd. The host side is then AF_VSOCK: host programs
 * connect to (guest_cid, port), guest connections to CID 2 reach host AF_VSOCK
 * listeners. Firecracker's host-initiated protocol keeps working: the VMM still listens
 * on uds_path and bridges CONNECT to an AF_VSOCK connect (vsock_bridge.h). The
 * guest-initiated `<uds_path>_<P>` contract cannot be kept (host AF_VSOCK ports are
 * global, so every VMM cannot listen on the same P): "auto" therefore means userspace
 * and vhost must be asked for; then a missing /dev/vhost-vsock or a guest_cid another
 * VM holds (EADDRINUSE) fails InstanceStart with a config error.
 */
#ifndef VMM_VIRTIO_VSOCK_H
#define VMM_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/virtio/mmio.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_HOST_CID 2

#define VSOCK_TYPE_STREAM 1
enum vsock_op {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

/* Limits: payload per packet (as Linux), live connections, what the VMM buffers per
   connection for a slow host reader (the buf_alloc it advertises). */
#define VSOCK_MAX_PAYLOAD (64 * 1024)
#define VSOCK_MAX_CONNS 1024
#define VSOCK_BUF_ALLOC (256 * 1024)
#define VSOCK_CONNECT_LINE_MAX 32
/* Seconds a host client has to send its CONNECT line, and the guest to answer REQUEST. */
#define VSOCK_CONNECT_TIMEOUT_S 5

/* The packet header (5.10.6), little-endian (x86 only, like the rest of the VMM). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr layout");

/* Counters, for metrics and tests. Written on the VMM thread. */
struct virtio_vsock_stats {
	uint64_t rx_packets, rx_bytes; /* to the guest; bytes of payload */
	uint64_t tx_packets, tx_bytes; /* from the guest */
	uint64_t conns_opened, conns_closed;
	uint64_t conns_refused; /* table full, no host listener, bad CONNECT line */
	uint64_t rst_sent, rst_received;
	uint64_t bad_packets; /* wrong CID, bad type/op/len, credit overrun */
	uint64_t rx_bad_chains; /* unusable guest receive buffers */
	uint64_t rst_dropped; /* RST queue full (a flooding guest) */
	uint64_t conns_live; /* gauge */
	/* vhost backend: the conns_* and rx/tx bytes are the uds_path bridge's. */
	uint64_t vhost_irqs; /* interrupts vhost asked for */
	uint64_t vhost_ring_errors; /* rings or descriptors vhost refused (needs reset) */
	bool vhost; /* vhost-vsock runs rx/tx now */
};

enum virtio_vsock_backend {
	VIRTIO_VSOCK_BACKEND_AUTO, /* userspace: see above */
	VIRTIO_VSOCK_BACKEND_VHOST, /* vhost-vsock or a configuration error */
	VIRTIO_VSOCK_BACKEND_USERSPACE,
};

/* The backend of devices created from now on: "auto", "vhost" or "userspace". 0 or -EINVAL. */
int virtio_vsock_set_backend(const char *name);

struct virtio_vsock;

/*
 * Listen on cfg->uds_path (a stale socket file there is removed) and set up the device
 * whose MMIO window starts at mmio_base. 0, or -errno with err filled in.
 */
int virtio_vsock_create(struct virtio_vsock **out, const struct vsock_cfg *cfg,
			const struct virtio_mmio_env *env, uint64_t mmio_base,
			struct config_err *err);
struct virtio_mmio_dev *virtio_vsock_mmio(struct virtio_vsock *v);
/* Close every connection and the listener, unlink uds_path, free (VMM thread). NULL ok. */
void virtio_vsock_destroy(struct virtio_vsock *v);
/* A copy of the counters (takes the device lock). */
void virtio_vsock_get_stats(struct virtio_vsock *v, struct virtio_vsock_stats *out);

/* ---- protocol helpers, exposed for the unit tests and the fuzzer ---- */

/*
 * Parse the host's "CONNECT <port>\n" line from the first len bytes a client sent.
 * Returns the line's length with its newline (> 0) and sets *port; 0 when the line is
 * not complete yet; -EINVAL when it is malformed, or no newline came within
 * VSOCK_CONNECT_LINE_MAX bytes. One or more spaces separate the word and a decimal port
 * (at most 10 digits, <= UINT32_MAX); a '\r' before the '\n' is accepted.
 */
int vsock_parse_connect(const char *buf, size_t len, uint32_t *port);

/* Why a guest packet is refused (vsock_hdr_check). */
enum vsock_hdr_verdict {
	VSOCK_HDR_OK = 0,
	VSOCK_HDR_DROP, /* not for us or not parseable: drop silently (counted) */
	VSOCK_HDR_RST, /* for us but unsupported: answer RST (unless it is an RST) */
};

/* Check a guest TX header; payload is how many bytes the chain holds after it. */
enum vsock_hdr_verdict vsock_hdr_check(const struct vsock_hdr *h, uint64_t guest_cid,
				       uint64_t payload);

/*
 * Bytes a sender may still send: the receiver advertised buf_alloc and has consumed
 * fwd_cnt of the tx_cnt bytes sent (free-running u32 counters, so wraparound is normal).
 * A peer claiming to have consumed more than was sent gets no credit.
 */
static inline uint32_t vsock_credit(uint32_t buf_alloc, uint32_t fwd_cnt, uint32_t tx_cnt)
{
	uint32_t in_flight = tx_cnt - fwd_cnt;

	return in_flight >= buf_alloc ? 0 : buf_alloc - in_flight;
}

#endif
