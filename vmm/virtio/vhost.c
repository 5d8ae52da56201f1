// SPDX-License-Identifier: Apache-2.0
/*
 * Shared vhost plumbing (see vhost.h). The ioctls follow the kernel's own order: owner,
 * features, memory table, then per queue size, base, addresses, kick, call, err. The
 * backend-specific step that starts the kernel walking the rings (VHOST_NET_SET_BACKEND,
 * VHOST_VSOCK_SET_RUNNING) is the caller's.
 */
#include "vmm/virtio/vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/memory.h"
#include "vmm/util.h"
#include "vmm/virtio/queue.h"

int vhost_open(const char *path, int *fd, int *call_fd, int *err_fd, uint64_t *features)
{
	int r;

	*call_fd = *err_fd = -1;
	*fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0)
		return -errno;
	/* The owner is this process: the kernel worker uses its memory map. */
	if (ioctl(*fd, VHOST_SET_OWNER) < 0 || ioctl(*fd, VHOST_GET_FEATURES, features) < 0)
		goto fail;
	*call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*call_fd < 0 || *err_fd < 0)
		goto fail;
	return 0;
fail:
	r = -errno;
	close(*fd);
	if (*call_fd >= 0)
		close(*call_fd);
	if (*err_fd >= 0)
		close(*err_fd);
	*fd = *call_fd = *err_fd = -1;
	return r;
}

bool vhost_ring_ok(const struct virtq *q, const struct guest_mem *mem)
{
	uint64_t extra = q->event_idx ? 2 : 0;

	if (!q->num || q->num > VIRTQ_MAX_SIZE || (q->num & (q->num - 1)))
		return false;
	return guest_mem_ptr(mem, q->desc_gpa, 16ULL * q->num) &&
	       guest_mem_ptr(mem, q->avail_gpa, 4 + 2ULL * q->num + extra) &&
	       guest_mem_ptr(mem, q->used_gpa, 4 + 8ULL * q->num + extra);
}

static int set_mem_table(int fd, const struct guest_mem *mem)
{
	unsigned int n = MIN(mem->nregions, (unsigned int)GUEST_MEM_MAX_REGIONS);
	struct vhost_memory *t = calloc(1, sizeof(*t) + n * sizeof(t->regions[0]));
	int r;

	if (!t)
		return -ENOMEM;
	t->nregions = n;
	for (unsigned int i = 0; i < n; i++) {
		t->regions[i].guest_phys_addr = mem->regions[i].gpa;
		t->regions[i].memory_size = mem->regions[i].size;
		t->regions[i].userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].hva;
	}
	r = ioctl(fd, VHOST_SET_MEM_TABLE, t) < 0 ? -errno : 0;
	free(t);
	return r;
}

static int set_queue(int fd, const struct guest_mem *mem, unsigned int i, const struct virtq *q,
		     int kick_fd, int call_fd, int err_fd)
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
	struct vhost_vring_file call = { .index = i, .fd = call_fd };
	struct vhost_vring_file err = { .index = i, .fd = err_fd };

	if (ioctl(fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_CALL, &call) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_ERR, &err) < 0)
		return -errno;
	return 0;
}

int vhost_setup(int fd, const struct guest_mem *mem, uint64_t features, struct virtq *qs,
		const int *kick_fds, unsigned int nq, int call_fd, int err_fd)
{
	int r;

	if (fd < 0)
		return -ENODEV;
	for (unsigned int i = 0; i < nq; i++)
		if (!qs[i].active || !vhost_ring_ok(&qs[i], mem))
			return -EINVAL;
	if (ioctl(fd, VHOST_SET_FEATURES, &features) < 0)
		return -errno;
	r = set_mem_table(fd, mem);
	for (unsigned int i = 0; !r && i < nq; i++)
		r = set_queue(fd, mem, i, &qs[i], kick_fds[i], call_fd, err_fd);
	return r;
}
