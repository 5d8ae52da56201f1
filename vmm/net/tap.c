// SPDX-License-Identifier: Apache-2.0
#include "vmm/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/util.h"

int tap_open(const char *name, int *fd_out)
{
	cleanup_close int fd = -1;
	struct ifreq ifr;
	int hdr = TAP_VNET_HDR_LEN;

	if (!name || !name[0])
		return -EINVAL;
	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	/* TUNSETIFF would create a missing TAP (with CAP_NET_ADMIN): attach only. */
	if (!if_nametoindex(name))
		return -ENODEV;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	/* No IFF_MULTI_QUEUE: one queue pair, and attaching fails on a TAP created with it. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return -errno;
	/* Until the guest acks offloads, the kernel must hand us finished frames. */
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0)
		return -errno;
	*fd_out = util_steal_fd(&fd);
	return 0;
}

int tap_set_offload(int fd, unsigned int flags)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

bool tap_error_is_gone(int err)
{
	/* EBADFD: the interface was deleted under the open fd; EIO/ENXIO/ENODEV: detached. */
	return err == -EBADFD || err == -EIO || err == -ENXIO || err == -ENODEV ||
	       err == -EPIPE;
}

bool tap_vhost_net_present(void)
{
	return access("/dev/vhost-net", F_OK) == 0;
}
