/* SPDX-License-Identifier: Apache-2.0 */
/* Where the VMM puts boot structures in guest physical memory (x86-64). */
#ifndef VMM_BOOT_LAYOUT_H
#define VMM_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_IDT_ADDR 0x520ULL
#define BOOT_SETUP_DATA_ADDR 0x6000ULL /* RNG seed (setup_data) */
#define BOOT_ZERO_PAGE_ADDR 0x7000ULL /* struct boot_params */
#define BOOT_STACK_TOP 0x8ff0ULL
#define BOOT_PML4_ADDR 0x9000ULL
#define BOOT_PDPT_ADDR 0xa000ULL
#define BOOT_PD_ADDR 0xb000ULL /* 512 x 2 MiB: identity map of the first GiB */
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL /* room reserved at BOOT_CMDLINE_ADDR */
#define BOOT_EBDA_START 0x9fc00ULL /* MP table lives here (scanned by Linux) */
#define BOOT_HIGH_MEMORY_START 0x100000ULL /* kernels load at or above 1 MiB */

/* Devices in the 32-bit gap. The boot timer sits first, as Firecracker's. */
#define MMIO_DEVICES_START 0xd0000000ULL
#define BOOT_TIMER_ADDR MMIO_DEVICES_START
#define VIRTIO_MMIO_START (MMIO_DEVICES_START + 0x1000ULL)
#define VIRTIO_MMIO_SIZE 0x1000ULL
#define IOAPIC_ADDR 0xfec00000ULL
#define LAPIC_ADDR 0xfee00000ULL

/* Legacy ISA interrupts; virtio devices get GSIs from IRQ_VIRTIO_FIRST up. */
#define IRQ_SERIAL 4
#define IRQ_I8042 1
#define IRQ_VIRTIO_FIRST 5
#define IRQ_MAX 23

#endif
