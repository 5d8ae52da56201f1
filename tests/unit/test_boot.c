// SPDX-License-Identifier: Apache-2.0
/* Kernel loading, zero page, e820 and MP table, against valid and corrupt images. */
#include <elf.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tests/unit/test.h"
#include "vmm/boot/bootparams.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/util.h"

#define MEM_SIZE (64ULL << 20)

static struct guest_mem mem;
static uint8_t *ram;

static void fresh_mem(uint64_t size)
{
	free(ram);
	ram = calloc(1, size);
	guest_mem_init_buffer(&mem, ram, size);
}

/* A minimal vmlinux-like ELF: one PT_LOAD of `code` at paddr, entry at paddr. */
static size_t make_elf(uint8_t *buf, uint64_t paddr, const uint8_t *code, size_t len,
		       uint64_t memsz)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = paddr;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_offset = 0x1000;
	ph.p_vaddr = 0xffffffff80000000ULL + paddr;
	ph.p_paddr = paddr;
	ph.p_filesz = len;
	ph.p_memsz = memsz;
	memset(buf, 0, 0x1000 + len);
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memcpy(buf + 0x1000, code, len);
	return 0x1000 + len;
}

/* Unaligned little-endian reads, as the guest kernel does them. */
static uint64_t rd(uint64_t gpa, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, ram + gpa, n);
	return v;
}

static const uint8_t code[] = { 0xf4, 0xeb, 0xfd, 0x90 }; /* hlt; jmp .-1 */

TEST(elf_valid)
{
	uint8_t buf[0x2000];
	struct kernel_image k;
	struct boot_err err = { "" };
	size_t n;

	fresh_mem(MEM_SIZE);
	n = make_elf(buf, 0x1000000, code, sizeof(code), 0x10000);
	CHECK_EQ(kernel_load_buffer(&mem, buf, n, &k, &err), 0);
	CHECK_EQ(k.format, KERNEL_ELF);
	CHECK_EQ(k.entry, 0x1000000);
	CHECK_EQ(k.start, 0x1000000);
	CHECK_EQ(k.end, 0x1010000);
	CHECK(!memcmp(ram + 0x1000000, code, sizeof(code)));
}

TEST(elf_virtual_entry_is_translated)
{
	uint8_t buf[0x2000];
	struct kernel_image k;
	struct boot_err err;
	size_t n;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;

	fresh_mem(MEM_SIZE);
	n = make_elf(buf, 0x1000000, code, sizeof(code), 0x1000);
	eh->e_entry = 0xffffffff80000000ULL + 0x1000002;
	CHECK_EQ(elf_load(&mem, buf, n, &k, &err), 0);
	CHECK_EQ(k.entry, 0x1000002);
}

TEST(elf_corrupt_cases)
{
	uint8_t buf[0x2000], bad[0x2000];
	struct kernel_image k;
	struct boot_err err;
	size_t n;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)bad;
	Elf64_Phdr *ph = (Elf64_Phdr *)(bad + sizeof(Elf64_Ehdr));

	fresh_mem(MEM_SIZE);
	n = make_elf(buf, 0x1000000, code, sizeof(code), 0x1000);

	/* Every truncation fails cleanly. */
	for (size_t len = 0; len < n; len += 7) {
		err.msg[0] = 0;
		CHECK(kernel_load_buffer(&mem, buf, len, &k, &err) < 0);
		CHECK(err.msg[0] != 0);
	}
#define MUTATE(stmt, needle)                                           \
	do {                                                           \
		memcpy(bad, buf, n);                                   \
		stmt;                                                  \
		err.msg[0] = 0;                                        \
		CHECK(elf_load(&mem, bad, n, &k, &err) < 0);           \
		CHECK(strstr(err.msg, needle) != NULL);                \
	} while (0)
	MUTATE(eh->e_ident[EI_CLASS] = ELFCLASS32, "x86-64");
	MUTATE(eh->e_machine = EM_AARCH64, "x86-64");
	MUTATE(eh->e_type = ET_REL, "not an executable");
	MUTATE(eh->e_phnum = 0, "program header");
	MUTATE(eh->e_phnum = 1000, "program header");
	MUTATE(eh->e_phoff = UINT64_MAX - 8, "beyond end");
	MUTATE(ph->p_offset = UINT64_MAX - 1, "beyond end");
	MUTATE(ph->p_filesz = 0x2000, "exceeds memory size");
	MUTATE(ph->p_paddr = 0x1000, "below 1 MiB");
	MUTATE(ph->p_paddr = UINT64_MAX - 0x10, "memory too small");
	MUTATE(ph->p_memsz = MEM_SIZE, "memory too small");
	MUTATE(eh->e_entry = 0x5000000, "entry point");
	MUTATE(ph->p_type = PT_NOTE, "no loadable segment");
#undef MUTATE
	memcpy(bad, buf, n);
	memcpy(bad, "JUNK", 4);
	CHECK(kernel_load_buffer(&mem, bad, n, &k, &err) < 0);
	CHECK(strstr(err.msg, "not an ELF vmlinux nor a bzImage") != NULL);
}

TEST(elf_memory_too_small)
{
	uint8_t buf[0x2000];
	struct kernel_image k;
	struct boot_err err;
	size_t n;

	fresh_mem(8 << 20); /* the kernel wants 16 MiB + */
	n = make_elf(buf, 0x1000000, code, sizeof(code), 0x1000);
	CHECK(elf_load(&mem, buf, n, &k, &err) < 0);
	CHECK(strstr(err.msg, "memory too small") != NULL);
}

static size_t make_bzimage(uint8_t *buf, size_t payload, uint32_t init_size)
{
	struct setup_header h = { 0 };
	size_t setup = (4 + 1) * 512;

	memset(buf, 0, setup + payload);
	h.setup_sects = 4;
	h.boot_flag = BOOT_FLAG_MAGIC;
	h.header = SETUP_HDR_MAGIC;
	h.version = 0x020f;
	h.loadflags = LOADFLAG_LOADED_HIGH;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7fffffff;
	h.pref_address = 0x1000000;
	h.init_size = init_size;
	memcpy(buf + 0x1f1, &h, sizeof(h));
	buf[0x200] = 0xeb;
	buf[0x201] = 0x6a; /* header ends at 0x26c */
	for (size_t i = 0; i < payload; i++)
		buf[setup + i] = (uint8_t)(i * 7);
	return setup + payload;
}

TEST(bzimage_valid)
{
	static uint8_t buf[0x4000];
	struct kernel_image k;
	struct boot_err err = { "" };
	size_t n = make_bzimage(buf, 0x1000, 0x200000);

	fresh_mem(MEM_SIZE);
	CHECK_EQ(kernel_load_buffer(&mem, buf, n, &k, &err), 0);
	CHECK_EQ(k.format, KERNEL_BZIMAGE);
	CHECK_EQ(k.entry, 0x1000200);
	CHECK_EQ(k.end, 0x1200000);
	CHECK_EQ(k.cmdline_max, 2047);
	CHECK_EQ(k.hdr.version, 0x020f);
	CHECK_EQ(ram[0x1000000 + 5], 35);
}

TEST(bzimage_corrupt_cases)
{
	static uint8_t buf[0x4000], bad[0x4000];
	struct kernel_image k;
	struct boot_err err;
	size_t n = make_bzimage(buf, 0x1000, 0x200000);
	struct setup_header *h = (struct setup_header *)(bad + 0x1f1);

	fresh_mem(MEM_SIZE);
	for (size_t len = 0; len < 0xa00 + 1; len += 13) {
		err.msg[0] = 0;
		CHECK(kernel_load_buffer(&mem, buf, len, &k, &err) < 0);
		CHECK(err.msg[0] != 0);
	}
#define MUTATE(stmt, needle)                                    \
	do {                                                    \
		memcpy(bad, buf, n);                            \
		stmt;                                           \
		CHECK(bzimage_load(&mem, bad, n, &k, &err) < 0); \
		CHECK(strstr(err.msg, needle) != NULL);         \
	} while (0)
	MUTATE(h->boot_flag = 0, "not a bzImage");
	MUTATE(h->version = 0x0204, "older than 2.12");
	MUTATE(h->xloadflags = 0, "64-bit");
	MUTATE(h->loadflags = 0, "zImage");
	MUTATE(h->setup_sects = 200, "truncated");
	MUTATE(h->init_size = 0x7fffffff, "memory too small");
	MUTATE(h->pref_address = 0x1000, "unusable");
#undef MUTATE
}

TEST(bootparams_layout_and_e820)
{
	uint8_t buf[0x2000];
	struct kernel_image k;
	struct boot_err err = { "" };
	struct boot_info bi = { .cmdline = "console=ttyS0 reboot=k",
				.initrd_addr = 0x3000000,
				.initrd_size = 0x1234 };
	uint8_t seed[32];
	struct boot_params *bp;
	struct setup_data_hdr *sd;

	fresh_mem(MEM_SIZE);
	memset(seed, 0xab, sizeof(seed));
	bi.rng_seed = seed;
	bi.rng_seed_len = sizeof(seed);
	CHECK_EQ(elf_load(&mem, buf, make_elf(buf, 0x1000000, code, sizeof(code), 0x1000), &k,
			  &err),
		 0);
	CHECK_EQ(bootparams_setup(&mem, &k, &bi, &err), 0);
	bp = (struct boot_params *)(ram + BOOT_ZERO_PAGE_ADDR);
	/* Raw offsets, as the kernel reads them. */
	CHECK_EQ(rd(BOOT_ZERO_PAGE_ADDR + 0x1fe, 2), 0xaa55);
	CHECK_EQ(rd(BOOT_ZERO_PAGE_ADDR + 0x202, 4), 0x53726448);
	CHECK_EQ(rd(BOOT_ZERO_PAGE_ADDR + 0x228, 4), BOOT_CMDLINE_ADDR);
	CHECK_EQ(rd(BOOT_ZERO_PAGE_ADDR + 0x218, 4), 0x3000000);
	CHECK_EQ(rd(BOOT_ZERO_PAGE_ADDR + 0x21c, 4), 0x1234);
	CHECK_EQ(ram[BOOT_ZERO_PAGE_ADDR + 0x210], 0xff);
	CHECK_STR((char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0 reboot=k");
	CHECK_EQ(bp->hdr.setup_data, BOOT_SETUP_DATA_ADDR);
	sd = (struct setup_data_hdr *)(ram + BOOT_SETUP_DATA_ADDR);
	CHECK_EQ(sd->type, SETUP_RNG_SEED);
	CHECK_EQ(sd->len, 32);
	CHECK_EQ(((uint8_t *)(sd + 1))[31], 0xab);
	/* e820: low RAM up to the EBDA, then 1 MiB to the end. */
	CHECK_EQ(bp->e820_entries, 2);
	CHECK_EQ(bp->e820_table[0].addr, 0);
	CHECK_EQ(bp->e820_table[0].size, BOOT_EBDA_START);
	CHECK_EQ(bp->e820_table[0].type, E820_RAM);
	CHECK_EQ(bp->e820_table[1].addr, 0x100000);
	CHECK_EQ(bp->e820_table[1].size, MEM_SIZE - 0x100000);
}

TEST(cmdline_too_long_is_refused)
{
	uint8_t buf[0x2000];
	struct kernel_image k;
	struct boot_err err = { "" };
	char *line = malloc(3000);
	struct boot_info bi = { .cmdline = line };

	fresh_mem(MEM_SIZE);
	memset(line, 'a', 2999);
	line[2999] = 0;
	CHECK_EQ(elf_load(&mem, buf, make_elf(buf, 0x1000000, code, sizeof(code), 0x1000), &k,
			  &err),
		 0);
	CHECK(bootparams_setup(&mem, &k, &bi, &err) < 0);
	free(line);
	CHECK(strstr(err.msg, "command line") != NULL);
}

TEST(e820_above_4g)
{
	struct guest_mem big = { .fd = -1 };
	struct boot_e820_entry t[8];
	unsigned int n;

	/* Describe 5 GiB without allocating it: only the region table is read. */
	big.nregions = 2;
	big.total = 5 * GiB;
	big.regions[0] = (struct guest_mem_region){ .gpa = 0, .size = MMIO_GAP_START };
	big.regions[1] = (struct guest_mem_region){ .gpa = MMIO_GAP_END,
						    .size = 5 * GiB - MMIO_GAP_START };
	n = e820_build(&big, t, 8);
	CHECK_EQ(n, 3);
	CHECK_EQ(t[1].addr + t[1].size, MMIO_GAP_START);
	CHECK_EQ(t[2].addr, MMIO_GAP_END);
	CHECK_EQ(t[2].size, 5 * GiB - MMIO_GAP_START);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

TEST(mptable_checksums_and_cpus)
{
	struct boot_err err;
	uint32_t mpc_addr;
	uint16_t len;
	unsigned int cpus = 0;

	fresh_mem(MEM_SIZE);
	for (unsigned int ncpu = 1; ncpu <= 32; ncpu += 31) {
		memset(ram + BOOT_EBDA_START, 0, 0x400);
		CHECK_EQ(mptable_setup(&mem, ncpu, &err), 0);
		CHECK(!memcmp(ram + BOOT_EBDA_START, "_MP_", 4));
		CHECK_EQ(sum(ram + BOOT_EBDA_START, 16), 0);
		memcpy(&mpc_addr, ram + BOOT_EBDA_START + 4, 4);
		CHECK(!memcmp(ram + mpc_addr, "PCMP", 4));
		memcpy(&len, ram + mpc_addr + 4, 2);
		CHECK(mpc_addr + len <= 0xa0000);
		CHECK_EQ(sum(ram + mpc_addr, len), 0);
		cpus = 0;
		for (uint8_t *p = ram + mpc_addr + 44; p < ram + mpc_addr + len;) {
			if (*p == 0) {
				CHECK_EQ(p[1], cpus); /* APIC ids 0..n-1 */
				CHECK_EQ(!!(p[3] & 2), cpus == 0); /* only CPU 0 is the BSP */
				cpus++;
				p += 20;
			} else {
				p += 8;
			}
		}
		CHECK_EQ(cpus, ncpu);
	}
	CHECK(mptable_setup(&mem, 0, &err) < 0);
	CHECK(mptable_setup(&mem, 33, &err) < 0);
}

TEST(boot_page_tables_and_gdt)
{
	struct boot_err err;
	uint64_t *pd;

	fresh_mem(MEM_SIZE);
	CHECK_EQ(boot_tables_setup(&mem, &err), 0);
	CHECK_EQ(rd(BOOT_PML4_ADDR, 8), BOOT_PDPT_ADDR | 3);
	pd = (uint64_t *)(ram + BOOT_PD_ADDR);
	CHECK_EQ(pd[0], 0x83);
	CHECK_EQ(pd[511], (511ULL << 21) | 0x83);
	/* 64-bit code segment: L set, D clear, present, DPL 0. */
	CHECK_EQ(rd(BOOT_GDT_ADDR + 8, 8), 0x00af9b000000ffffULL);
	CHECK_EQ(rd(BOOT_GDT_ADDR + 16, 8), 0x00cf93000000ffffULL);
}

TEST(real_vmlinux_if_built)
{
	const char *path = "build/guest/vmlinux";
	struct kernel_image k;
	struct boot_err err = { "" };
	struct stat st;

	if (stat(path, &st) < 0)
		SKIP("%s not built (make kernel)", path);
	fresh_mem(256ULL << 20);
	CHECK_EQ(kernel_load_file(&mem, path, &k, &err), 0);
	CHECK_EQ(k.format, KERNEL_ELF);
	CHECK(k.entry >= k.start && k.entry < k.end);
	fresh_mem(16ULL << 20);
	CHECK(kernel_load_file(&mem, path, &k, &err) < 0);
	CHECK(strstr(err.msg, "memory too small") != NULL);
}

TEST(real_bzimage_if_built)
{
	const char *path = "build/guest/bzImage";
	struct kernel_image k;
	struct boot_err err = { "" };
	struct stat st;

	if (stat(path, &st) < 0)
		SKIP("%s not built (make kernel)", path);
	fresh_mem(256ULL << 20);
	CHECK_EQ(kernel_load_file(&mem, path, &k, &err), 0);
	CHECK_EQ(k.format, KERNEL_BZIMAGE);
	CHECK_EQ(k.entry, k.start + 0x200);
}
