/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vhost-net kernel backend of virtio-net: the kernel walks the rings and moves frames
 * between them and the TAP. The VMM owns /dev/vhost-net, hands it the guest memory map,
 * the queues (checked to lie in guest RAM), each queue's kick eventfd (the KVM ioeventfd
 * of QueueNotify) and two eventfds of its own: "call" (buffers used: the VMM sets
 * InterruptStatus and injects through the device's irqfd, which keeps virtio-mmio's ISR
 * right) and "err" (vhost met a ring it cannot use).
 */
#ifndef VMM_VIRTIO_NET_VHOST_H
#define VMM_VIRTIO_NET_VHOST_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct virtq;

#define NET_VHOST_MAX_QUEUES 2 /* one RX, one TX */

struct net_vhost {
	int fd; /* /dev/vhost-net, -1: none */
	int call_fd; /* one eventfd for both queues */
	int err_fd;
	uint64_t features; /* what this kernel's vhost-net supports */
	bool running; /* the TAP is attached as the backend of the queues */
};

/* All fds -1: a backend that was never opened (net_vhost_close is a no-op). */
void net_vhost_init(struct net_vhost *v);
/*
 * Open /dev/vhost-net, become its owner, read its features, create the call and err
 * eventfds (CLOEXEC, non-blocking). 0 or -errno; on error v holds nothing.
 */
int net_vhost_open(struct net_vhost *v);
/* Close everything (after net_vhost_stop). */
void net_vhost_close(struct net_vhost *v);

/*
 * Transport feature bits the guest negotiated that vhost must honour: the subset of
 * acked it is given with VHOST_SET_FEATURES. -ENOTSUP if acked has a ring or transport
 * bit vhost lacks (device-specific offloads are the TAP's business, not vhost's).
 */
int net_vhost_features(const struct net_vhost *v, uint64_t acked, uint64_t *out);

/*
 * Whether queue q's three ring areas lie in guest RAM, each in one region, for its size
 * and event_idx: vhost gets host addresses and only the VMM can tell they are guest RAM.
 */
bool net_vhost_ring_ok(const struct virtq *q, const struct guest_mem *mem);

/*
 * Program features, memory map and the nq queues (kick_fds[i] is queue i's kick eventfd)
 * and attach tap_fd as their backend. The queues must be active and checked with
 * net_vhost_ring_ok. 0 or -errno; on error nothing is left attached and, when a queue
 * had been attached, qs hold where vhost left the rings (net_vhost_take_back); -EINVAL
 * when that could not be read (the device needs a reset).
 */
int net_vhost_start(struct net_vhost *v, const struct guest_mem *mem, uint64_t features,
		    struct virtq *qs, const int *kick_fds, unsigned int nq, int tap_fd);
/*
 * Detach the TAP from every queue; when this returns the kernel no longer touches guest
 * memory (VHOST_NET_SET_BACKEND flushes its worker). Called from vCPU threads too (device
 * reset): one ioctl per queue, no allocation. With bases non-NULL, also fetch each queue's
 * next avail index (VHOST_GET_VRING_BASE) so userspace can take the rings over: -EIO if
 * one could not be read (its bases[] entry is left alone), else 0.
 */
int net_vhost_stop(struct net_vhost *v, unsigned int nq, uint16_t *bases);
/*
 * net_vhost_stop, then set each active queue of qs to where vhost left it (next avail
 * from vhost, used index from the ring) for the userspace path. 0, or -EIO when a base
 * could not be read (the rings cannot be taken over: the device needs a reset).
 */
int net_vhost_take_back(struct net_vhost *v, struct virtq *qs, unsigned int nq);

#endif
