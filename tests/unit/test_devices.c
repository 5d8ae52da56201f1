// SPDX-License-Identifier: Apache-2.0
/* Legacy devices and the bus, driven through their register interfaces as a guest would. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/bus.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm.h"
#include "vmm/log.h"

struct irq_log {
	int level;
	int rises;
};

static int irq_record(void *ctx, uint32_t gsi, int level)
{
	struct irq_log *l = ctx;

	if (level && !l->level)
		l->rises++;
	l->level = level;
	return 0;
}

static uint8_t rd(struct bus *b, uint64_t port)
{
	uint8_t v = 0;

	bus_read(b, port, &v, 1);
	return v;
}

static void wr(struct bus *b, uint64_t port, uint8_t v)
{
	bus_write(b, port, &v, 1);
}

TEST(bus_overlap_and_dispatch)
{
	static const struct bus_ops nop = { 0 };
	struct bus b = { 0 };
	uint8_t d[4];

	CHECK_EQ(bus_register(&b, 0x100, 0x10, &nop, NULL), 0);
	CHECK_EQ(bus_register(&b, 0x10f, 1, &nop, NULL), -EEXIST);
	CHECK_EQ(bus_register(&b, 0xf8, 9, &nop, NULL), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x110, 0x10, &nop, NULL), 0);
	CHECK_EQ(bus_register(&b, 0x50, 0, &nop, NULL), -EINVAL);
	CHECK_EQ(bus_register(&b, UINT64_MAX, 2, &nop, NULL), -EINVAL);
	/* An access straddling the end of a range is not dispatched; reads give all ones. */
	CHECK(!bus_read(&b, 0x11e, d, 4));
	CHECK_EQ(d[0], 0xff);
	CHECK(!bus_write(&b, 0x200, d, 1));
	CHECK(bus_read(&b, 0x100, d, 4));
}

TEST(serial_transmit_and_thre_interrupt)
{
	struct irq_log log = { 0 };
	struct irq_line irq = { irq_record, &log, 4 };
	struct serial *s;
	struct bus b = { 0 };
	int p[2];
	char out[16] = "";

	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	CHECK_EQ(serial_create(&s, &irq, p[1], -1, NULL), 0);
	CHECK_EQ(bus_register(&b, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, s), 0);
	CHECK_EQ(rd(&b, 0x3f8 + 2) & 0x0f, 0x01); /* no interrupt pending */
	CHECK(rd(&b, 0x3f8 + 5) & 0x60); /* THRE | TEMT */
	wr(&b, 0x3f8, 'h');
	wr(&b, 0x3f8, 'i');
	CHECK_EQ(read(p[0], out, sizeof(out)), 2);
	CHECK_STR(out, "hi");
	CHECK_EQ(serial_tx_bytes(s), 2);
	CHECK_EQ(log.rises, 0); /* THRI not enabled */
	wr(&b, 0x3f8 + 1, 0x02); /* IER = THRI */
	CHECK_EQ(log.level, 1);
	CHECK_EQ(rd(&b, 0x3f8 + 2) & 0x0f, 0x02); /* IIR = THRE, and reading it acks */
	CHECK_EQ(log.level, 0);
	CHECK_EQ(rd(&b, 0x3f8 + 2) & 0x0f, 0x01);
	wr(&b, 0x3f8, 'x'); /* each transmitted byte raises a fresh edge */
	CHECK_EQ(log.rises, 2);
	serial_destroy(s);
	close(p[0]);
	close(p[1]);
}

TEST(serial_receive_fifo_and_interrupt)
{
	struct irq_log log = { 0 };
	struct irq_line irq = { irq_record, &log, 4 };
	struct serial *s;
	struct bus b = { 0 };
	uint8_t big[100];
	int devnull = open("/dev/null", O_WRONLY);

	CHECK_EQ(serial_create(&s, &irq, devnull, -1, NULL), 0);
	CHECK_EQ(bus_register(&b, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, s), 0);
	wr(&b, 0x3f8 + 1, 0x01); /* IER = RDI */
	CHECK_EQ(log.level, 0);
	CHECK_EQ(serial_rx_push(s, (const uint8_t *)"ab", 2), 2);
	CHECK_EQ(log.level, 1);
	CHECK(rd(&b, 0x3f8 + 5) & 0x01); /* data ready */
	CHECK_EQ(rd(&b, 0x3f8 + 2) & 0x0f, 0x04);
	CHECK_EQ(rd(&b, 0x3f8), 'a');
	CHECK_EQ(rd(&b, 0x3f8), 'b');
	CHECK_EQ(log.level, 0);
	CHECK(!(rd(&b, 0x3f8 + 5) & 0x01));
	/* The FIFO is bounded: excess input is refused, not buffered without limit. */
	memset(big, 'z', sizeof(big));
	CHECK_EQ(serial_rx_push(s, big, sizeof(big)), SERIAL_RX_FIFO);
	wr(&b, 0x3f8 + 2, 0x03); /* FCR: enable + clear receiver */
	CHECK(!(rd(&b, 0x3f8 + 5) & 0x01));
	serial_destroy(s);
	close(devnull);
}

TEST(serial_loopback_and_divisor)
{
	struct irq_line irq = { 0 };
	struct serial *s;
	struct bus b = { 0 };
	int devnull = open("/dev/null", O_WRONLY);

	CHECK_EQ(serial_create(&s, &irq, devnull, -1, NULL), 0);
	CHECK_EQ(bus_register(&b, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, s), 0);
	/* What Linux's 8250 autoconfig does: loopback with RTS|OUT2 must read CTS|DCD. */
	wr(&b, 0x3f8 + 4, 0x1a);
	CHECK_EQ(rd(&b, 0x3f8 + 6) & 0xf0, 0x90);
	wr(&b, 0x3f8, 'L');
	CHECK_EQ(rd(&b, 0x3f8), 'L');
	CHECK_EQ(serial_tx_bytes(s), 0);
	wr(&b, 0x3f8 + 4, 0x08);
	wr(&b, 0x3f8 + 3, 0x83); /* DLAB */
	wr(&b, 0x3f8, 0x01);
	wr(&b, 0x3f8 + 1, 0x00);
	CHECK_EQ(rd(&b, 0x3f8), 0x01);
	wr(&b, 0x3f8 + 3, 0x03);
	wr(&b, 0x3f8 + 7, 0x5a);
	CHECK_EQ(rd(&b, 0x3f8 + 7), 0x5a);
	serial_destroy(s);
	close(devnull);
}

static int resets;
static void on_reset(void *ctx)
{
	resets++;
}

TEST(i8042_probe_reset_and_ctrl_alt_del)
{
	struct irq_log log = { 0 };
	struct irq_line irq = { irq_record, &log, 1 };
	struct i8042 *d;
	struct bus b = { 0 };

	CHECK_EQ(i8042_create(&d, &irq, on_reset, NULL), 0);
	CHECK_EQ(bus_register(&b, I8042_DATA_PORT, 1, &i8042_data_ops, d), 0);
	CHECK_EQ(bus_register(&b, I8042_CMD_PORT, 1, &i8042_cmd_ops, d), 0);
	CHECK_EQ(rd(&b, 0x64) & 1, 0); /* output buffer empty */
	wr(&b, 0x64, 0xaa); /* controller self-test */
	CHECK_EQ(rd(&b, 0x64) & 1, 1);
	CHECK_EQ(rd(&b, 0x60), 0x55);
	wr(&b, 0x64, 0x20); /* read the command byte */
	CHECK_EQ(rd(&b, 0x60) & 1, 1);
	wr(&b, 0x64, 0x60); /* write it */
	wr(&b, 0x60, 0x45);
	wr(&b, 0x64, 0x20);
	CHECK_EQ(rd(&b, 0x60), 0x45);
	wr(&b, 0x60, 0xff); /* keyboard reset: ACK then self-test passed */
	CHECK_EQ(rd(&b, 0x60), 0xfa);
	CHECK_EQ(rd(&b, 0x60), 0xaa);
	log.rises = 0;
	CHECK_EQ(i8042_send_ctrl_alt_del(d), 0);
	CHECK(log.rises >= 1);
	CHECK_EQ(rd(&b, 0x60), 0x14);
	CHECK_EQ(rd(&b, 0x60), 0x11);
	CHECK_EQ(rd(&b, 0x60), 0xe0);
	CHECK_EQ(rd(&b, 0x60), 0x71);
	CHECK_EQ(rd(&b, 0x64) & 1, 0);
	/* The output buffer is bounded: repeated requests without reads get -EBUSY. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(i8042_send_ctrl_alt_del(d), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(d), -EBUSY);
	CHECK_EQ(resets, 0);
	wr(&b, 0x64, 0xfe);
	CHECK_EQ(resets, 1);
	i8042_destroy(d);
}

TEST(boot_timer_first_magic_only)
{
	struct boot_timer t = { .start_ns = 1 };
	uint8_t v = 7;

	boot_timer_ops.write(&t, 0, &v, 1);
	CHECK_EQ(t.signalled_ns, 0);
	v = BOOT_TIMER_MAGIC;
	boot_timer_ops.write(&t, 4, &v, 1);
	CHECK_EQ(t.signalled_ns, 0);
	boot_timer_ops.write(&t, 0, &v, 1);
	CHECK(t.signalled_ns != 0);
}

TEST(cpuid_topology)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 4 * sizeof(c->entries[0]));

	c->nent = 4;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff00ffff,
						   .edx = 1u << 28 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0 };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1 };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2 };
	cpuid_patch(c, 5, 8, false);
	CHECK_EQ(c->entries[0].ebx >> 24, 5);
	CHECK_EQ((c->entries[0].ebx >> 16) & 0xff, 8);
	CHECK_EQ(c->entries[0].ebx & 0xffff, 0xffff);
	CHECK(c->entries[0].ecx & (1u << 31));
	CHECK_EQ(c->entries[1].edx, 5);
	CHECK_EQ(c->entries[1].ebx, 1);
	CHECK_EQ(c->entries[2].ebx, 8);
	CHECK_EQ(c->entries[2].eax, 3);
	CHECK_EQ((c->entries[2].ecx >> 8) & 0xff, 2);
	CHECK_EQ((c->entries[3].ecx >> 8) & 0xff, 0);
	cpuid_patch(c, 0, 1, false);
	CHECK_EQ(c->entries[0].edx & (1u << 28), 0);
	free(c);
}

TEST(guest_triggered_logging_is_rate_limited)
{
	struct log_ratelimit rl = { 0 };
	unsigned int allowed = 0;

	for (int i = 0; i < 1000; i++)
		allowed += log_ratelimit_ok(&rl);
	CHECK_EQ(allowed, LOG_RL_BURST);
	CHECK_EQ(rl.suppressed, 1000 - LOG_RL_BURST);
}
