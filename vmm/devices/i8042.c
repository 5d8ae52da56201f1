// SPDX-License-Identifier: Apache-2.0
#include "vmm/devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SR_OBF 0x01 /* output buffer full */
#define SR_SYS 0x04 /* system flag: self-test passed */
#define SR_CMD 0x08 /* last write was a command */
#define SR_UNLOCKED 0x10

#define CTR_KBD_INT 0x01

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_DISABLE_AUX 0xa7
#define CMD_ENABLE_AUX 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_DISABLE_KBD 0xad
#define CMD_ENABLE_KBD 0xae
#define CMD_READ_INPUT 0xc0
#define CMD_READ_OUTPUT 0xd0
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_RESET 0xfe

#define KBD_ACK 0xfa
#define KBD_RESET 0xff
#define KBD_SELF_TEST_OK 0xaa

#define OUTBUF_SIZE 16

struct i8042 {
	pthread_mutex_t lock;
	struct irq_line irq;
	void (*on_reset)(void *ctx);
	void *ctx;
	uint8_t status;
	uint8_t ctr;
	uint8_t outport;
	uint8_t pending_cmd; /* command awaiting its data byte, 0 if none */
	uint8_t buf[OUTBUF_SIZE];
	unsigned int head, count;
};

static void i8042_pulse_irq(struct i8042 *d)
{
	/* ISA IRQ1 is edge triggered: a rising edge per byte made available. */
	if (d->ctr & CTR_KBD_INT) {
		irq_line_set(&d->irq, 1);
		irq_line_set(&d->irq, 0);
	}
}

static bool i8042_push(struct i8042 *d, uint8_t v)
{
	if (d->count == OUTBUF_SIZE)
		return false;
	d->buf[(d->head + d->count) % OUTBUF_SIZE] = v;
	d->count++;
	d->status |= SR_OBF;
	return true;
}

static uint8_t i8042_pop(struct i8042 *d)
{
	uint8_t v = 0;

	if (d->count) {
		v = d->buf[d->head];
		d->head = (d->head + 1) % OUTBUF_SIZE;
		d->count--;
	}
	if (!d->count)
		d->status &= (uint8_t)~SR_OBF;
	return v;
}

static void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *d = opaque;

	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	data[0] = i8042_pop(d);
	if (d->count)
		i8042_pulse_irq(d);
	pthread_mutex_unlock(&d->lock);
}

static void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *d = opaque;
	uint8_t v = data[0];

	pthread_mutex_lock(&d->lock);
	d->status &= (uint8_t)~SR_CMD;
	switch (d->pending_cmd) {
	case CMD_WRITE_CTR:
		d->ctr = v;
		break;
	case CMD_WRITE_OUTPUT:
		d->outport = v;
		break;
	default:
		/* A byte for the keyboard itself: acknowledge it like a real one. */
		i8042_push(d, KBD_ACK);
		if (v == KBD_RESET)
			i8042_push(d, KBD_SELF_TEST_OK);
		i8042_pulse_irq(d);
		break;
	}
	d->pending_cmd = 0;
	pthread_mutex_unlock(&d->lock);
}

static void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *d = opaque;

	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	data[0] = d->status;
	pthread_mutex_unlock(&d->lock);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *d = opaque;
	bool reset = false;

	pthread_mutex_lock(&d->lock);
	d->status |= SR_CMD;
	d->pending_cmd = 0;
	switch (data[0]) {
	case CMD_READ_CTR:
		i8042_push(d, d->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPUT:
		d->pending_cmd = data[0];
		break;
	case CMD_SELF_TEST:
		i8042_push(d, 0x55);
		d->status |= SR_SYS;
		break;
	case CMD_KBD_TEST:
	case CMD_AUX_TEST:
		i8042_push(d, 0x00);
		break;
	case CMD_READ_INPUT:
		i8042_push(d, 0x00);
		break;
	case CMD_READ_OUTPUT:
		i8042_push(d, d->outport);
		break;
	case CMD_RESET:
		reset = true;
		break;
	default:
		/* enable/disable port commands and the rest need no state here */
		break;
	}
	pthread_mutex_unlock(&d->lock);
	if (reset && d->on_reset)
		d->on_reset(d->ctx);
}

const struct bus_ops i8042_data_ops = { .read = i8042_data_read, .write = i8042_data_write };
const struct bus_ops i8042_cmd_ops = { .read = i8042_cmd_read, .write = i8042_cmd_write };

int i8042_send_ctrl_alt_del(struct i8042 *d)
{
	/* Set 2 make codes: Ctrl, Alt, then the extended Del. */
	static const uint8_t seq[] = { 0x14, 0x11, 0xe0, 0x71 };
	int r = 0;

	pthread_mutex_lock(&d->lock);
	if (OUTBUF_SIZE - d->count < sizeof(seq)) {
		r = -EBUSY;
	} else {
		for (size_t i = 0; i < sizeof(seq); i++)
			i8042_push(d, seq[i]);
		i8042_pulse_irq(d);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

int i8042_create(struct i8042 **out, const struct irq_line *kbd_irq,
		 void (*on_reset)(void *ctx), void *ctx)
{
	struct i8042 *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->irq = *kbd_irq;
	d->on_reset = on_reset;
	d->ctx = ctx;
	d->status = SR_UNLOCKED;
	/* Keyboard interrupt on, no set 2 -> set 1 translation: the bytes we queue (Ctrl-Alt-Del)
	 * are set 2 codes, and Linux decodes them as such when XLATE is clear. */
	d->ctr = CTR_KBD_INT | 0x04;
	d->outport = 0x01; /* A20 gate... and the reset line not asserted */
	*out = d;
	return 0;
}

void i8042_destroy(struct i8042 *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}
