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
#include "vmm/devices/irq.h"
#include "vmm/eventloop.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_NREGS 8
#define SERIAL_RX_FIFO 64

struct serial;

/*
 * out_fd receives the guest's output (not owned). in_fd (-1 for none, not owned) is read
 * on loop when the guest has room for input. 0 or -errno.
 */
int serial_create(struct serial **out, const struct irq_line *irq, int out_fd, int in_fd,
		  struct event_loop *loop);
void serial_destroy(struct serial *s);
extern const struct bus_ops serial_bus_ops;

/* Queue input bytes for the guest; returns how many fitted. */
size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len);
/* Bytes the guest has written so far (for tests and metrics). */
uint64_t serial_tx_bytes(const struct serial *s);

#endif
