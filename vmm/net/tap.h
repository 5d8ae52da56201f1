/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TAP devices for virtio-net's userspace backend. The operator creates the TAP (with
 * `ip tuntap add`, in the jail's network namespace); the VMM only attaches to it by
 * name, so it needs no CAP_NET_ADMIN when the TAP's owner is its user.
 */
#ifndef VMM_NET_TAP_H
#define VMM_NET_TAP_H

#include <stdbool.h>

/* The virtio_net_hdr_v1 (virtio 1.2, 5.1.6): 12 bytes, num_buffers included. */
#define TAP_VNET_HDR_LEN 12

/* TUNSETOFFLOAD flags we use (what the reader of the TAP, i.e. the guest, accepts). */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04

/*
 * Attach to the existing TAP name with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a
 * TAP_VNET_HDR_LEN-byte header, non-blocking, close-on-exec. No offloads yet
 * (tap_set_offload at activation). 0 and *fd_out, or -errno (-ENAMETOOLONG for a name
 * that does not fit IFNAMSIZ).
 */
int tap_open(const char *name, int *fd_out);
/* TUNSETOFFLOAD with TAP_OFFLOAD_* flags. 0 or -errno. */
int tap_set_offload(int fd, unsigned int flags);
/* Whether the read/write error err (-errno) means the TAP itself is gone. */
bool tap_error_is_gone(int err);
/* Whether /dev/vhost-net exists (the kernel backend could be used). */
bool tap_vhost_net_present(void);

#endif
