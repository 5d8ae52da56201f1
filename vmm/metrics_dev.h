/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device metrics groups in Firecracker's shape: "net" (every interface summed), one
 * "net_<iface_id>" per interface, "vsock", and "uart" (the serial console). The devices
 * keep their own counters (virtio_net_get_stats, virtio_vsock_get_stats,
 * serial_get_stats); a refresh copies them into these groups before each flush, on the
 * VMM thread, as the "vmm" group's are. The groups are registered at the first refresh
 * that sees the devices and stay until metrics_dev_unregister(), so the last line
 * written at exit still carries them. Each virtio group ends with the "vhost" gauge: 1
 * while the kernel backend runs the queues (in "net": how many interfaces).
 */
#ifndef VMM_METRICS_DEV_H
#define VMM_METRICS_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/devices/serial.h"
#include "vmm/metrics.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/vsock.h"

#define METRICS_NET_N 15
#define METRICS_VSOCK_N 16
#define METRICS_UART_N 5

struct metrics_dev {
	bool registered;
	unsigned int nnet; /* interfaces with a group */
	bool has_vsock;
	bool has_uart; /* registered on its own, at the first metrics_dev_update_uart() */
	struct metrics_group net, iface[CONFIG_MAX_NETS], vsock, uart;
	char iface_name[CONFIG_MAX_NETS][CONFIG_ID_MAX + sizeof("net_")];
	uint64_t net_vals[METRICS_NET_N];
	uint64_t iface_vals[CONFIG_MAX_NETS][METRICS_NET_N];
	uint64_t vsock_vals[METRICS_VSOCK_N];
	uint64_t uart_vals[METRICS_UART_N];
};

/*
 * Copy counters into d's groups: n interfaces with ids[i] and ns[i] (n is clamped to
 * CONFIG_MAX_NETS), and vs (NULL: no vsock device). The first call registers the groups
 * it has values for; later calls must describe the same devices. For tests, and for
 * metrics_dev_refresh().
 */
void metrics_dev_update(struct metrics_dev *d, const char *const *ids,
			const struct virtio_net_stats *ns, unsigned int n,
			const struct virtio_vsock_stats *vs);

/* Copy the serial console's counters into the "uart" group, registering it the first time. */
void metrics_dev_update_uart(struct metrics_dev *d, const struct serial_stats *st);

/* Read the devices' counters (VMM thread, devices alive; serial may be NULL) and update d. */
void metrics_dev_refresh(struct metrics_dev *d, struct virtio_net *const *net,
			 unsigned int nnet, struct virtio_vsock *vsock, struct serial *serial);

/* Remove d's groups from the metrics lines (before d goes away). */
void metrics_dev_unregister(struct metrics_dev *d);

#endif
