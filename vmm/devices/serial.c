// SPDX-License-Identifier: Apache-2.0
#include "vmm/devices/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/rate_limiter.h"
#include "vmm/util.h"

enum {
	UART_RBR_THR = 0, /* DLL when DLAB */
	UART_IER = 1, /* DLM when DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_MASK 0x0f
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_BITS 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RCVR 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct serial {
	pthread_mutex_t lock;
	struct irq_line irq;
	int out_fd;
	struct ev_source in_src;
	struct event_loop *loop;
	bool in_paused; /* input fd removed from the loop while the FIFO is full */

	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thre_pending; /* THR-empty interrupt latched until IIR is read or THR written */
	int irq_level;
	uint8_t rx[SERIAL_RX_FIFO];
	unsigned int rx_head, rx_count;
	uint64_t tx_bytes;
	struct token_bucket tb; /* output budget in bytes; disabled: no limit */
	struct serial_stats stats;
};

/* Highest-priority pending interrupt, as IIR reports it. */
static uint8_t serial_iir(const struct serial *s)
{
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thre_pending)
		return IIR_THRI;
	return IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	int level = serial_iir(s) != IIR_NO_INT;

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

static void serial_rx_enable(struct serial *s, bool on)
{
	if (s->in_src.fd < 0 || s->in_paused == !on)
		return;
	if (ev_mod(s->loop, &s->in_src, on ? EPOLLIN : 0) == 0)
		s->in_paused = !on;
}

static size_t serial_rx_push_locked(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len && s->rx_count < SERIAL_RX_FIFO) {
		s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = buf[n++];
		s->rx_count++;
	}
	serial_update_irq(s);
	return n;
}

size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = serial_rx_push_locked(s, buf, len);
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint64_t serial_tx_bytes(const struct serial *s)
{
	return __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
}

/*
 * Counters are bumped under the lock but read without it: a vCPU blocked writing to a
 * full stdout holds the lock, and the metrics flush on the VMM thread must not wait.
 */
static void stat_inc(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

void serial_get_stats(const struct serial *s, struct serial_stats *out)
{
	out->write_count = __atomic_load_n(&s->stats.write_count, __ATOMIC_RELAXED);
	out->read_count = __atomic_load_n(&s->stats.read_count, __ATOMIC_RELAXED);
	out->missed_write_count = __atomic_load_n(&s->stats.missed_write_count, __ATOMIC_RELAXED);
	out->rate_limiter_dropped_bytes =
		__atomic_load_n(&s->stats.rate_limiter_dropped_bytes, __ATOMIC_RELAXED);
	out->error_count = __atomic_load_n(&s->stats.error_count, __ATOMIC_RELAXED);
}

void serial_set_rate_limiter(struct serial *s, const struct token_bucket_cfg *tb)
{
	static const struct token_bucket_cfg none = { 0 };

	pthread_mutex_lock(&s->lock);
	token_bucket_init(&s->tb, tb ? tb : &none, util_now_ns());
	pthread_mutex_unlock(&s->lock);
}

int serial_open_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC | O_NONBLOCK,
		      0600);

	return fd < 0 ? -errno : fd;
}

static void serial_transmit(struct serial *s, uint8_t c)
{
	uint64_t wait_ns;
	ssize_t n;

	if (s->mcr & MCR_LOOP) {
		serial_rx_push_locked(s, &c, 1);
		return;
	}
	/* A UART has no way to push back on the guest: over the budget, the byte is lost. */
	if (s->tb.enabled &&
	    token_bucket_reduce(&s->tb, 1, util_now_ns(), &wait_ns) == TB_THROTTLED) {
		stat_inc(&s->stats.rate_limiter_dropped_bytes);
		return;
	}
	/*
	 * A failed write loses the byte. On stdout (blocking, as Firecracker's) a full pipe
	 * nobody reads stalls this vCPU as a slow UART would, until a kick (a signal without
	 * SA_RESTART: EINTR) frees it to pause or stop, so EINTR is not retried.
	 * serial_out_path is opened non-blocking: there a full FIFO drops the byte (EAGAIN).
	 */
	n = write(s->out_fd, &c, 1);
	if (n == 1) {
		stat_inc(&s->stats.write_count);
		__atomic_add_fetch(&s->tx_bytes, 1, __ATOMIC_RELAXED);
		return;
	}
	stat_inc(&s->stats.missed_write_count);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		stat_inc(&s->stats.error_count);
}

static uint8_t serial_read_reg(struct serial *s, uint64_t reg)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			stat_inc(&s->stats.read_count);
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
			s->rx_count--;
			serial_rx_enable(s, true);
		}
		serial_update_irq(s);
		return v;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR_FCR:
		v = serial_iir(s);
		/* Reading IIR while it reports THRE acknowledges that interrupt. */
		if (v == IIR_THRI) {
			s->thre_pending = false;
			serial_update_irq(s);
		}
		return v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_BITS : 0);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
	case UART_MSR:
		if (s->mcr & MCR_LOOP)
			return (uint8_t)(((s->mcr & MCR_RTS) ? MSR_CTS : 0) |
					 ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
					 ((s->mcr & MCR_OUT1) ? MSR_RI : 0) |
					 ((s->mcr & MCR_OUT2) ? MSR_DCD : 0));
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case UART_SCR:
		return s->scr;
	default:
		return 0;
	}
}

static void serial_write_reg(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		/* Transmission is instant: THRE drops and rises again, a fresh edge. */
		s->thre_pending = false;
		serial_update_irq(s);
		serial_transmit(s, v);
		s->thre_pending = true;
		serial_update_irq(s);
		return;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		/* Enabling THRI with an empty THR raises the interrupt at once. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thre_pending = true;
		s->ier = v & IER_MASK;
		serial_update_irq(s);
		return;
	case UART_IIR_FCR:
		s->fcr = v;
		if (v & FCR_CLEAR_RCVR) {
			s->rx_count = 0;
			serial_rx_enable(s, true);
		}
		serial_update_irq(s);
		return;
	case UART_LCR:
		s->lcr = v;
		return;
	case UART_MCR:
		s->mcr = v & 0x1f;
		return;
	case UART_SCR:
		s->scr = v;
		return;
	default:
		return; /* LSR and MSR are read-only */
	}
}

static void serial_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;

	memset(data, 0, len);
	pthread_mutex_lock(&s->lock);
	data[0] = serial_read_reg(s, offset);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	serial_write_reg(s, offset, data[0]);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

static void serial_input_ready(void *opaque, uint32_t events)
{
	struct serial *s = opaque;
	uint8_t buf[SERIAL_RX_FIFO];
	size_t room;
	ssize_t n;

	pthread_mutex_lock(&s->lock);
	room = SERIAL_RX_FIFO - s->rx_count;
	if (!room) {
		serial_rx_enable(s, false);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	n = read(s->in_src.fd, buf, room);
	if (n > 0) {
		serial_rx_push_locked(s, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* End of input: stop watching it. */
		ev_del(s->loop, &s->in_src);
		s->in_src.fd = -1;
	}
	pthread_mutex_unlock(&s->lock);
}

int serial_create(struct serial **out, const struct irq_line *irq, int out_fd, int in_fd,
		  struct event_loop *loop)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->irq = *irq;
	s->out_fd = out_fd;
	s->loop = loop;
	s->mcr = MCR_OUT2;
	s->lcr = 0x03; /* 8N1 */
	s->dll = 0x0c; /* 9600 baud, as after firmware */
	s->in_src = (struct ev_source){ .fd = -1, .fn = serial_input_ready, .opaque = s };
	if (in_fd >= 0 && loop) {
		s->in_src.fd = in_fd;
		if (ev_add(loop, &s->in_src, EPOLLIN) < 0) {
			/* Regular files cannot be polled: run without input. */
			log_warn("serial: console input is not pollable; input disabled");
			s->in_src.fd = -1;
		}
	}
	*out = s;
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->in_src.fd >= 0 && s->loop)
		ev_del(s->loop, &s->in_src);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
