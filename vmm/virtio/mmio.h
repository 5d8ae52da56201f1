/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-mmio transport, virtio 1.2 "version 2" register layout (4.2.2). One 4 KiB
 * window and one interrupt per device. Register accesses come from vCPU threads
 * through virtio_mmio_bus_ops and take the device lock; queue kicks arrive on eventfds
 * (KVM ioeventfd) handled by the VMM event loop, which takes the same lock before
 * calling the device. Devices plug in through struct virtio_dev_ops.
 */
#ifndef VMM_VIRTIO_MMIO_H
#define VMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/virtio/queue.h"

struct guest_mem;

#define VIRTIO_MMIO_WINDOW 0x1000
#define VIRTIO_MMIO_MAX_QUEUES 8

/* Register offsets. */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW 0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0 /* no vendor: Linux ignores it */

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* InterruptStatus bits. */
#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

/* Transport feature bits. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

struct virtio_mmio_env {
	struct guest_mem *mem; /* guest RAM; every access via guest_mem_ptr */
	struct event_loop *loop; /* VMM thread loop: queue kicks and I/O completions run there */
	/* Register fd as KVM ioeventfd for a 4-byte write of datamatch at addr (QueueNotify), or
	   with wildcard for any write there; may be NULL (tests): then a QueueNotify write
	   signals the queue's eventfd directly. */
	int (*set_ioeventfd)(void *ctx, uint64_t addr, uint64_t datamatch, bool wildcard, int fd,
			     bool assign);
	/* set_ioeventfd takes wildcard (KVM_CAP_IOEVENTFD_ANY_LENGTH) */
	bool ioeventfd_wildcard;
	void *ctx;
};

struct virtio_mmio_dev;

/*
 * What a device provides. Every callback runs with the device lock held: register
 * callbacks on a vCPU thread, queue_notify on the VMM thread.
 */
struct virtio_dev_ops {
	uint32_t device_id;
	unsigned int num_queues; /* <= VIRTIO_MMIO_MAX_QUEUES */
	/* Offered feature bits; read at init and after every reset. */
	uint64_t (*features)(struct virtio_mmio_dev *vdev);
	/* Config space: [0, config_len) of buf; the transport does the bounds checks. */
	uint32_t config_len;
	void (*config_read)(struct virtio_mmio_dev *vdev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_mmio_dev *vdev, uint32_t off, const uint8_t *data,
			     uint32_t len);
	/*
	 * DRIVER_OK accepted and the queues activated. Runs on the VMM thread, before the
	 * first queue notification is handled (vCPU threads only flag it: their seccomp
	 * filter has no room for io_uring_setup and the like). 0, or -errno (needs reset).
	 */
	int (*activate)(struct virtio_mmio_dev *vdev);
	/* Status 0 written: stop, and finish or cancel every I/O touching guest memory. */
	void (*reset)(struct virtio_mmio_dev *vdev);
	/* The driver kicked queue qidx (VMM thread). */
	void (*queue_notify)(struct virtio_mmio_dev *vdev, unsigned int qidx);
};

struct virtio_mmio_kick {
	struct ev_source src;
	struct virtio_mmio_dev *dev;
	unsigned int qidx;
	bool registered_ioeventfd;
	bool wildcard_ioeventfd; /* registered for any write to QueueNotify */
	bool on_loop;
};

struct virtio_mmio_dev {
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *priv; /* the device */
	struct virtio_mmio_env env;
	uint64_t base;

	uint32_t status;
	uint32_t isr;
	uint32_t config_gen;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint64_t offered, acked;
	bool activated;
	bool activate_pending; /* ops->activate still to run on the VMM thread */
	struct log_ratelimit guest_err_rl; /* guest-triggered warnings */

	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_kick kicks[VIRTIO_MMIO_MAX_QUEUES];
	int irqfd;
};

extern const struct bus_ops virtio_mmio_bus_ops; /* register with opaque = struct virtio_mmio_dev * */

/*
 * Set up the transport for a device at guest address base: one kick eventfd per queue
 * (registered as ioeventfd and on the loop) and the irqfd. 0 or -errno; on error
 * nothing is left to undo.
 */
int virtio_mmio_init(struct virtio_mmio_dev *dev, const struct virtio_dev_ops *ops, void *priv,
		     const struct virtio_mmio_env *env, uint64_t base);
/* Undo virtio_mmio_init (VMM thread, after the device stopped its I/O). */
void virtio_mmio_uninit(struct virtio_mmio_dev *dev);

int virtio_mmio_irqfd(struct virtio_mmio_dev *dev); /* eventfd the VMM wires to a GSI with KVM_IRQFD */

/* Raise InterruptStatus bits and the interrupt. Lock held. */
void virtio_mmio_interrupt(struct virtio_mmio_dev *dev, uint32_t bits);
/* Config space changed: bump the generation and send a config interrupt. Lock held. */
void virtio_mmio_config_changed(struct virtio_mmio_dev *dev);
/* The guest broke the device: DEVICE_NEEDS_RESET plus a config interrupt. Lock held. */
void virtio_mmio_needs_reset(struct virtio_mmio_dev *dev);
/* Whether feature bit is negotiated. */
static inline bool virtio_mmio_has_feature(const struct virtio_mmio_dev *dev, unsigned int bit)
{
	return (dev->acked >> bit) & 1;
}
/* Ask the loop to call queue_notify again for qidx (continue a long batch later). */
void virtio_mmio_kick_self(struct virtio_mmio_dev *dev, unsigned int qidx);

/*
 * For a backend that polls kicks itself (vhost): the kick eventfd of queue qidx (the KVM
 * ioeventfd of QueueNotify), and whether the event loop still watches it. With to_device
 * the loop stops watching it, so queue_notify is no longer called for qidx and the kicks
 * go to whoever polls the eventfd; without, the loop takes them again (device reset).
 * Nobody reads the eventfd's counter (the loop watches it edge-triggered), so such a
 * poller must wait for wake-ups, as vhost does, not for a readable counter.
 * Lock held; any thread. 0 or -errno.
 */
int virtio_mmio_kick_fd(const struct virtio_mmio_dev *dev, unsigned int qidx);
int virtio_mmio_kick_to_device(struct virtio_mmio_dev *dev, unsigned int qidx, bool to_device);

#endif
