// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk from inside the guest. The host prepares drive 0 (read-write) and drive 1
 * (read-only) so that every 8-byte word holds its own byte offset in the image; the
 * host checks what the guest wrote after the VMM exits.
 *   guest.sectors0=N guest.sectors1=N   capacities
 *   guest.id0=ID                        drive_id of drive 0 (get-id)
 */
#include "tests/guest/virtio.h"

#include "vmm/boot/layout.h"

#define DEV(n) (VIRTIO_MMIO_START + (n) * VIRTIO_MMIO_SIZE)
#define WRITE_SECTOR 2048 /* the host checks this 4 KiB */

static struct vq vq0 __attribute__((aligned(4096)));
static uint8_t buf[1 << 20] __attribute__((aligned(4096)));

static bool pattern_ok(const uint8_t *p, uint64_t offset, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w != offset + i)
			return false;
	}
	return true;
}

static void blk_basic(struct vdev *d, uint64_t sectors)
{
	char id[32] = "", want_id[32] = "";
	uint64_t cap;

	cap = mmio_read32(d->base + VM_CONFIG) |
	      ((uint64_t)mmio_read32(d->base + VM_CONFIG + 4) << 32);
	check_eq(cap, sectors, "capacity from config space");

	memset(buf, 0, 4096);
	check_eq(blk_rw(d, BLK_T_IN, 0, buf, 4096), BLK_S_OK, "read sectors 0-7");
	check(pattern_ok(buf, 0, 4096), "read data matches the image", NULL);
	check_eq(blk_rw(d, BLK_T_IN, 1001, buf, 512 * 3), BLK_S_OK, "read at sector 1001");
	check(pattern_ok(buf, 1001 * 512, 512 * 3), "unaligned read data", NULL);
	check_eq(blk_rw(d, BLK_T_IN, sectors - 8, buf, 4096), BLK_S_OK, "read the last 4 KiB");
	check(pattern_ok(buf, (sectors - 8) * 512, 4096), "last 4 KiB data", NULL);

	for (int i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(0xa5 ^ i);
	check_eq(blk_rw(d, BLK_T_OUT, WRITE_SECTOR, buf, 4096), BLK_S_OK, "write 4 KiB");
	memset(buf, 0, 4096);
	check_eq(blk_rw(d, BLK_T_IN, WRITE_SECTOR, buf, 4096), BLK_S_OK, "read back");
	{
		bool same = true;

		for (int i = 0; i < 4096; i++)
			same &= buf[i] == (uint8_t)(0xa5 ^ i);
		check(same, "read back what was written", NULL);
	}
	if (d->features & (1ULL << VIRTIO_BLK_F_FLUSH))
		check_eq(blk_rw(d, BLK_T_FLUSH, 0, NULL, 0), BLK_S_OK, "flush");

	memset(id, 0, sizeof(id));
	check_eq(blk_rw(d, BLK_T_GET_ID, 0, id, 20), BLK_S_OK, "get-id");
	if (param_str("id0", want_id, sizeof(want_id)))
		check(!memcmp(id, want_id, strlen(want_id) + 1), "get-id returns the drive_id", id);

	check_eq(blk_rw(d, BLK_T_IN, sectors, buf, 512), BLK_S_IOERR, "read past the end fails");
	check_eq(blk_rw(d, BLK_T_IN, sectors - 1, buf, 1024), BLK_S_IOERR,
		 "read straddling the end fails");
	check_eq(blk_rw(d, BLK_T_IN, UINT64_MAX / 512, buf, 512), BLK_S_IOERR,
		 "read at an overflowing sector fails");
	check_eq(blk_rw(d, 99, 0, buf, 512), BLK_S_UNSUPP, "unknown request type is UNSUPP");
}

/*
 * A kick written as one byte: the VMM ignores it (registers are 32-bit), unless KVM
 * took the write for the queue's ioeventfd, which it does only where that was
 * registered for any write (a one-queue device on a KVM with
 * KVM_CAP_IOEVENTFD_ANY_LENGTH, which the VMM logs when missing). The guest reports
 * what happened; the host knows which to expect. The drive idles first (20M TSC ticks,
 * over 5 ms at any rate up to 4 GHz) so that no polling window can serve the request.
 */
static void byte_kick_probe(struct vdev *d)
{
	volatile uint8_t *status;
	bool served = false;
	uint64_t t;

	for (t = rdtsc(); rdtsc() - t < 20000000ULL;)
		__asm__ volatile("pause");
	memset(buf, 0, 512);
	status = blk_post(d, BLK_T_IN, 8, buf, 512);
	mmio_write8(d->base + VM_QUEUE_NOTIFY, 0);
	for (t = rdtsc(); !served && rdtsc() - t < 1000000000ULL;)
		served = *(volatile uint16_t *)&d->vq->used.idx != d->vq->last_used;
	puts_serial(served ? "guest: info: 1-byte kick served: yes\n"
			   : "guest: info: 1-byte kick served: no\n");
	if (!served)
		mmio_write32(d->base + VM_QUEUE_NOTIFY, 0);
	check(vq_wait(d, 1) && *status == BLK_S_OK && pattern_ok(buf, 8 * 512, 512),
	      "read after a 1-byte kick", NULL);
}

void test_blk(void)
{
	struct vdev d0, d1;
	uint64_t s0 = param_u64("sectors0", 0), s1 = param_u64("sectors1", 0);

	check(vdev_init(&d0, DEV(0), 2, 1ULL << VIRTIO_BLK_F_FLUSH, &vq0, 16),
	      "drive 0: probe and negotiate", NULL);
	blk_basic(&d0, s0);
	byte_kick_probe(&d0);
	check(!(d0.features & (1ULL << VIRTIO_BLK_F_RO)), "drive 0 is writable", NULL);
	vdev_reset(&d0);

	if (!s1)
		return;
	check(vdev_init(&d1, DEV(1), 2, 1ULL << VIRTIO_BLK_F_RO, &vq0, 16),
	      "drive 1: probe and negotiate", NULL);
	check(d1.features & (1ULL << VIRTIO_BLK_F_RO), "drive 1 offers VIRTIO_BLK_F_RO", NULL);
	check_eq(blk_rw(&d1, BLK_T_IN, 8, buf, 4096), BLK_S_OK, "drive 1: read");
	check(pattern_ok(buf, 8 * 512, 4096), "drive 1: data", NULL);
	check_eq(blk_rw(&d1, BLK_T_OUT, 8, buf, 4096), BLK_S_IOERR,
		 "drive 1: write to a read-only drive fails");
	vdev_reset(&d1);
}

/* After a hostile request: the device failed it or asked for a reset, and still works. */
static void recovered(struct vdev *d, const char *what)
{
	uint8_t st = (uint8_t)mmio_read32(d->base + VM_STATUS);

	(void)st;
	vdev_reset(d);
	if (!vdev_init(d, d->base, 2, 0, &vq0, 16)) {
		check(false, what, "device unusable after reset");
		return;
	}
	memset(buf, 0, 512);
	check(blk_rw(d, BLK_T_IN, 0, buf, 512) == BLK_S_OK && pattern_ok(buf, 0, 512), what,
	      "no valid read after the hostile request");
}

/* Submit the chain at head and wait briefly; the device must not hang the guest. */
static uint8_t *status_at;
static bool submit_hostile(struct vdev *d, uint16_t head)
{
	vq_submit(d, head);
	vq_kick(d);
	/* Either a used entry appears (request failed) or the device flags NEEDS_RESET. */
	for (uint64_t i = 0; i < 200000000ULL; i++) {
		if (*(volatile uint16_t *)&d->vq->used.idx != d->vq->last_used)
			return true;
		if (mmio_read32(d->base + VM_STATUS) & S_NEEDS_RESET)
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

/*
 * Reset (status 0) right after kicking writes, at a few delays, so some resets find
 * requests in flight: the reset runs on the vCPU thread and must drain them there.
 * The writes store the image's own pattern, so the drive's content does not change.
 */
static void reset_in_flight(struct vdev *d)
{
	static struct blk_req rh[5];
	static uint8_t rs[5];
	const uint32_t len = 128 << 10;
	const uint64_t first = 4096; /* sectors: 2 MiB in, away from what the host checks */
	uint64_t sectors = param_u64("sectors0", 0);
	struct vq *q = d->vq;

	if (sectors < first + 5 * (len / 512)) {
		puts_serial("guest: info: drive too small for the reset-in-flight check\n");
		return;
	}
	for (uint64_t i = 0; i < 5ULL * len; i += 8) {
		uint64_t w = first * 512 + i;

		memcpy(buf + i, &w, 8);
	}
	for (uint64_t delay = 0; delay <= 100000; delay = delay ? delay * 10 : 10) {
		for (uint16_t i = 0; i < 5; i++) {
			rh[i] = (struct blk_req){ BLK_T_OUT, 0, first + i * (len / 512) };
			rs[i] = BLK_S_NONE;
			q->desc[3 * i] = (struct vdesc){ (uintptr_t)&rh[i], 16, VRING_DESC_F_NEXT,
							 (uint16_t)(3 * i + 1) };
			q->desc[3 * i + 1] = (struct vdesc){ (uintptr_t)(buf + (uint64_t)i * len), len,
							     VRING_DESC_F_NEXT, (uint16_t)(3 * i + 2) };
			q->desc[3 * i + 2] = (struct vdesc){ (uintptr_t)&rs[i], 1, VRING_DESC_F_WRITE, 0 };
			vq_submit(d, (uint16_t)(3 * i));
		}
		vq_kick(d);
		for (uint64_t k = 0; k < delay; k++)
			__asm__ volatile("pause");
		vdev_reset(d);
		check(mmio_read32(d->base + VM_STATUS) == 0, "reset with writes in flight completes",
		      NULL);
		if (!vdev_init(d, d->base, 2, 0, &vq0, 16)) {
			check(false, "device works after a reset with writes in flight", "init failed");
			return;
		}
	}
	memset(buf, 0, 4096);
	check(blk_rw(d, BLK_T_IN, first, buf, 4096) == BLK_S_OK && pattern_ok(buf, first * 512, 4096),
	      "device works after resets with writes in flight", "no valid read");
}

void test_blk_hostile(void)
{
	static struct blk_req hdr;
	static uint8_t status;
	static struct vdesc ind[4] __attribute__((aligned(16)));
	struct vdev d;
	struct vq *q = &vq0;
	uint64_t ram_end = param_u64("mem_mib", 64) << 20;

	status_at = &status;
	check(vdev_init(&d, DEV(0), 2, 1ULL << VIRTIO_F_INDIRECT_DESC, &vq0, 16),
	      "probe and negotiate", NULL);

#define RESET_CHAIN()                                                                  \
	do {                                                                           \
		hdr = (struct blk_req){ BLK_T_IN, 0, 0 };                              \
		status = BLK_S_NONE;                                                   \
		q->desc[0] = (struct vdesc){ (uintptr_t)&hdr, 16, VRING_DESC_F_NEXT, 1 }; \
		q->desc[1] = (struct vdesc){ (uintptr_t)buf, 512,                      \
					     VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 }; \
		q->desc[2] = (struct vdesc){ (uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 }; \
	} while (0)

	/* Data buffer beyond guest RAM. */
	RESET_CHAIN();
	q->desc[1].addr = ram_end + 4096;
	check(submit_hostile(&d, 0) && status != BLK_S_OK, "buffer outside RAM is refused", NULL);
	recovered(&d, "device works after a buffer outside RAM");

	/* A buffer whose end wraps around the address space. */
	RESET_CHAIN();
	q->desc[1].addr = UINT64_MAX - 100;
	check(submit_hostile(&d, 0) && status != BLK_S_OK, "wrapping buffer is refused", NULL);
	recovered(&d, "device works after a wrapping buffer");

	/* A descriptor loop. */
	RESET_CHAIN();
	q->desc[2].flags |= VRING_DESC_F_NEXT;
	q->desc[2].next = 0;
	check(submit_hostile(&d, 0), "descriptor loop does not hang the device", NULL);
	recovered(&d, "device works after a descriptor loop");

	/* next out of range. */
	RESET_CHAIN();
	q->desc[1].next = 999;
	check(submit_hostile(&d, 0), "next index out of range", NULL);
	recovered(&d, "device works after a bad next index");

	/* Head index out of range in the available ring. */
	RESET_CHAIN();
	check(submit_hostile(&d, 300), "head index out of range", NULL);
	recovered(&d, "device works after a bad head index");

	/* Header shorter than 16 bytes. */
	RESET_CHAIN();
	q->desc[0].len = 4;
	check(submit_hostile(&d, 0) && status != BLK_S_OK, "short request header is refused",
	      NULL);
	recovered(&d, "device works after a short header");

	/* Status descriptor not writable by the device. */
	RESET_CHAIN();
	q->desc[2].flags = 0;
	check(submit_hostile(&d, 0) && status == BLK_S_NONE,
	      "read-only status descriptor is not written", NULL);
	recovered(&d, "device works after a read-only status descriptor");

	/* Indirect table with an absurd length, then a nested indirect descriptor. */
	if (d.features & (1ULL << VIRTIO_F_INDIRECT_DESC)) {
		RESET_CHAIN();
		q->desc[0] = (struct vdesc){ (uintptr_t)ind, 0xfffffff0, VRING_DESC_F_INDIRECT, 0 };
		check(submit_hostile(&d, 0), "huge indirect table is refused", NULL);
		recovered(&d, "device works after a huge indirect table");

		RESET_CHAIN();
		ind[0] = (struct vdesc){ (uintptr_t)ind, 64, VRING_DESC_F_INDIRECT, 0 };
		q->desc[0] = (struct vdesc){ (uintptr_t)ind, 16, VRING_DESC_F_INDIRECT, 0 };
		check(submit_hostile(&d, 0), "nested indirect table is refused", NULL);
		recovered(&d, "device works after a nested indirect table");
	}

	/* The available index jumps far ahead of what the queue can hold. */
	RESET_CHAIN();
	q->avail.idx = (uint16_t)(q->avail.idx + 1000);
	vq_kick(&d);
	for (uint64_t i = 0; i < 100000000ULL; i++)
		__asm__ volatile("pause");
	puts_serial("guest: info: available index jump survived (the host checks the VMM)\n");
	recovered(&d, "device works after an available index jump");
#undef RESET_CHAIN
	reset_in_flight(&d);
}

void test_mmio_hostile(void)
{
	struct vdev d;
	uint64_t base = DEV(0);

	/* Every offset, every width, garbage values: reads and writes. */
	for (uint32_t off = 0; off < 0x1000; off += 4) {
		(void)mmio_read32(base + off);
		(void)mmio_read8(base + off + 1);
		mmio_write32(base + off, 0xdeadbeef);
		mmio_write8(base + off + 3, 0xff);
	}
	puts_serial("guest: info: garbage register accesses survived (the host checks the VMM)\n");

	d.base = base;
	vdev_reset(&d);
	/* DRIVER_OK without FEATURES_OK must not bring the device up. */
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
	check((mmio_read32(base + VM_STATUS) & (S_DRIVER_OK | S_NEEDS_RESET | S_FAILED)) !=
		      S_DRIVER_OK,
	      "DRIVER_OK without FEATURES_OK is refused", NULL);
	vdev_reset(&d);
	/* Queue size not a power of two, and above the maximum. */
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER);
	mmio_write32(base + VM_DRIVER_FEATURES_SEL, 1);
	mmio_write32(base + VM_DRIVER_FEATURES, 1);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	mmio_write32(base + VM_QUEUE_SEL, 0);
	mmio_write32(base + VM_QUEUE_NUM, 3);
	mmio_write32(base + VM_QUEUE_DESC_LOW, 0xfffff000);
	mmio_write32(base + VM_QUEUE_DESC_HIGH, 0xffffffff);
	mmio_write32(base + VM_QUEUE_READY, 1);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	mmio_write32(base + VM_QUEUE_NOTIFY, 0);
	puts_serial("guest: info: bad queue size and addresses survived (the host checks the VMM)\n");
	vdev_reset(&d);
	check(mmio_read32(base + VM_STATUS) == 0, "reset clears the status", NULL);
	check(vdev_init(&d, base, 2, 0, &vq0, 16), "device usable after the abuse", NULL);
	memset(buf, 0, 512);
	check(blk_rw(&d, BLK_T_IN, 0, buf, 512) == BLK_S_OK && pattern_ok(buf, 0, 512),
	      "read after the abuse", NULL);
}

/*
 * Throughput: batches of requests, polled. Each phase ends with the console line
 * "guest: BENCH end <name> ops=N bytes=B tsc=T", T the TSC ticks from the first
 * submission to the last completion: the host converts them with its own TSC rate
 * (KVM gives the guest the host's unless told otherwise). The host's arrival times of
 * the begin and end lines bound the same interval, console output included.
 */
static uint64_t lcg = 88172645463325252ULL;
static uint64_t rnd(void)
{
	lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
	return lcg >> 17;
}

static struct blk_req bhdr[QSZ / 4];
static uint8_t bstatus[QSZ / 4];

static void bench_phase(struct vdev *d, const char *name, uint32_t type, uint32_t len,
			bool random, uint64_t total_bytes, uint64_t sectors)
{
	struct vq *q = d->vq;
	uint32_t depth = MIN_U32(QSZ / 4, (uint32_t)(sizeof(buf) / len));
	uint64_t ops = total_bytes / len, done = 0, seq = 0, bad = 0, t0, t1;

	puts_serial("guest: BENCH begin ");
	puts_serial(name);
	puts_serial("\n");
	t0 = rdtsc();
	while (done < ops) {
		uint32_t n = (uint32_t)MIN_U64(depth, ops - done);

		for (uint32_t i = 0; i < n; i++) {
			uint64_t sector = random ? (rnd() % (sectors - len / 512)) & ~7ULL
						 : (seq * (len / 512)) % (sectors - len / 512);

			seq++;
			bhdr[i] = (struct blk_req){ type, 0, sector };
			bstatus[i] = BLK_S_NONE;
			q->desc[3 * i] = (struct vdesc){ (uintptr_t)&bhdr[i], 16, VRING_DESC_F_NEXT,
							 (uint16_t)(3 * i + 1) };
			q->desc[3 * i + 1] = (struct vdesc){
				(uintptr_t)(buf + (uint64_t)i * len), len,
				(uint16_t)(VRING_DESC_F_NEXT | (type == BLK_T_IN ? VRING_DESC_F_WRITE : 0)),
				(uint16_t)(3 * i + 2)
			};
			q->desc[3 * i + 2] = (struct vdesc){ (uintptr_t)&bstatus[i], 1,
							     VRING_DESC_F_WRITE, 0 };
			vq_submit(d, (uint16_t)(3 * i));
		}
		vq_kick(d);
		if (!vq_wait(d, (uint16_t)n)) {
			check(false, name, "timed out");
			return;
		}
		for (uint32_t i = 0; i < n; i++)
			bad += bstatus[i] != BLK_S_OK;
		done += n;
	}
	t1 = rdtsc();
	puts_serial("guest: BENCH end ");
	puts_serial(name);
	puts_serial(" ops=");
	put_dec(ops);
	puts_serial(" bytes=");
	put_dec(ops * len);
	puts_serial(" tsc=");
	put_dec(t1 - t0);
	puts_serial("\n");
	check(bad == 0, name, "some requests failed");
}

void bench_blk(void)
{
	struct vdev d;
	uint64_t sectors = param_u64("sectors0", 0);
	uint64_t mib = param_u64("bench_mib", 64);

	if (!vdev_init(&d, DEV(0), 2, 0, &vq0, QSZ) || sectors < 4096) {
		check(false, "bench device", "no usable drive 0");
		return;
	}
	bench_phase(&d, "randread-4k", BLK_T_IN, 4096, true, mib << 20, sectors);
	bench_phase(&d, "randwrite-4k", BLK_T_OUT, 4096, true, mib << 20, sectors);
	bench_phase(&d, "seqread-1m", BLK_T_IN, 1 << 20, false, mib << 22, sectors);
	bench_phase(&d, "seqwrite-1m", BLK_T_OUT, 1 << 20, false, mib << 22, sectors);
}
