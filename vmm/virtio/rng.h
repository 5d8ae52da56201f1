/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-rng (virtio 1.2, 5.4): one queue of device-writable buffers that the device
 * fills from the host's getrandom(). The API's PUT /entropy; rate-limited in bytes and
 * requests like the other devices.
 */
#ifndef VMM_VIRTIO_RNG_H
#define VMM_VIRTIO_RNG_H

#include "vmm/config.h"
#include "vmm/virtio/mmio.h"

struct virtio_rng;

int virtio_rng_create(struct virtio_rng **out, const struct entropy_cfg *cfg,
		      const struct virtio_mmio_env *env, uint64_t mmio_base,
		      struct config_err *err);
struct virtio_mmio_dev *virtio_rng_mmio(struct virtio_rng *rng);
void virtio_rng_destroy(struct virtio_rng *rng);
/* Bytes handed to the guest so far. */
uint64_t virtio_rng_bytes(const struct virtio_rng *rng);

#endif
