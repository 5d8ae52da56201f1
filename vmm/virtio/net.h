/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (virtio 1.2, 5.1) with a userspace TAP backend: queue 0 receives (host to
 * guest), queue 1 transmits. Frames move between the TAP and guest memory with one
 * readv/writev each, the virtio_net_hdr_v1 going through unchanged (the TAP speaks the
 * same 12-byte header). All queue and TAP work runs on the VMM thread.
 *
 * Backend choice: the vhost-net kernel backend (net_vhost.h) when /dev/vhost-net opens
 * and no rate limiter is configured, else the userspace one; `vmm --net-backend` forces
 * either (virtio_net_set_backend). The choice is logged at creation.
 */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

#include <stdint.h>

#include "vmm/config.h"
#include "vmm/virtio/mmio.h"

struct virtio_net;

#define VIRTIO_ID_NET 1

/* Counters, for metrics and tests. Written on the VMM thread. */
struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes; /* bytes: frames without the virtio header */
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_dropped_too_big; /* the frame did not fit the guest's chain */
	uint64_t rx_bad_chains; /* malformed or unusable receive chains */
	uint64_t tx_dropped_bad; /* malformed chain, bad header or oversized frame */
	uint64_t tx_dropped_tap; /* the TAP refused the frame (bad offload fields) */
	uint64_t tx_eagain; /* the TAP was full: TX waited for EPOLLOUT */
	uint64_t rx_no_buffers; /* times reading stopped for want of guest buffers */
	uint64_t rx_throttled, tx_throttled;
	/* The counters above are the userspace path's: vhost moves frames in the kernel. */
	uint64_t vhost_irqs; /* interrupts vhost asked for */
	uint64_t vhost_ring_errors; /* rings or descriptors vhost refused (needs reset) */
	bool vhost; /* vhost-net runs the queues now */
};

enum virtio_net_backend {
	VIRTIO_NET_BACKEND_AUTO, /* vhost-net if it opens and no rate limiter is set */
	VIRTIO_NET_BACKEND_VHOST, /* vhost-net or a configuration error */
	VIRTIO_NET_BACKEND_USERSPACE,
};

/*
 * The backend of interfaces created from now on: "auto", "vhost" or "userspace" (vmm
 * --net-backend, before any device exists). 0 or -EINVAL.
 */
int virtio_net_set_backend(const char *name);

/*
 * Attach to the TAP cfg->host_dev_name and set up the device whose MMIO window starts at
 * mmio_base. 0, or -errno with err filled in. The caller registers virtio_net_mmio(net)
 * on its bus with virtio_mmio_bus_ops.
 */
int virtio_net_create(struct virtio_net **out, const struct net_cfg *cfg,
		      const struct virtio_mmio_env *env, uint64_t mmio_base, struct config_err *err);
struct virtio_mmio_dev *virtio_net_mmio(struct virtio_net *net);
/* Off the loop, close the TAP, free (VMM thread, device off the bus). NULL is fine. */
void virtio_net_destroy(struct virtio_net *net);

/*
 * Replace the RX and/or TX rate limiter (PATCH after boot; NULL keeps that one). Traffic
 * the old limiter held back resumes at once under the new one. VMM thread. 0 or -errno.
 */
int virtio_net_update(struct virtio_net *net, const struct rate_limiter_cfg *rx,
		      const struct rate_limiter_cfg *tx, struct config_err *err);
/* The interface's iface_id. */
const char *virtio_net_id(const struct virtio_net *net);

/* A copy of the counters (takes the device lock). */
void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *out);
/* Whether the device stopped because its TAP went away. */
bool virtio_net_tap_gone(struct virtio_net *net);

#endif
