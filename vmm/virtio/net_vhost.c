// SPDX-License-Identifier: Apache-2.0
/*
 * vhost-net backend plumbing (see net_vhost.h). The ioctls follow the kernel's own order:
 * owner, features, memory table, then per queue size, base, addresses, kick, call, err,
 * and the TAP as backend last (that is when the kernel starts walking the rings).
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

/*
 * Bits vhost must know of: the transport range 24..40 (virtio 1.2, 6) and MRG_RXBUF,
 * which changes how vhost fills receive chains. The offloads stay between guest and TAP.
 */
#define NET_F_MRG_RXBUF 15
#define TRANSPORT_BITS ((0x1ffffULL << 24) | (1ULL << NET_F_MRG_RXBUF))

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
	int r;

	net_vhost_init(v);
	v->fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (v->fd < 0) {
		r = -errno;
		goto fail;
	}
	/* The owner is this process: the kernel worker uses its memory map. */
	if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, &v->features) < 0) {
		r = -errno;
		goto fail;
	}
	v->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->call_fd < 0 || v->err_fd < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	net_vhost_close(v);
	return r;
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
	uint64_t extra = q->event_idx ? 2 : 0;

	if (!q->num || q->num > VIRTQ_MAX_SIZE || (q->num & (q->num - 1)))
		return false;
	return guest_mem_ptr(mem, q->desc_gpa, 16ULL * q->num) &&
	       guest_mem_ptr(mem, q->avail_gpa, 4 + 2ULL * q->num + extra) &&
	       guest_mem_ptr(mem, q->used_gpa, 4 + 8ULL * q->num + extra);
}

static int set_mem_table(struct net_vhost *v, const struct guest_mem *mem)
{
	struct {
		struct vhost_memory hdr;
		struct vhost_memory_region regions[GUEST_MEM_MAX_REGIONS];
	} t;

	memset(&t, 0, sizeof(t));
	t.hdr.nregions = mem->nregions;
	for (unsigned int i = 0; i < mem->nregions && i < GUEST_MEM_MAX_REGIONS; i++) {
		t.regions[i].guest_phys_addr = mem->regions[i].gpa;
		t.regions[i].memory_size = mem->regions[i].size;
		t.regions[i].userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].hva;
	}
	return ioctl(v->fd, VHOST_SET_MEM_TABLE, &t) < 0 ? -errno : 0;
}

static int set_queue(struct net_vhost *v, const struct guest_mem *mem, unsigned int i,
		     const struct virtq *q, int kick_fd)
{
	struct vhost_vring_state num = { .index = i, .num = q->num };
	struct vhost_vring_state base = { .index = i, .num = q->last_avail };
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = (uint64_t)(uintptr_t)guest_mem_ptr(mem, q->desc_gpa, 0),
		.avail_user_addr = (uint64_t)(uintptr_t)guest_mem_ptr(mem, q->avail_gpa, 0),
		.used_user_addr = (uint64_t)(uintptr_t)guest_mem_ptr(mem, q->used_gpa, 0),
	};
	struct vhost_vring_file kick = { .index = i, .fd = kick_fd };
	struct vhost_vring_file call = { .index = i, .fd = v->call_fd };
	struct vhost_vring_file err = { .index = i, .fd = v->err_fd };

	if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_CALL, &call) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_ERR, &err) < 0)
		return -errno;
	return 0;
}

int net_vhost_start(struct net_vhost *v, const struct guest_mem *mem, uint64_t features,
		    struct virtq *qs, const int *kick_fds, unsigned int nq, int tap_fd)
{
	int r;

	if (v->fd < 0)
		return -ENODEV;
	for (unsigned int i = 0; i < nq; i++)
		if (!qs[i].active || !net_vhost_ring_ok(&qs[i], mem))
			return -EINVAL;
	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0)
		return -errno;
	r = set_mem_table(v, mem);
	for (unsigned int i = 0; !r && i < nq; i++)
		r = set_queue(v, mem, i, &qs[i], kick_fds[i]);
	if (r < 0)
		return r;
	v->running = true; /* from here on a failure must detach what was attached */
	for (unsigned int i = 0; i < nq; i++) {
		struct vhost_vring_file b = { .index = i, .fd = tap_fd };

		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0) {
			r = -errno;
			net_vhost_stop(v, nq, NULL);
			return r;
		}
	}
	return 0;
}

void net_vhost_stop(struct net_vhost *v, unsigned int nq, uint16_t *bases)
{
	if (!v->running)
		return;
	for (unsigned int i = 0; i < nq; i++) {
		struct vhost_vring_file b = { .index = i, .fd = -1 };

		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0)
			log_error("vhost-net: detaching queue %u: %s", i, strerror(errno));
	}
	v->running = false;
	for (unsigned int i = 0; bases && i < nq; i++) {
		struct vhost_vring_state s = { .index = i };

		bases[i] = ioctl(v->fd, VHOST_GET_VRING_BASE, &s) < 0 ? 0 : (uint16_t)s.num;
	}
}
