// SPDX-License-Identifier: Apache-2.0
/*
 * Fuzz harness for virtio-vsock: the CONNECT-line parser over the whole input, then the
 * device with the input as a stream of guest TX packets, while a host client holds one
 * connection (so packets can hit a live connection) and the guest posts receive buffers
 * of fuzzed sizes. Input after the first byte: records of [u8 flags][u16 len][len bytes].
 * flags bit 0 forces the CIDs right, bit 1 aims the ports at the live connection,
 * bit 2 reposts receive buffers, bit 3 has the host client write, bit 4 resets the device.
 *
 *   libFuzzer:  make fuzz-vsock (clang, -fsanitize=fuzzer,address,undefined)
 *   replay:     built with -DFUZZ_REPLAY; replays files or directories named on argv
 *               (default tests/fuzz/corpus/vsock), as the unit-test run does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/fuzz/replay.h"
#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/memory.h"
#include "vmm/util.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/vsock.h"

#define RAM_SIZE (1u << 20)
#define QS 16
#define QBASE(q) (0x1000u + (q) * 0x4000u)
#define RXBUFS 0x20000u
#define TXBUF 0x80000u
#define CID 3


static uint8_t *ram;
static struct guest_mem mem;
static struct event_loop loop;
static char dir[64], path[96];
static uint16_t avail_idx[3];

static void init_once(void)
{
	if (ram)
		return;
	log_set_level(LOG_OFF);
	ram = aligned_alloc(4096, RAM_SIZE);
	snprintf(dir, sizeof(dir), "/tmp/fuzz-vsock-XXXXXX");
	if (!ram || ev_loop_init(&loop) || !mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/v.sock", dir);
}

static void wr(struct virtio_mmio_dev *dev, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(dev, off, (const uint8_t *)&v, 4);
}

static void pump(int n)
{
	for (int i = 0; i < n; i++)
		ev_loop_run_once(&loop, 0);
}

static void post(unsigned int q, uint16_t head)
{
	uint16_t *avail = (uint16_t *)(ram + QBASE(q) + 0x1000);

	avail[2 + avail_idx[q] % QS] = head;
	avail_idx[q]++;
	avail[1] = avail_idx[q];
}

static void desc(unsigned int q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct virtq_desc d = { addr, len, flags, 0 };

	memcpy(ram + QBASE(q) + 16u * i, &d, sizeof(d));
}

static void setup(struct virtio_mmio_dev *dev)
{
	wr(dev, VIRTIO_MMIO_STATUS, 0);
	pump(2);
	memset(ram, 0, RAM_SIZE);
	memset(avail_idx, 0, sizeof(avail_idx));
	wr(dev, VIRTIO_MMIO_STATUS, 1);
	wr(dev, VIRTIO_MMIO_STATUS, 3);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(dev, VIRTIO_MMIO_STATUS, 11);
	for (unsigned int q = 0; q < 3; q++) {
		wr(dev, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(dev, VIRTIO_MMIO_QUEUE_NUM, QS);
		wr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, QBASE(q));
		wr(dev, VIRTIO_MMIO_QUEUE_AVAIL_LOW, QBASE(q) + 0x1000);
		wr(dev, VIRTIO_MMIO_QUEUE_USED_LOW, QBASE(q) + 0x2000);
		wr(dev, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(dev, VIRTIO_MMIO_STATUS, 15);
	pump(2);
}

static void post_rx(uint8_t sizes)
{
	for (uint16_t i = 0; i < QS; i++) {
		uint32_t len = (sizes & 1) ? 44u + (uint32_t)(i * 37u) : 4096;

		desc(0, i, RXBUFS + i * 0x1000u, len, VIRTQ_DESC_F_WRITE);
		post(0, i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsock_cfg cfg = { .present = true, .guest_cid = CID, .uds_path = path };
	struct virtio_mmio_env env = { .mem = &mem, .loop = &loop };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct virtio_vsock *v;
	struct virtio_mmio_dev *dev;
	uint32_t port, local = 0;
	size_t off = 1;
	int fd, r;
	uint16_t head = 0;

	init_once();
	r = vsock_parse_connect((const char *)data, size, &port);
	if (r > (int)size || r > VSOCK_CONNECT_LINE_MAX)
		abort();
	if (size < 1)
		return 0;

	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	if (virtio_vsock_create(&v, &cfg, &env, 0xd0000000ULL, NULL))
		abort();
	dev = virtio_vsock_mmio(v);
	setup(dev);
	post_rx(data[0]);
	wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);

	/* One live host-initiated connection: its REQUEST tells the local port. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, "CONNECT 1234\n", 13) != 13)
		abort();
	pump(4);
	{
		struct vsock_hdr h;

		memcpy(&h, ram + RXBUFS, sizeof(h));
		if (h.op == VSOCK_OP_REQUEST)
			local = h.src_port;
	}

	while (off + 3 <= size) {
		uint8_t flags = data[off];
		uint16_t len = (uint16_t)(data[off + 1] | data[off + 2] << 8);
		struct vsock_hdr h = { 0 };

		off += 3;
		len = (uint16_t)MIN((size_t)len, size - off);
		len = (uint16_t)MIN(len, 0x10000u - 64);
		memcpy(ram + TXBUF, data + off, len);
		off += len;
		if (len >= sizeof(h)) {
			memcpy(&h, ram + TXBUF, sizeof(h));
			if (flags & 1) {
				h.src_cid = CID;
				h.dst_cid = VSOCK_HOST_CID;
				h.type = VSOCK_TYPE_STREAM;
				h.len = MIN(h.len, (uint32_t)(len - sizeof(h)));
			}
			if (flags & 2) {
				h.src_port = 1234;
				h.dst_port = local;
			}
			memcpy(ram + TXBUF, &h, sizeof(h));
		}
		desc(1, head % QS, TXBUF, len, 0);
		post(1, head % QS);
		head++;
		wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		if (flags & 4) {
			post_rx(flags >> 5);
			wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		}
		if (flags & 8 && send(fd, data, MIN(size, (size_t)4096), MSG_NOSIGNAL) < 0) {
			/* the device may have closed it: fine */
		}
		if (flags & 16)
			setup(dev);
		pump(3);
	}
	close(fd);
	virtio_vsock_destroy(v);
	/* Nothing of this device may be left on the loop. */
	if (ev_loop_run_once(&loop, 0) != 0)
		abort();
	return 0;
}

#ifdef FUZZ_REPLAY
int main(int argc, char **argv)
{
	int r = fuzz_replay_main(argc, argv, "fuzz_vsock_replay", "tests/fuzz/corpus/vsock");

	if (ram) {
		unlink(path);
		rmdir(dir);
	}
	return r;
}
#endif
