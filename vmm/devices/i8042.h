/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The i8042 keyboard controller, reduced to what a Linux guest needs: the controller
 * self-test and command byte for the driver's probe, a CPU reset (command 0xFE, how a
 * guest started with reboot=k restarts or powers off) and Ctrl-Alt-Del key presses.
 */
#ifndef VMM_DEVICES_I8042_H
#define VMM_DEVICES_I8042_H

#include "vmm/bus.h"
#include "vmm/devices/irq.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042;

/* on_reset runs on the vCPU thread that wrote the reset command. */
int i8042_create(struct i8042 **out, const struct irq_line *kbd_irq,
		 void (*on_reset)(void *ctx), void *ctx);
void i8042_destroy(struct i8042 *d);
/* Register at I8042_DATA_PORT with len 1 and at I8042_CMD_PORT with len 1, same opaque. */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_cmd_ops;
/* Queue the scan codes of Ctrl+Alt+Del and interrupt the guest. 0 or -EBUSY. */
int i8042_send_ctrl_alt_del(struct i8042 *d);

#endif
