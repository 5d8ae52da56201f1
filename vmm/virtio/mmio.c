// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-mmio transport (virtio 1.2, 4.2.2, version 2 registers). The register file is
 * driven by a possibly hostile guest: unknown offsets, odd sizes, writes out of order
 * and impossible status transitions are ignored (and logged at debug level), never
 * fatal to the VMM.
 */
#include "vmm/virtio/mmio.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "vmm/log.h"
#include "vmm/memory.h"
#include "vmm/util.h"

/*
 * Kick eventfds are watched edge-triggered and never read: every write to an eventfd
 * (KVM's ioeventfd, or kick_self) wakes its waiters, so each write after the last
 * epoll_wait is one event, and the read syscall per kick is saved. The counter only
 * grows; at one kick a nanosecond it would take centuries to saturate, and a saturated
 * in-kernel eventfd_signal still wakes. Writes that come while the handler runs give
 * one more call, which finds the ring as it is: queue_notify copes with empty rings.
 */
#define KICK_EVENTS (EPOLLIN | EPOLLET)

static void kick_event(void *opaque, uint32_t events)
{
	struct virtio_mmio_kick *k = opaque;
	struct virtio_mmio_dev *dev = k->dev;

	pthread_mutex_lock(&dev->lock);
	if (dev->activated && dev->activate_pending) {
		dev->activate_pending = false;
		if (dev->ops->activate && dev->ops->activate(dev) < 0) {
			dev->activated = false;
			virtio_mmio_needs_reset(dev);
		}
	}
	if (dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) &&
	    dev->queues[k->qidx].active)
		dev->ops->queue_notify(dev, k->qidx);
	pthread_mutex_unlock(&dev->lock);
}

int virtio_mmio_irqfd(struct virtio_mmio_dev *dev)
{
	return dev->irqfd;
}

void virtio_mmio_uninit(struct virtio_mmio_dev *dev)
{
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		struct virtio_mmio_kick *k = &dev->kicks[i];

		if (k->on_loop)
			ev_del(dev->env.loop, &k->src);
		if (k->registered_ioeventfd)
			dev->env.set_ioeventfd(dev->env.ctx, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, i,
					       k->wildcard_ioeventfd, k->src.fd, false);
		if (k->src.fd >= 0)
			close(k->src.fd);
		k->src.fd = -1;
		k->on_loop = false;
		k->registered_ioeventfd = false;
		k->wildcard_ioeventfd = false;
	}
	if (dev->irqfd >= 0)
		close(dev->irqfd);
	dev->irqfd = -1;
	pthread_mutex_destroy(&dev->lock);
}

int virtio_mmio_init(struct virtio_mmio_dev *dev, const struct virtio_dev_ops *ops, void *priv,
		     const struct virtio_mmio_env *env, uint64_t base)
{
	int r;

	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES)
		return -EINVAL;
	memset(dev, 0, sizeof(*dev));
	pthread_mutex_init(&dev->lock, NULL);
	dev->ops = ops;
	dev->priv = priv;
	dev->env = *env;
	dev->base = base;
	dev->irqfd = -1;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		dev->kicks[i].src.fd = -1;
	dev->offered = ops->features(dev);

	dev->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irqfd < 0) {
		r = -errno;
		goto fail;
	}
	for (unsigned int i = 0; i < ops->num_queues; i++) {
		struct virtio_mmio_kick *k = &dev->kicks[i];

		k->dev = dev;
		k->qidx = i;
		k->src.fn = kick_event;
		k->src.opaque = k;
		k->src.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->src.fd < 0) {
			r = -errno;
			goto fail;
		}
		r = ev_add(env->loop, &k->src, KICK_EVENTS);
		if (r < 0)
			goto fail;
		k->on_loop = true;
		if (env->set_ioeventfd) {
			/*
			 * With one queue there is nothing to match: KVM then takes the write on
			 * its fast MMIO path (VMX skips the instruction without decoding it)
			 * instead of emulating it to learn the value. Another queue index
			 * written there is a kick of queue 0, which finds the ring as it is.
			 */
			bool wildcard = ops->num_queues == 1 && env->ioeventfd_wildcard;

			r = env->set_ioeventfd(env->ctx, base + VIRTIO_MMIO_QUEUE_NOTIFY, i,
					       wildcard, k->src.fd, true);
			if (r < 0)
				goto fail;
			k->registered_ioeventfd = true;
			k->wildcard_ioeventfd = wildcard;
		}
	}
	return 0;
fail:
	virtio_mmio_uninit(dev);
	return r;
}

void virtio_mmio_interrupt(struct virtio_mmio_dev *dev, uint32_t bits)
{
	dev->isr |= bits;
	if (eventfd_write(dev->irqfd, 1) < 0)
		log_warn("virtio-mmio@%#llx: irqfd write: %s", (unsigned long long)dev->base,
			 strerror(errno));
}

void virtio_mmio_config_changed(struct virtio_mmio_dev *dev)
{
	dev->config_gen++;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_interrupt(dev, VIRTIO_INT_CONFIG);
}

void virtio_mmio_needs_reset(struct virtio_mmio_dev *dev)
{
	if (dev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_warn_ratelimited(&dev->guest_err_rl,
			     "virtio-mmio@%#llx: guest error, device needs reset",
			     (unsigned long long)dev->base);
	dev->status |= VIRTIO_STATUS_NEEDS_RESET;
	/* 2.1.2: the driver learns of NEEDS_RESET through a configuration notification. */
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_interrupt(dev, VIRTIO_INT_CONFIG);
}

void virtio_mmio_kick_self(struct virtio_mmio_dev *dev, unsigned int qidx)
{
	if (qidx < dev->ops->num_queues)
		eventfd_write(dev->kicks[qidx].src.fd, 1);
}

int virtio_mmio_kick_fd(const struct virtio_mmio_dev *dev, unsigned int qidx)
{
	return qidx < dev->ops->num_queues ? dev->kicks[qidx].src.fd : -1;
}

int virtio_mmio_kick_to_device(struct virtio_mmio_dev *dev, unsigned int qidx, bool to_device)
{
	struct virtio_mmio_kick *k;

	if (qidx >= dev->ops->num_queues)
		return -EINVAL;
	k = &dev->kicks[qidx];
	if (!k->on_loop)
		return -EBADF;
	/* Muted rather than removed: the registration (and its cleanup) stays as it was. */
	/* Back on the loop, an eventfd written meanwhile (it never reads 0 again after
	   the first kick) gives one call: the rings are looked at once. */
	return ev_mod(dev->env.loop, &k->src, to_device ? 0 : KICK_EVENTS);
}

static void device_reset(struct virtio_mmio_dev *dev)
{
	/* The device first: its in-flight I/O may still point into the rings' buffers. */
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtq_reset_live(&dev->queues[i]);
	dev->status = 0;
	dev->isr = 0;
	dev->acked = 0;
	dev->dev_feat_sel = 0;
	dev->drv_feat_sel = 0;
	dev->queue_sel = 0;
	dev->activated = false;
	dev->activate_pending = false;
	dev->offered = dev->ops->features(dev);
}

static struct virtq *selected_queue(struct virtio_mmio_dev *dev)
{
	return dev->queue_sel < dev->ops->num_queues ? &dev->queues[dev->queue_sel] : NULL;
}

static bool features_ok(const struct virtio_mmio_dev *dev)
{
	if (dev->acked & ~dev->offered)
		return false;
	/* Legacy (pre-1.0) drivers are not supported by a version 2 transport. */
	return (dev->acked >> VIRTIO_F_VERSION_1) & 1;
}

static int activate(struct virtio_mmio_dev *dev)
{
	bool event_idx = virtio_mmio_has_feature(dev, VIRTIO_F_RING_EVENT_IDX);

	for (unsigned int i = 0; i < dev->ops->num_queues; i++) {
		struct virtq *q = &dev->queues[i];

		if (!q->ready)
			continue;
		/* Checked again: QueueReady was validated, but not against a later change. */
		if (virtq_activate(q, dev->env.mem, event_idx) < 0) {
			log_warn_ratelimited(&dev->guest_err_rl,
					     "virtio-mmio@%#llx: queue %u outside guest memory",
					     (unsigned long long)dev->base, i);
			return -EINVAL;
		}
	}
	/* The device part runs on the VMM thread at the first kick (kick_event). */
	dev->activate_pending = true;
	return 0;
}

static void write_status(struct virtio_mmio_dev *dev, uint32_t val)
{
	uint32_t old = dev->status, added;

	if (val == 0) {
		device_reset(dev);
		return;
	}
	/* Only the device sets NEEDS_RESET; a driver writes back what it read. */
	val = (val & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET);
	/* Bits are only ever added (3.1.1); clearing one needs a reset. */
	if ((val & old) != old || val > 0xff) {
		log_debug("virtio-mmio: status %#x -> %#x refused", old, val);
		return;
	}
	added = val & ~old;
	if ((added & VIRTIO_STATUS_DRIVER) && !(val & VIRTIO_STATUS_ACKNOWLEDGE))
		added &= ~VIRTIO_STATUS_DRIVER;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		/* Left clear when refused: the driver reads it back and gives up (3.1.1). */
		if (!(val & VIRTIO_STATUS_DRIVER) || !features_ok(dev))
			added &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	dev->status |= added & ~VIRTIO_STATUS_DRIVER_OK;
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		if (!(dev->status & VIRTIO_STATUS_FEATURES_OK) ||
		    (dev->status & VIRTIO_STATUS_NEEDS_RESET)) {
			log_debug("virtio-mmio: DRIVER_OK without FEATURES_OK refused");
			return;
		}
		if (activate(dev) < 0) {
			virtio_mmio_needs_reset(dev);
			return;
		}
		dev->status |= VIRTIO_STATUS_DRIVER_OK;
		dev->activated = true;
		/* Kicks that came before DRIVER_OK were dropped; look at the rings now. */
		for (unsigned int i = 0; i < dev->ops->num_queues; i++)
			if (dev->queues[i].active)
				virtio_mmio_kick_self(dev, i);
	}
}

/* Queue registers may only change between FEATURES_OK and DRIVER_OK, queue not ready. */
static struct virtq *queue_for_setup(struct virtio_mmio_dev *dev)
{
	struct virtq *q = selected_queue(dev);

	if (!q || q->ready || !(dev->status & VIRTIO_STATUS_FEATURES_OK) ||
	    (dev->status & VIRTIO_STATUS_DRIVER_OK))
		return NULL;
	return q;
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & 0xffffffff00000000ULL) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | ((uint64_t)hi << 32);
}

static uint32_t reg_read(struct virtio_mmio_dev *dev, uint64_t off)
{
	struct virtq *q;

	switch (off) {
	case VIRTIO_MMIO_MAGIC:
		return VIRTIO_MMIO_MAGIC_VALUE;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (dev->dev_feat_sel > 1)
			return 0;
		return (uint32_t)(dev->offered >> (32 * dev->dev_feat_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return selected_queue(dev) ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		q = selected_queue(dev);
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return dev->isr;
	case VIRTIO_MMIO_STATUS:
		return dev->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions (4.2.2.1) */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->config_gen;
	default:
		log_debug("virtio-mmio: read of register %#llx ignored", (unsigned long long)off);
		return 0;
	}
}

static void reg_write(struct virtio_mmio_dev *dev, uint64_t off, uint32_t val)
{
	struct virtq *q;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->dev_feat_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Features are fixed once FEATURES_OK is set (3.1.1). */
		if (!(dev->status & VIRTIO_STATUS_DRIVER) ||
		    (dev->status & VIRTIO_STATUS_FEATURES_OK) || dev->drv_feat_sel > 1)
			break;
		if (dev->drv_feat_sel)
			set_hi(&dev->acked, val);
		else
			set_lo(&dev->acked, val);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->drv_feat_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_NUM:
		q = queue_for_setup(dev);
		if (!q)
			break;
		/* Stored as given; virtq_addrs_valid() refuses a bad size at QueueReady. */
		q->num = val > 0xffff ? 0 : (uint16_t)val;
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		q = selected_queue(dev);
		if (!q || (dev->status & VIRTIO_STATUS_DRIVER_OK))
			break;
		if (!(val & 1)) {
			q->ready = false;
			return;
		}
		if (!(dev->status & VIRTIO_STATUS_FEATURES_OK))
			break;
		if (!virtq_addrs_valid(q, dev->env.mem)) {
			/* Debug level: a guest can write this as often as it likes. */
			log_debug("virtio-mmio@%#llx: queue %u: bad size or address, not ready",
				 (unsigned long long)dev->base, dev->queue_sel);
			return;
		}
		q->ready = true;
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Only reached without KVM ioeventfd (tests) or for an unknown queue. */
		if (val < dev->ops->num_queues)
			virtio_mmio_kick_self(dev, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		dev->isr &= ~val;
		return;
	case VIRTIO_MMIO_STATUS:
		write_status(dev, val);
		return;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH: {
		uint64_t *addr;

		q = queue_for_setup(dev);
		if (!q)
			break;
		if (off < VIRTIO_MMIO_QUEUE_AVAIL_LOW)
			addr = &q->desc_gpa;
		else if (off < VIRTIO_MMIO_QUEUE_USED_LOW)
			addr = &q->avail_gpa;
		else
			addr = &q->used_gpa;
		if (off & 4)
			set_hi(addr, val);
		else
			set_lo(addr, val);
		return;
	}
	case VIRTIO_MMIO_SHM_SEL:
		return;
	default:
		break;
	}
	log_debug("virtio-mmio: write %#x to register %#llx ignored", val,
		  (unsigned long long)off);
}

static bool config_access_ok(const struct virtio_mmio_dev *dev, uint64_t off, uint32_t len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return false;
	return util_range_ok(off - VIRTIO_MMIO_CONFIG, len, dev->ops->config_len);
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio_dev *dev = opaque;
	uint32_t v;

	if (len > 8)
		return;
	memset(data, 0, len);
	pthread_mutex_lock(&dev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (config_access_ok(dev, off, len) && dev->ops->config_read)
			dev->ops->config_read(dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	} else if (len == 4 && IS_ALIGNED(off, 4)) {
		v = reg_read(dev, off);
		memcpy(data, &v, 4);
	} else {
		log_debug("virtio-mmio: %u-byte read at %#llx ignored", len,
			  (unsigned long long)off);
	}
	pthread_mutex_unlock(&dev->lock);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio_dev *dev = opaque;
	uint32_t v;

	if (len > 8)
		return;
	pthread_mutex_lock(&dev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (config_access_ok(dev, off, len) && dev->ops->config_write)
			dev->ops->config_write(dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	} else if (len == 4 && IS_ALIGNED(off, 4)) {
		memcpy(&v, data, 4);
		reg_write(dev, off, v);
	} else {
		log_debug("virtio-mmio: %u-byte write at %#llx ignored", len,
			  (unsigned long long)off);
	}
	pthread_mutex_unlock(&dev->lock);
}

const struct bus_ops virtio_mmio_bus_ops = {
	.read = mmio_read,
	.write = mmio_write,
};
