/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 16550A UART on COM1, as much as Linux's 8250 driver uses: divisor latch, FIFO control,
 * line/modem status and control with loopback, transmit and receive interrupts.
 * Register accesses come from vCPU threads; input arrives on the VMM thread.
 */
#ifndef VMM_DEVICES_SERIAL_H
#define VMM_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/devices/irq.h"
#include "vmm/eventloop.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_NREGS 8
#define SERIAL_RX_FIFO 64

struct serial;

/* Counters for the "uart" metrics group; each only grows. */
struct serial_stats {
	uint64_t write_count; /* bytes the guest wrote to THR (loopback excluded) */
	uint64_t read_count; /* bytes the guest read from RBR */
	uint64_t missed_write_count; /* dropped: the output fd was full or failed */
	uint64_t rate_limiter_dropped_bytes; /* dropped: beyond the rate limiter's budget */
	uint64_t error_count; /* output writes that failed other than "full" */
};

/*
 * out_fd receives the guest's output (not owned). in_fd (-1 for none, not owned) is read
 * on loop when the guest has room for input. 0 or -errno.
 */
int serial_create(struct serial **out, const struct irq_line *irq, int out_fd, int in_fd,
		  struct event_loop *loop);
void serial_destroy(struct serial *s);
extern const struct bus_ops serial_bus_ops;

/*
 * Open serial_out_path for the guest's output: O_APPEND|O_CREAT (0600), and O_NONBLOCK so
 * a full FIFO drops bytes instead of stalling a vCPU. A FIFO must exist and have a reader
 * (-ENXIO otherwise). Returns the fd (the caller owns it) or -errno.
 */
int serial_open_output(const char *path);

/*
 * Limit output to tb's budget in bytes; bytes beyond it are dropped and counted. NULL or
 * an absent bucket: no limit. The bucket starts full.
 */
void serial_set_rate_limiter(struct serial *s, const struct token_bucket_cfg *tb);

/* Queue input bytes for the guest; returns how many fitted. */
size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len);
/* Bytes the guest has written so far (for tests and metrics). */
uint64_t serial_tx_bytes(const struct serial *s);
/* A snapshot of the counters (any thread). */
void serial_get_stats(const struct serial *s, struct serial_stats *out);

#endif
