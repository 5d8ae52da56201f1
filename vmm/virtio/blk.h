/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2, 5.2) over a raw image file, with a synchronous engine
 * (preadv/pwritev on the VMM thread) and an io_uring engine (ring created once, at the
 * first activation). One request queue. Requests are taken from the ring on the VMM
 * thread; vCPU threads only touch registers.
 */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include <stdint.h>

#include "vmm/config.h"
#include "vmm/virtio/mmio.h"

struct virtio_blk;

#define VIRTIO_ID_BLOCK 2

/*
 * Open cfg->path_on_host (read-only when cfg->is_read_only) and set up the device whose
 * MMIO window starts at mmio_base. 0, or -errno with err filled in. The caller registers
 * virtio_blk_mmio(blk) on its bus with virtio_mmio_bus_ops.
 */
int virtio_blk_create(struct virtio_blk **out, const struct drive_cfg *cfg,
		      const struct virtio_mmio_env *env, uint64_t mmio_base, struct config_err *err);
struct virtio_mmio_dev *virtio_blk_mmio(struct virtio_blk *blk);
/*
 * PATCH /drives after boot: a new backing file (path_on_host, may be NULL) and/or a new
 * limiter (rl, may be NULL). In-flight I/O is finished first; a size change raises a
 * config-change interrupt. 0, or -errno with err filled in (the drive is unchanged).
 */
int virtio_blk_update(struct virtio_blk *blk, const char *path_on_host,
		      const struct rate_limiter_cfg *rl, struct config_err *err);
/* Tear down in-flight I/O, close fds, free (VMM thread, device off the bus). NULL is fine. */
void virtio_blk_destroy(struct virtio_blk *blk);

/*
 * The event loop runs on one thread for good, the one that activates the devices (the
 * VMM's main thread): io_uring rings may then be SINGLE_ISSUER | DEFER_TASKRUN, which
 * only that thread can enter. Off by default (tests move the loop between threads).
 */
void virtio_blk_set_loop_pinned(bool pinned);
/*
 * Adaptive polling (struct ev_poller) takes a drive into its windows only while the
 * drive saw a kick, a completion or polled work within this long (default 1 ms).
 */
void virtio_blk_set_poll_idle_ns(uint64_t ns);
/*
 * VMM thread, while it waits for vCPUs (pause, stop): reap for a vCPU whose reset waits
 * on this thread (a defer ring), so that vCPU can get on. Nothing to do otherwise.
 */
void virtio_blk_serve_reset(struct virtio_blk *blk);
/* The VM is stopping: a vCPU's reset waiting for the VMM thread to reap stops waiting. */
void virtio_blk_stop_waiters(struct virtio_blk *blk);
/* The ring is SINGLE_ISSUER | DEFER_TASKRUN (after activation; false before). */
bool virtio_blk_defer_taskrun(const struct virtio_blk *blk);
/* Time the last activation took (io_uring setup), in ns; 0 before the first. */
uint64_t virtio_blk_activation_ns(const struct virtio_blk *blk);
/* Requests submitted to the engine and not yet completed. */
unsigned int virtio_blk_inflight(const struct virtio_blk *blk);

#endif
