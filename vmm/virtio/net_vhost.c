// SPDX-License-Identifier: Apache-2.0
/*
 * vhost-net backend plumbing (see net_vhost.h): vhost.c programs owner, features, memory
 * table and queues; the TAP is attached as backend last (that is when the kernel starts
 * walking the rings).
 */
#include "vmm/virtio/net_vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/memory.h"
#include "vmm/util.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"
#include "vmm/virtio/vhost.h"

/*
 * Bits vhost must know of: the transport range 24..40 (virtio 1.2, 6) and MRG_RXBUF,
 * which changes how vhost fills receive chains. The offloads stay between guest and TAP.
 */
#define NET_F_MRG_RXBUF 15
#define TRANSPORT_BITS (VHOST_TRANSPORT_BITS | (1ULL << NET_F_MRG_RXBUF))

void net_vhost_init(struct net_vhost *v)
{
	memset(v, 0, sizeof(*v));
	v->fd = v->call_fd = v->err_fd = -1;
}

void net_vhost_close(struct net_vhost *v)
{
	if (v->fd >= 0)
		close(v->fd);
	if (v->call_fd >= 0)
		close(v->call_fd);
	if (v->err_fd >= 0)
		close(v->err_fd);
	net_vhost_init(v);
}

int net_vhost_open(struct net_vhost *v)
{
	net_vhost_init(v);
	return vhost_open("/dev/vhost-net", &v->fd, &v->call_fd, &v->err_fd, &v->features);
}

int net_vhost_features(const struct net_vhost *v, uint64_t acked, uint64_t *out)
{
	uint64_t want = acked & TRANSPORT_BITS;

	if (want & ~v->features)
		return -ENOTSUP;
	*out = want;
	return 0;
}

bool net_vhost_ring_ok(const struct virtq *q, const struct guest_mem *mem)
{
	return vhost_ring_ok(q, mem);
}

int net_vhost_start(struct net_vhost *v, const struct guest_mem *mem, uint64_t features,
		    struct virtq *qs, const int *kick_fds, unsigned int nq, int tap_fd)
{
	int r;

	r = vhost_setup(v->fd, mem, features, qs, kick_fds, nq, v->call_fd, v->err_fd);
	if (r < 0)
		return r;
	v->running = true; /* from here on a failure must detach what was attached */
	for (unsigned int i = 0; i < nq; i++) {
		struct vhost_vring_file b = { .index = i, .fd = tap_fd };

		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0) {
			r = -errno;
			/* Queues before i may have run: the rings go back where vhost left them. */
			if (net_vhost_take_back(v, qs, nq) < 0)
				return -EINVAL; /* ring state unknown: the device needs a reset */
			return r;
		}
	}
	return 0;
}

int net_vhost_stop(struct net_vhost *v, unsigned int nq, uint16_t *bases)
{
	int r = 0;

	if (!v->running)
		return 0;
	for (unsigned int i = 0; i < nq; i++) {
		struct vhost_vring_file b = { .index = i, .fd = -1 };

		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0)
			log_error("vhost-net: detaching queue %u: %s", i, strerror(errno));
	}
	v->running = false;
	for (unsigned int i = 0; bases && i < nq; i++) {
		struct vhost_vring_state s = { .index = i };

		/* Never guess a base: 0 would replay (or skip) the whole avail ring. */
		if (ioctl(v->fd, VHOST_GET_VRING_BASE, &s) < 0) {
			log_error("vhost-net: reading queue %u base: %s", i, strerror(errno));
			r = -EIO;
			continue;
		}
		bases[i] = (uint16_t)s.num;
	}
	return r;
}

int net_vhost_take_back(struct net_vhost *v, struct virtq *qs, unsigned int nq)
{
	uint16_t bases[NET_VHOST_MAX_QUEUES];
	int r;

	if (nq > NET_VHOST_MAX_QUEUES)
		return -EINVAL;
	if (!v->running)
		return 0; /* never attached: vhost moved nothing */
	r = net_vhost_stop(v, nq, bases);
	if (r < 0)
		return r;
	for (unsigned int i = 0; i < nq; i++) {
		struct virtq *q = &qs[i];

		if (!q->active)
			continue;
		q->last_avail = bases[i];
		q->used_idx = __atomic_load_n(&q->used[1], __ATOMIC_ACQUIRE);
		q->signalled_valid = false;
	}
	return 0;
}
