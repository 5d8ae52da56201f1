/* SPDX-License-Identifier: Apache-2.0 */
/* How a legacy device drives its interrupt line (the VM or a unit test implements it). */
#ifndef VMM_DEVICES_IRQ_H
#define VMM_DEVICES_IRQ_H

#include <stdint.h>

struct irq_line {
	int (*set)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->ctx, l->gsi, level);
}

#endif
