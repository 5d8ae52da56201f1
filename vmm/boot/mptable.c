// SPDX-License-Identifier: Apache-2.0
/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI learns about
 * its CPUs, the I/O APIC and the ISA interrupt routing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/config.h"

struct __attribute__((packed)) mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
};

struct __attribute__((packed)) mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
};

struct __attribute__((packed)) mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
};

struct __attribute__((packed)) mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
};

struct __attribute__((packed)) mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
};

struct __attribute__((packed)) mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
};

enum { MP_PROCESSOR = 0, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_APIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_ENABLED 1
#define MP_CPU_BSP 2

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

int mptable_setup(const struct guest_mem *m, unsigned int ncpus, struct boot_err *err)
{
	size_t nentries = ncpus + 1 + 1 + (IRQ_MAX + 1) + 2;
	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
		      ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + (IRQ_MAX + 1 + 2) * sizeof(struct mpc_intsrc);
	uint8_t *base = guest_mem_ptr(m, BOOT_EBDA_START, size);
	struct mpf_intel *mpf = (struct mpf_intel *)base;
	struct mpc_table *mpc;
	uint8_t *p;
	uint8_t ioapic_id = (uint8_t)ncpus;

	if (ncpus == 0 || ncpus > CONFIG_MAX_VCPUS) {
		snprintf(err->msg, sizeof(err->msg), "MP table: %u vCPUs out of range", ncpus);
		return -EINVAL;
	}
	if (!base || BOOT_EBDA_START + size > 0xa0000) {
		snprintf(err->msg, sizeof(err->msg), "MP table does not fit in the EBDA");
		return -ENOMEM;
	}
	memset(base, 0, size);
	mpc = (struct mpc_table *)(mpf + 1);
	p = (uint8_t *)(mpc + 1);

	for (unsigned int i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = MP_APIC_VERSION,
			.cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.cpufeature = 0x600, /* family 6: only informative */
			.featureflag = (1u << 0) | (1u << 9), /* FPU, APIC */
		};

		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
	}
	struct mpc_bus bus = { .type = MP_BUS, .busid = 0, .bustype = { 'I', 'S', 'A', ' ', ' ', ' ' } };
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	struct mpc_ioapic ioapic = { .type = MP_IOAPIC, .apicid = ioapic_id,
				     .apicver = MP_IOAPIC_VERSION, .flags = 1,
				     .apicaddr = (uint32_t)IOAPIC_ADDR };
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	/* Identity routing: ISA IRQ n -> I/O APIC pin n, bus-default (edge, high). */
	for (uint8_t irq = 0; irq <= IRQ_MAX; irq++) {
		struct mpc_intsrc src = { .type = MP_INTSRC, .irqtype = MP_INT, .srcbus = 0,
					  .srcbusirq = irq, .dstapic = ioapic_id, .dstirq = irq };

		memcpy(p, &src, sizeof(src));
		p += sizeof(src);
	}
	/* LINT0 = ExtINT (legacy PIC), LINT1 = NMI, on all local APICs. */
	struct mpc_intsrc lint[2] = {
		{ .type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff, .dstirq = 0 },
		{ .type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff, .dstirq = 1 },
	};
	memcpy(p, lint, sizeof(lint));
	p += sizeof(lint);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "MICROVM ", 8);
	memcpy(mpc->productid, "000000000000", 12);
	mpc->oemcount = (uint16_t)nentries;
	mpc->lapic = (uint32_t)LAPIC_ADDR;
	mpc->checksum = mp_checksum((uint8_t *)mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(BOOT_EBDA_START + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = mp_checksum((uint8_t *)mpf, sizeof(*mpf));
	return 0;
}
