// SPDX-License-Identifier: Apache-2.0
#include "vmm/metrics_dev.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/util.h"

/* One table per device kind: the JSON name and where the counter lives in the stats. */
struct counter {
	const char *name;
	size_t off;
};

#define NET(n, f) { n, offsetof(struct virtio_net_stats, f) }
static const struct counter net_counters[METRICS_NET_N - 1] = {
	NET("rx_packets_count", rx_packets),
	NET("rx_bytes_count", rx_bytes),
	NET("tx_packets_count", tx_packets),
	NET("tx_bytes_count", tx_bytes),
	NET("rx_dropped_too_big", rx_dropped_too_big),
	NET("rx_bad_chains", rx_bad_chains),
	NET("rx_no_buffers", rx_no_buffers),
	NET("tx_malformed_frames", tx_dropped_bad),
	NET("tx_dropped_tap", tx_dropped_tap),
	NET("tx_eagain", tx_eagain),
	NET("rx_rate_limiter_throttled", rx_throttled),
	NET("tx_rate_limiter_throttled", tx_throttled),
	NET("vhost_irqs", vhost_irqs),
	NET("vhost_ring_errors", vhost_ring_errors),
};
#undef NET

#define VS(n, f) { n, offsetof(struct virtio_vsock_stats, f) }
static const struct counter vsock_counters[METRICS_VSOCK_N - 1] = {
	VS("rx_packets_count", rx_packets),
	VS("rx_bytes_count", rx_bytes),
	VS("tx_packets_count", tx_packets),
	VS("tx_bytes_count", tx_bytes),
	VS("conns_added", conns_opened),
	VS("conns_removed", conns_closed),
	VS("conns_refused", conns_refused),
	VS("rst_sent", rst_sent),
	VS("rst_received", rst_received),
	VS("bad_packets", bad_packets),
	VS("rx_bad_chains", rx_bad_chains),
	VS("rst_dropped", rst_dropped),
	VS("conns_live", conns_live),
	VS("vhost_irqs", vhost_irqs),
	VS("vhost_ring_errors", vhost_ring_errors),
};
#undef VS

/* Firecracker's "uart" names; flush_count and missed_read_count have no meaning here. */
#define UART(n, f) { n, offsetof(struct serial_stats, f) }
static const struct counter uart_counters[METRICS_UART_N] = {
	UART("write_count", write_count),
	UART("read_count", read_count),
	UART("missed_write_count", missed_write_count),
	UART("rate_limiter_dropped_bytes", rate_limiter_dropped_bytes),
	UART("error_count", error_count),
};
#undef UART

/* The groups' name arrays, built once from the tables, then the "vhost" gauge. */
static const char *net_names[METRICS_NET_N];
static const char *vsock_names[METRICS_VSOCK_N];
static const char *uart_names[METRICS_UART_N];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
	for (unsigned int i = 0; i < METRICS_NET_N - 1; i++)
		net_names[i] = net_counters[i].name;
	net_names[METRICS_NET_N - 1] = "vhost";
	for (unsigned int i = 0; i < METRICS_VSOCK_N - 1; i++)
		vsock_names[i] = vsock_counters[i].name;
	vsock_names[METRICS_VSOCK_N - 1] = "vhost";
	for (unsigned int i = 0; i < METRICS_UART_N; i++)
		uart_names[i] = uart_counters[i].name;
}

/* n counters from the table, then the vhost gauge. */
static void fill(uint64_t *vals, const struct counter *c, unsigned int n, const void *stats,
		 bool vhost)
{
	for (unsigned int i = 0; i < n; i++)
		__atomic_store_n(&vals[i], *(const uint64_t *)((const char *)stats + c[i].off),
				 __ATOMIC_RELAXED);
	__atomic_store_n(&vals[n], vhost ? 1 : 0, __ATOMIC_RELAXED);
}

static void add_group(struct metrics_group *g, const char *name, const char **names,
		      unsigned int n, uint64_t *vals)
{
	int r;

	*g = (struct metrics_group){ .name = name, .n = n, .names = names, .vals = vals };
	r = metrics_register(g);
	if (r)
		log_warn("metrics: group %s not registered: %s", name, strerror(-r));
}

static void register_groups(struct metrics_dev *d, const char *const *ids, unsigned int n,
			    bool vsock)
{
	pthread_once(&names_once, build_names);
	d->nnet = n;
	d->has_vsock = vsock;
	if (n)
		add_group(&d->net, "net", net_names, METRICS_NET_N, d->net_vals);
	for (unsigned int i = 0; i < n; i++) {
		snprintf(d->iface_name[i], sizeof(d->iface_name[i]), "net_%s", ids[i]);
		add_group(&d->iface[i], d->iface_name[i], net_names, METRICS_NET_N,
			  d->iface_vals[i]);
	}
	if (vsock)
		add_group(&d->vsock, "vsock", vsock_names, METRICS_VSOCK_N, d->vsock_vals);
	d->registered = true;
}

void metrics_dev_update(struct metrics_dev *d, const char *const *ids,
			const struct virtio_net_stats *ns, unsigned int n,
			const struct virtio_vsock_stats *vs)
{
	uint64_t sum[METRICS_NET_N] = { 0 };

	n = MIN(n, (unsigned int)CONFIG_MAX_NETS);
	if (!d->registered)
		register_groups(d, ids, n, vs != NULL);
	n = MIN(n, d->nnet);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t *v = d->iface_vals[i];

		fill(v, net_counters, METRICS_NET_N - 1, &ns[i], ns[i].vhost);
		for (unsigned int k = 0; k < METRICS_NET_N; k++)
			sum[k] += __atomic_load_n(&v[k], __ATOMIC_RELAXED);
	}
	for (unsigned int k = 0; n && k < METRICS_NET_N; k++)
		__atomic_store_n(&d->net_vals[k], sum[k], __ATOMIC_RELAXED);
	if (vs && d->has_vsock)
		fill(d->vsock_vals, vsock_counters, METRICS_VSOCK_N - 1, vs, vs->vhost);
}

void metrics_dev_update_uart(struct metrics_dev *d, const struct serial_stats *st)
{
	if (!d->has_uart) {
		pthread_once(&names_once, build_names);
		add_group(&d->uart, "uart", uart_names, METRICS_UART_N, d->uart_vals);
		d->has_uart = true;
	}
	for (unsigned int i = 0; i < METRICS_UART_N; i++)
		__atomic_store_n(&d->uart_vals[i],
				 *(const uint64_t *)((const char *)st + uart_counters[i].off),
				 __ATOMIC_RELAXED);
}

void metrics_dev_refresh(struct metrics_dev *d, struct virtio_net *const *net,
			 unsigned int nnet, struct virtio_vsock *vsock, struct serial *serial)
{
	struct virtio_net_stats ns[CONFIG_MAX_NETS];
	const char *ids[CONFIG_MAX_NETS];
	struct virtio_vsock_stats vs;

	nnet = MIN(nnet, (unsigned int)CONFIG_MAX_NETS);
	for (unsigned int i = 0; i < nnet; i++) {
		virtio_net_get_stats(net[i], &ns[i]);
		ids[i] = virtio_net_id(net[i]);
	}
	if (vsock)
		virtio_vsock_get_stats(vsock, &vs);
	metrics_dev_update(d, ids, ns, nnet, vsock ? &vs : NULL);
	if (serial) {
		struct serial_stats st;

		serial_get_stats(serial, &st);
		metrics_dev_update_uart(d, &st);
	}
}

void metrics_dev_unregister(struct metrics_dev *d)
{
	if (d->has_uart)
		metrics_unregister(&d->uart);
	d->has_uart = false;
	if (!d->registered)
		return;
	/* Unregistering a group that never made it in is a no-op. */
	if (d->nnet)
		metrics_unregister(&d->net);
	for (unsigned int i = 0; i < d->nnet; i++)
		metrics_unregister(&d->iface[i]);
	if (d->has_vsock)
		metrics_unregister(&d->vsock);
	d->registered = false;
}
