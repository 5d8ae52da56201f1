/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every vhost backend (vhost-net, vhost-vsock) does alike: open the character
 * device and become its owner, check that the rings the guest chose lie in guest RAM
 * (vhost gets host addresses; only the VMM can tell what they point to), hand the
 * kernel the guest memory map and program each queue with its kick eventfd (the KVM
 * ioeventfd of QueueNotify) and the VMM's call and err eventfds.
 */
#ifndef VMM_VIRTIO_VHOST_H
#define VMM_VIRTIO_VHOST_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct virtq;

/* Transport feature bits (virtio 1.2, 6): the range vhost is told of. */
#define VHOST_TRANSPORT_BITS (0x1ffffULL << 24)

/*
 * Open path (O_CLOEXEC, non-blocking), VHOST_SET_OWNER, VHOST_GET_FEATURES into
 * *features, and create the call and err eventfds (CLOEXEC, non-blocking). 0 or -errno;
 * on error every fd is -1 and nothing is left open.
 */
int vhost_open(const char *path, int *fd, int *call_fd, int *err_fd, uint64_t *features);

/*
 * Whether queue q's three ring areas lie in guest RAM, each in one region, for its size
 * and event_idx, and its size is a power of two no larger than VIRTQ_MAX_SIZE.
 */
bool vhost_ring_ok(const struct virtq *q, const struct guest_mem *mem);

/*
 * VHOST_SET_FEATURES, the memory table, then for queue i < nq: size, base (the next avail
 * index), addresses, kick_fds[i], call_fd and err_fd. Every queue must be active and pass
 * vhost_ring_ok (-EINVAL otherwise, checked before any ioctl). 0 or -errno.
 */
int vhost_setup(int fd, const struct guest_mem *mem, uint64_t features, struct virtq *qs,
		const int *kick_fds, unsigned int nq, int call_fd, int err_fd);

#endif
