// SPDX-License-Identifier: Apache-2.0
/*
 * Metrics lines: the sink's own group, and the device groups of vmm/metrics_dev.c
 * ("net" summing every "net_<iface_id>", and "vsock") as a reader of the file sees them.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/metrics.h"
#include "vmm/metrics_dev.h"

static char mpath[64];

/* The sink is once per process: every test appends to the same file. */
static int sink(void)
{
	if (!mpath[0]) {
		snprintf(mpath, sizeof(mpath), "/tmp/test_metrics_%d", getpid());
		unlink(mpath);
		return metrics_set_path(mpath);
	}
	return 0;
}

/* Flush, and parse the line just written. NULL on any failure. */
static json_t *flush_and_read(void)
{
	char line[65536] = "", last[65536] = "";
	FILE *f;

	if (metrics_flush())
		return NULL;
	f = fopen(mpath, "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		memcpy(last, line, sizeof(last));
	fclose(f);
	if (!last[0] || last[strlen(last) - 1] != '\n')
		return NULL;
	return json_loads(last, 0, NULL);
}

static long long get(json_t *root, const char *group, const char *key)
{
	json_t *v = json_object_get(json_object_get(root, group), key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Flush: true when the line has none of the device groups the tests register. */
static bool no_device_groups(void)
{
	json_t *j = flush_and_read();
	bool r = j && !json_object_get(j, "net") && !json_object_get(j, "net_eth0") &&
		 !json_object_get(j, "vsock");

	json_decref(j);
	return r;
}

TEST(sink_counts_its_flushes)
{
	json_t *a, *b;

	CHECK_EQ(sink(), 0);
	CHECK_EQ(metrics_set_path(mpath), -EBUSY);
	a = flush_and_read();
	b = flush_and_read();
	CHECK(a && b);
	CHECK(json_is_integer(json_object_get(a, "utc_timestamp_ms")));
	CHECK_EQ(get(b, "metrics", "flushes"), get(a, "metrics", "flushes") + 1);
	CHECK_EQ(get(b, "metrics", "dropped_lines"), 0);
	json_decref(a);
	json_decref(b);
}

TEST(net_and_vsock_groups)
{
	static struct metrics_dev d; /* registered groups point into it */
	const char *ids[2] = { "eth0", "wan_1" };
	struct virtio_net_stats ns[2] = {
		{ .rx_packets = 3, .rx_bytes = 300, .tx_packets = 5, .tx_bytes = 500,
		  .rx_dropped_too_big = 1, .tx_dropped_bad = 2, .tx_throttled = 7 },
		{ .rx_packets = 10, .rx_bytes = 1000, .tx_packets = 20, .tx_bytes = 2000,
		  .rx_bad_chains = 4, .tx_dropped_tap = 6, .vhost_irqs = 9, .vhost = true },
	};
	struct virtio_vsock_stats vs = { .rx_packets = 11, .rx_bytes = 111, .tx_packets = 12,
					 .tx_bytes = 122, .conns_opened = 4, .conns_closed = 3,
					 .conns_refused = 2, .rst_sent = 5, .bad_packets = 1,
					 .conns_live = 1, .vhost_ring_errors = 2, .vhost = true };
	json_t *j;

	CHECK_EQ(sink(), 0);
	CHECK(no_device_groups());

	metrics_dev_update(&d, ids, ns, 2, &vs);
	j = flush_and_read();
	CHECK(j);
	CHECK_EQ(get(j, "net_eth0", "rx_packets_count"), 3);
	CHECK_EQ(get(j, "net_eth0", "tx_bytes_count"), 500);
	CHECK_EQ(get(j, "net_eth0", "rx_dropped_too_big"), 1);
	CHECK_EQ(get(j, "net_eth0", "tx_malformed_frames"), 2);
	CHECK_EQ(get(j, "net_eth0", "tx_rate_limiter_throttled"), 7);
	CHECK_EQ(get(j, "net_eth0", "vhost"), 0);
	CHECK_EQ(get(j, "net_wan_1", "tx_packets_count"), 20);
	CHECK_EQ(get(j, "net_wan_1", "tx_dropped_tap"), 6);
	CHECK_EQ(get(j, "net_wan_1", "vhost_irqs"), 9);
	CHECK_EQ(get(j, "net_wan_1", "vhost"), 1);
	/* The aggregate is the sum over the interfaces, counter by counter. */
	CHECK_EQ(get(j, "net", "rx_packets_count"), 13);
	CHECK_EQ(get(j, "net", "rx_bytes_count"), 1300);
	CHECK_EQ(get(j, "net", "tx_packets_count"), 25);
	CHECK_EQ(get(j, "net", "rx_bad_chains"), 4);
	CHECK_EQ(get(j, "net", "vhost"), 1);
	CHECK_EQ(json_object_size(json_object_get(j, "net")), METRICS_NET_N);
	CHECK_EQ(json_object_size(json_object_get(j, "net_eth0")), METRICS_NET_N);
	CHECK_EQ(get(j, "vsock", "rx_packets_count"), 11);
	CHECK_EQ(get(j, "vsock", "tx_bytes_count"), 122);
	CHECK_EQ(get(j, "vsock", "conns_added"), 4);
	CHECK_EQ(get(j, "vsock", "conns_removed"), 3);
	CHECK_EQ(get(j, "vsock", "conns_refused"), 2);
	CHECK_EQ(get(j, "vsock", "rst_sent"), 5);
	CHECK_EQ(get(j, "vsock", "conns_live"), 1);
	CHECK_EQ(get(j, "vsock", "vhost_ring_errors"), 2);
	CHECK_EQ(get(j, "vsock", "vhost_irqs"), 0);
	CHECK_EQ(get(j, "vsock", "vhost"), 1);
	CHECK_EQ(json_object_size(json_object_get(j, "vsock")), METRICS_VSOCK_N);
	json_decref(j);

	/* Later updates overwrite (the devices' counters are cumulative already). */
	ns[0].tx_packets = 6;
	vs.conns_live = 0;
	metrics_dev_update(&d, ids, ns, 2, &vs);
	j = flush_and_read();
	CHECK(j);
	CHECK_EQ(get(j, "net_eth0", "tx_packets_count"), 6);
	CHECK_EQ(get(j, "net", "tx_packets_count"), 26);
	CHECK_EQ(get(j, "vsock", "conns_live"), 0);
	json_decref(j);

	metrics_dev_unregister(&d);
	CHECK(no_device_groups());
}

/* No vsock and no interface: no empty groups; a second set of the same names is refused. */
TEST(only_what_exists)
{
	static struct metrics_dev a, b;
	const char *ids[1] = { "eth0" };
	struct virtio_net_stats ns[1] = { { .tx_packets = 1 } };
	struct virtio_vsock_stats vs = { .conns_opened = 1 };
	json_t *j;

	CHECK_EQ(sink(), 0);
	metrics_dev_update(&a, ids, ns, 1, NULL);
	/* b's "net" and "net_eth0" collide with a's: only its vsock group gets in. */
	metrics_dev_update(&b, ids, ns, 1, &vs);
	j = flush_and_read();
	CHECK(j);
	CHECK_EQ(get(j, "net_eth0", "tx_packets_count"), 1);
	CHECK_EQ(get(j, "vsock", "conns_added"), 1);
	json_decref(j);
	metrics_dev_unregister(&b);
	j = flush_and_read();
	CHECK(j);
	CHECK_EQ(get(j, "net_eth0", "tx_packets_count"), 1);
	CHECK(!json_object_get(j, "vsock"));
	json_decref(j);
	metrics_dev_unregister(&a);

	/* No devices at all: nothing registered. */
	metrics_dev_update(&b, ids, ns, 0, NULL);
	CHECK(no_device_groups());
	metrics_dev_unregister(&b);
	unlink(mpath);
}
