// SPDX-License-Identifier: Apache-2.0
/*
 * Legacy devices and the bus, driven through their register interfaces as a guest would;
 * the serial console's output file, rate limiter and "uart" metrics.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/bus.h"
#include "vmm/devices/boot_timer.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/metrics_dev.h"

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

/* A serial device on its own bus at COM1, writing to out_fd. */
struct uart {
	struct serial *s;
	struct bus b;
};

static int uart_open(struct uart *u, int out_fd)
{
	static struct irq_line irq = { 0 };

	memset(u, 0, sizeof(*u));
	if (serial_create(&u->s, &irq, out_fd, -1, NULL))
		return -1;
	return bus_register(&u->b, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, u->s);
}

static void uart_put(struct uart *u, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wr(&u->b, 0x3f8, (uint8_t)buf[i]);
}

static char tmp_path[64];

static const char *tmp_name(const char *what)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_devices_%d_%s", getpid(), what);
	unlink(tmp_path);
	return tmp_path;
}

TEST(serial_output_file_gets_the_bytes)
{
	struct serial_stats st;
	struct uart u;
	char buf[64] = "";
	int fd, rfd;

	/* Appends: what was there stays, the file is created 0600. */
	fd = open(tmp_name("out"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "old\n", 4), 4);
	close(fd);
	fd = serial_open_output(tmp_path);
	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(uart_open(&u, fd), 0);
	uart_put(&u, "hello\n", 6);
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.write_count, 6);
	CHECK_EQ(st.missed_write_count, 0);
	CHECK_EQ(st.rate_limiter_dropped_bytes, 0);
	CHECK_EQ(serial_tx_bytes(u.s), 6);
	serial_destroy(u.s);
	close(fd);
	rfd = open(tmp_path, O_RDONLY | O_CLOEXEC);
	CHECK(rfd >= 0);
	CHECK_EQ(read(rfd, buf, sizeof(buf) - 1), 10);
	close(rfd);
	CHECK_STR(buf, "old\nhello\n");
	unlink(tmp_path);

	/* A new file is created with mode 0600; a directory or missing parent is an error. */
	fd = serial_open_output(tmp_name("new"));
	CHECK(fd >= 0);
	{
		struct stat sb;

		CHECK_EQ(fstat(fd, &sb), 0);
		CHECK_EQ(sb.st_mode & 0777, 0600);
	}
	close(fd);
	unlink(tmp_path);
	CHECK_EQ(serial_open_output("/tmp"), -EISDIR);
	CHECK_EQ(serial_open_output("/nonexistent/dir/out"), -ENOENT);
}

TEST(serial_rate_limiter_drops_the_excess_exactly)
{
	/* 10 bytes, refilled over 1000 s: nothing comes back while the test runs. */
	struct token_bucket_cfg tb = { .present = true, .size = 10, .refill_time_ms = 1000000 };
	struct serial_stats st;
	struct uart u;
	char buf[64] = "";
	int p[2];

	CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_EQ(uart_open(&u, p[1]), 0);
	serial_set_rate_limiter(u.s, &tb);
	uart_put(&u, "0123456789abcdefghijklmno", 25);
	CHECK_EQ(read(p[0], buf, sizeof(buf) - 1), 10);
	CHECK_STR(buf, "0123456789");
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.write_count, 10);
	CHECK_EQ(st.rate_limiter_dropped_bytes, 15);
	CHECK_EQ(st.missed_write_count, 0);
	CHECK_EQ(serial_tx_bytes(u.s), 10);

	/* The one-time burst is spent first, then the bucket. */
	tb.one_time_burst = 5;
	serial_set_rate_limiter(u.s, &tb);
	uart_put(&u, "ABCDEFGHIJKLMNOPQRST", 20);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(read(p[0], buf, sizeof(buf) - 1), 15);
	CHECK_STR(buf, "ABCDEFGHIJKLMNO");
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.write_count, 25);
	CHECK_EQ(st.rate_limiter_dropped_bytes, 20);

	/* No bucket (or size 0): no limit. */
	serial_set_rate_limiter(u.s, NULL);
	uart_put(&u, "0123456789abcdefghijklmno", 25);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 25);
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.rate_limiter_dropped_bytes, 20);
	serial_destroy(u.s);
	close(p[0]);
	close(p[1]);
}

TEST(serial_refill_lets_output_through_again)
{
	/* 4 bytes per 400 ms: one per 100 ms, so a preempted test thread stays exact. */
	struct token_bucket_cfg tb = { .present = true, .size = 4, .refill_time_ms = 400 };
	struct serial_stats st;
	struct uart u;
	char buf[16];
	int p[2];

	CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_EQ(uart_open(&u, p[1]), 0);
	serial_set_rate_limiter(u.s, &tb);
	uart_put(&u, "abcdefgh", 8);
	usleep(450 * 1000);
	uart_put(&u, "ijkl", 4);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 8);
	CHECK_EQ(memcmp(buf, "abcdijkl", 8), 0);
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.rate_limiter_dropped_bytes, 4);
	serial_destroy(u.s);
	close(p[0]);
	close(p[1]);
}

TEST(serial_full_fifo_drops_without_blocking)
{
	struct serial_stats st;
	struct uart u;
	static char big[8192], back[8192];
	int rfd, fd, size;

	/* A blocking open or write would hang the test: alarm() turns that into a failure. */
	alarm(20);
	CHECK_EQ(mkfifo(tmp_name("fifo"), 0600), 0);
	/* No reader yet: refused at once, not a hang. */
	CHECK_EQ(serial_open_output(tmp_path), -ENXIO);
	rfd = open(tmp_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(rfd >= 0);
	fd = serial_open_output(tmp_path);
	CHECK(fd >= 0);
	size = fcntl(fd, F_SETPIPE_SZ, 4096);
	CHECK(size >= 4096);
	CHECK_EQ(uart_open(&u, fd), 0);
	memset(big, 'x', sizeof(big));
	uart_put(&u, big, (size_t)size + 1000);
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.write_count, size);
	CHECK_EQ(st.missed_write_count, 1000);
	CHECK_EQ(st.error_count, 0);
	CHECK_EQ(serial_tx_bytes(u.s), size);
	CHECK_EQ(read(rfd, back, sizeof(back)), size);
	/* Drained: output flows again. */
	uart_put(&u, "ok", 2);
	CHECK_EQ(read(rfd, back, sizeof(back)), 2);

	/* The reader went away: EPIPE (SIGPIPE is ignored, as in the VMM) is an error. */
	close(rfd);
	signal(SIGPIPE, SIG_IGN);
	uart_put(&u, "zz", 2);
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.missed_write_count, 1002);
	CHECK_EQ(st.error_count, 2);
	alarm(0);
	serial_destroy(u.s);
	close(fd);
	unlink(tmp_path);
}

struct stuck_writer {
	struct uart u;
	int done;
};

static void kick_handler(int sig)
{
}

static void *stuck_writer_thread(void *opaque)
{
	struct stuck_writer *w = opaque;

	uart_put(&w->u, "x", 1);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * stdout stays blocking (as Firecracker's): a full pipe nobody reads holds the writing
 * vCPU, and the vCPU kick (a signal without SA_RESTART) must free it at once, since
 * pause sends exactly one. The byte is lost, and counted.
 */
TEST(serial_blocked_stdout_write_ends_at_one_kick)
{
	struct sigaction sa = { .sa_handler = kick_handler }, old;
	struct stuck_writer w = { .done = 0 };
	struct serial_stats st;
	char junk[4096];
	pthread_t t;
	int p[2], kicks = 0;

	memset(junk, 'j', sizeof(junk));
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
	CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	CHECK_EQ(fcntl(p[1], F_SETFL, 0), 0); /* full and blocking */
	CHECK_EQ(uart_open(&w.u, p[1]), 0);
	CHECK_EQ(pthread_create(&t, NULL, stuck_writer_thread, &w), 0);
	usleep(100 * 1000);
	CHECK(!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)); /* blocked, as intended */
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && kicks < 10) {
		pthread_kill(t, SIGUSR1);
		kicks++;
		usleep(100 * 1000);
	}
	if (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
		/* Unstick it before failing: drain the pipe. */
		while (read(p[0], junk, sizeof(junk)) > 0)
			;
	}
	pthread_join(t, NULL);
	CHECK_EQ(kicks, 1);
	serial_get_stats(w.u.s, &st);
	CHECK_EQ(st.write_count, 0);
	CHECK_EQ(st.missed_write_count, 1);
	CHECK_EQ(st.error_count, 0);
	sigaction(SIGUSR1, &old, NULL);
	serial_destroy(w.u.s);
	close(p[0]);
	close(p[1]);
}

TEST(serial_read_count_and_loopback_not_counted_as_output)
{
	struct serial_stats st;
	struct uart u;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	CHECK_EQ(uart_open(&u, devnull), 0);
	CHECK_EQ(serial_rx_push(u.s, (const uint8_t *)"abc", 3), 3);
	CHECK_EQ(rd(&u.b, 0x3f8), 'a');
	CHECK_EQ(rd(&u.b, 0x3f8), 'b');
	CHECK_EQ(rd(&u.b, 0x3f8), 'c');
	CHECK_EQ(rd(&u.b, 0x3f8), 0); /* empty: not a read */
	wr(&u.b, 0x3f8 + 4, 0x10); /* loopback */
	wr(&u.b, 0x3f8, 'L');
	serial_get_stats(u.s, &st);
	CHECK_EQ(st.read_count, 3);
	CHECK_EQ(st.write_count, 0);
	serial_destroy(u.s);
	close(devnull);
}

TEST(uart_metrics_group)
{
	static struct metrics_dev d; /* the registered group points into it */
	struct serial_stats st = { .write_count = 7, .read_count = 3, .missed_write_count = 2,
				   .rate_limiter_dropped_bytes = 5, .error_count = 1 };
	char line[4096] = "", last[4096] = "";
	json_t *j, *g;
	FILE *f;

	CHECK_EQ(metrics_set_path(tmp_name("metrics")), 0);
	metrics_dev_update_uart(&d, &st);
	st.write_count = 8;
	metrics_dev_update_uart(&d, &st);
	CHECK_EQ(metrics_flush(), 0);
	f = fopen(tmp_path, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		memcpy(last, line, sizeof(last));
	fclose(f);
	j = json_loads(last, 0, NULL);
	CHECK(j);
	g = json_object_get(j, "uart");
	CHECK_EQ(json_object_size(g), METRICS_UART_N);
	CHECK_EQ(json_integer_value(json_object_get(g, "write_count")), 8);
	CHECK_EQ(json_integer_value(json_object_get(g, "read_count")), 3);
	CHECK_EQ(json_integer_value(json_object_get(g, "missed_write_count")), 2);
	CHECK_EQ(json_integer_value(json_object_get(g, "rate_limiter_dropped_bytes")), 5);
	CHECK_EQ(json_integer_value(json_object_get(g, "error_count")), 1);
	json_decref(j);
	metrics_dev_unregister(&d);
	CHECK_EQ(metrics_flush(), 0);
	f = fopen(tmp_path, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		memcpy(last, line, sizeof(last));
	fclose(f);
	CHECK(!strstr(last, "\"uart\""));
	metrics_close();
	unlink(tmp_path);
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
