// SPDX-License-Identifier: Apache-2.0
/*
 * Build-time policy compiler: reads vmm/seccomp/policy/<thread>.policy, builds allow-list
 * filters with libseccomp and writes a C source embedding the BPF (one trap-mode and
 * one log-mode program per thread kind) and a syscall number -> name table for the
 * SIGSYS reporter. Runs on the build host only.
 *
 *   seccomp-compile -o out.c vcpu=vcpu.policy vmm=vmm.policy jailer=a.policy,b.policy
 *
 * Several files for one name are merged (the jailer's filter is the union of all
 * thread policies plus its own). Policy syntax, one rule per line, '#' comments:
 *   <syscall>                 allow the syscall with any arguments
 *   ioctl <REQUEST>...        allow ioctl for these request names only (table below)
 * Any unknown name is an error: a typo must fail the build, not weaken a filter.
 */
#include <ctype.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/seccomp/filters.h"

#define IOCTL(name) { #name, (uint32_t)(name) }

static const struct ioctl_name {
	const char *name;
	uint32_t req;
} ioctl_table[] = {
	/* /dev/kvm system ioctls */
	IOCTL(KVM_GET_API_VERSION), IOCTL(KVM_CREATE_VM), IOCTL(KVM_CHECK_EXTENSION),
	IOCTL(KVM_GET_VCPU_MMAP_SIZE), IOCTL(KVM_GET_SUPPORTED_CPUID),
	IOCTL(KVM_GET_MSR_INDEX_LIST), IOCTL(KVM_GET_MSR_FEATURE_INDEX_LIST),
	/* VM ioctls */
	IOCTL(KVM_CREATE_VCPU), IOCTL(KVM_SET_USER_MEMORY_REGION), IOCTL(KVM_SET_TSS_ADDR),
	IOCTL(KVM_SET_IDENTITY_MAP_ADDR), IOCTL(KVM_CREATE_IRQCHIP), IOCTL(KVM_CREATE_PIT2),
	IOCTL(KVM_GET_IRQCHIP), IOCTL(KVM_SET_IRQCHIP), IOCTL(KVM_GET_PIT2),
	IOCTL(KVM_SET_PIT2), IOCTL(KVM_IRQ_LINE), IOCTL(KVM_IRQ_LINE_STATUS),
	IOCTL(KVM_IRQFD), IOCTL(KVM_IOEVENTFD), IOCTL(KVM_SET_GSI_ROUTING),
	IOCTL(KVM_SIGNAL_MSI), IOCTL(KVM_GET_CLOCK), IOCTL(KVM_SET_CLOCK),
	IOCTL(KVM_GET_DIRTY_LOG), IOCTL(KVM_ENABLE_CAP),
	/* vCPU ioctls */
	IOCTL(KVM_RUN), IOCTL(KVM_GET_REGS), IOCTL(KVM_SET_REGS), IOCTL(KVM_GET_SREGS),
	IOCTL(KVM_SET_SREGS), IOCTL(KVM_GET_FPU), IOCTL(KVM_SET_FPU), IOCTL(KVM_GET_MSRS),
	IOCTL(KVM_SET_MSRS), IOCTL(KVM_GET_LAPIC), IOCTL(KVM_SET_LAPIC),
	IOCTL(KVM_GET_MP_STATE), IOCTL(KVM_SET_MP_STATE), IOCTL(KVM_GET_VCPU_EVENTS),
	IOCTL(KVM_SET_VCPU_EVENTS), IOCTL(KVM_GET_XSAVE), IOCTL(KVM_SET_XSAVE),
	IOCTL(KVM_GET_XCRS), IOCTL(KVM_SET_XCRS), IOCTL(KVM_GET_DEBUGREGS),
	IOCTL(KVM_SET_DEBUGREGS), IOCTL(KVM_SET_CPUID2), IOCTL(KVM_GET_CPUID2),
	IOCTL(KVM_SET_SIGNAL_MASK), IOCTL(KVM_KVMCLOCK_CTRL), IOCTL(KVM_SET_GUEST_DEBUG),
	IOCTL(KVM_TRANSLATE), IOCTL(KVM_INTERRUPT), IOCTL(KVM_NMI),
	IOCTL(KVM_GET_TSC_KHZ), IOCTL(KVM_SET_TSC_KHZ),
	/* TUN/TAP */
	IOCTL(TUNSETIFF), IOCTL(TUNGETIFF), IOCTL(TUNSETOFFLOAD), IOCTL(TUNSETVNETHDRSZ),
	IOCTL(TUNGETVNETHDRSZ), IOCTL(TUNSETPERSIST), IOCTL(TUNGETFEATURES),
	/* vhost (net and vsock) */
	IOCTL(VHOST_GET_FEATURES), IOCTL(VHOST_SET_FEATURES), IOCTL(VHOST_SET_OWNER),
	IOCTL(VHOST_RESET_OWNER), IOCTL(VHOST_SET_MEM_TABLE), IOCTL(VHOST_SET_VRING_NUM),
	IOCTL(VHOST_SET_VRING_ADDR), IOCTL(VHOST_SET_VRING_BASE),
	IOCTL(VHOST_GET_VRING_BASE), IOCTL(VHOST_SET_VRING_KICK),
	IOCTL(VHOST_SET_VRING_CALL), IOCTL(VHOST_SET_VRING_ERR),
	IOCTL(VHOST_NET_SET_BACKEND), IOCTL(VHOST_VSOCK_SET_GUEST_CID),
	IOCTL(VHOST_VSOCK_SET_RUNNING),
	/* userfaultfd (snapshot restore) */
	IOCTL(UFFDIO_API), IOCTL(UFFDIO_REGISTER), IOCTL(UFFDIO_UNREGISTER),
	IOCTL(UFFDIO_COPY), IOCTL(UFFDIO_ZEROPAGE), IOCTL(UFFDIO_WAKE),
	/* terminals and generic fd ioctls */
	IOCTL(TCGETS), IOCTL(TCSETS), IOCTL(TCSETSW), IOCTL(TCSETSF), IOCTL(TIOCGWINSZ),
	IOCTL(FIONBIO), IOCTL(FIONREAD), IOCTL(FIOCLEX), IOCTL(FIONCLEX),
};

/* Generous bounds: a policy is a short hand-written file. */
#define MAX_RULES 512
#define MAX_LINE 256

struct policy {
	char *syscalls[MAX_RULES];
	int nr_syscalls[MAX_RULES];
	size_t nsyscalls;
	uint32_t ioctls[MAX_RULES];
	size_t nioctls;
};

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fputs("seccomp-compile: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int ioctl_lookup(const char *name, uint32_t *req)
{
	for (size_t i = 0; i < sizeof(ioctl_table) / sizeof(ioctl_table[0]); i++) {
		if (!strcmp(ioctl_table[i].name, name)) {
			*req = ioctl_table[i].req;
			return 0;
		}
	}
	return -ENOENT;
}

static void add_syscall(struct policy *p, const char *name, const char *where)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		die("%s: unknown syscall '%s'", where, name);
	if (!strcmp(name, "ioctl"))
		die("%s: 'ioctl' needs at least one request name", where);
	for (size_t i = 0; i < p->nsyscalls; i++)
		if (p->nr_syscalls[i] == nr)
			return;
	if (p->nsyscalls == MAX_RULES)
		die("%s: too many rules", where);
	p->syscalls[p->nsyscalls] = strdup(name);
	p->nr_syscalls[p->nsyscalls++] = nr;
}

static void add_ioctl(struct policy *p, const char *name, const char *where)
{
	uint32_t req;

	if (ioctl_lookup(name, &req))
		die("%s: unknown ioctl request '%s' (add it to the table in %s)", where, name,
		    __FILE__);
	for (size_t i = 0; i < p->nioctls; i++)
		if (p->ioctls[i] == req)
			return;
	if (p->nioctls == MAX_RULES)
		die("%s: too many ioctl rules", where);
	p->ioctls[p->nioctls++] = req;
}

static void parse_policy(struct policy *p, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[MAX_LINE + 2], where[512];
	unsigned int lineno = 0;

	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok, *hash;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!strchr(line, '\n') && !feof(f))
			die("%s: line too long", where);
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok)
			continue;
		for (const char *c = tok; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '_')
				die("%s: bad name '%s'", where, tok);
		if (!strcmp(tok, "ioctl")) {
			int n = 0;

			while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
				add_ioctl(p, tok, where);
				n++;
			}
			if (!n)
				die("%s: 'ioctl' needs at least one request name", where);
			continue;
		}
		add_syscall(p, tok, where);
		if (strtok_r(NULL, " \t\r\n", &save))
			die("%s: only ioctl takes arguments", where);
	}
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
}

/* Build one filter and return its BPF (malloc'd) and size in bytes. */
static unsigned char *build(const struct policy *p, uint32_t def_action, size_t *len)
{
	scmp_filter_ctx ctx = seccomp_init(def_action);
	unsigned char *buf;
	FILE *mem;
	long size;
	int r;

	if (!ctx)
		die("seccomp_init failed");
	/* A foreign-ABI syscall (x32, i386) is as fatal as a forbidden one. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS))
		die("cannot set the bad-arch action");
	/* Binary-tree dispatch keeps long allow-lists cheap on the hot path (KVM_RUN loop). */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < p->nsyscalls; i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, p->nr_syscalls[i], 0);
		if (r)
			die("rule for %s: %s", p->syscalls[i], strerror(-r));
	}
	for (size_t i = 0; i < p->nioctls; i++) {
		/* The kernel reads cmd as 32 bits; compare only those so sign extension by a
		 * caller cannot turn an allowed request into a denied one or back. */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, p->ioctls[i]));
		if (r)
			die("ioctl rule 0x%x: %s", p->ioctls[i], strerror(-r));
	}
	mem = tmpfile();
	if (!mem)
		die("tmpfile: %s", strerror(errno));
	r = seccomp_export_bpf(ctx, fileno(mem));
	if (r)
		die("seccomp_export_bpf: %s", strerror(-r));
	size = lseek(fileno(mem), 0, SEEK_END);
	if (size <= 0 || size % 8 || lseek(fileno(mem), 0, SEEK_SET) != 0)
		die("exported BPF has a bad size %ld", size);
	buf = malloc((size_t)size);
	if (!buf || read(fileno(mem), buf, (size_t)size) != size)
		die("reading exported BPF failed");
	fclose(mem);
	seccomp_release(ctx);
	*len = (size_t)size;
	return buf;
}

static void emit(FILE *out, const char *name, const char *mode, const unsigned char *bpf,
		 size_t len)
{
	fprintf(out, "static const struct sock_filter %s_%s[%zu] = {\n", name, mode, len / 8);
	for (size_t i = 0; i < len; i += 8) {
		uint16_t code;
		uint32_t k;

		memcpy(&code, bpf + i, 2);
		memcpy(&k, bpf + i + 4, 4);
		fprintf(out, "\t{ 0x%04x, %u, %u, 0x%08x },\n", code, bpf[i + 2], bpf[i + 3], k);
	}
	fputs("};\n\n", out);
}

static const char *const known_names[] = { "vcpu", "vmm", "api", "jailer" };

int main(int argc, char **argv)
{
	const char *out_path = NULL;
	char tmp_path[4096];
	FILE *out;
	int first = 1;
	int seen[4] = { 0 };

	if (argc >= 3 && !strcmp(argv[1], "-o")) {
		out_path = argv[2];
		first = 3;
	}
	if (!out_path || first >= argc)
		die("usage: seccomp-compile -o out.c <name>=<policy>[,<policy>...]...");
	snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", out_path);
	out = fopen(tmp_path, "we");
	if (!out)
		die("%s: %s", tmp_path, strerror(errno));
	fputs("/* Generated by vmm/seccomp/seccomp-compile from vmm/seccomp/policy/. Do not edit. */\n"
	      "#include \"vmm/seccomp/filters.h\"\n\n", out);

	for (int a = first; a < argc; a++) {
		char *arg = strdup(argv[a]), *eq = strchr(arg, '='), *save = NULL, *file;
		struct policy *p = calloc(1, sizeof(*p));
		unsigned char *bpf;
		size_t len;
		int idx = -1;

		if (!eq || !p)
			die("bad argument '%s' (want name=policy[,policy])", argv[a]);
		*eq = '\0';
		for (int i = 0; i < 4; i++)
			if (!strcmp(arg, known_names[i]))
				idx = i;
		if (idx < 0 || seen[idx]++)
			die("unknown or repeated filter name '%s'", arg);
		for (file = strtok_r(eq + 1, ",", &save); file; file = strtok_r(NULL, ",", &save))
			parse_policy(p, file);
		/* Trap, not kill: SIGSYS reaches the VMM's handler, which logs the thread and
		 * syscall and exits with a distinct status (vmm/seccomp/sigsys.c). Without a
		 * handler SIGSYS still kills the whole process. */
		bpf = build(p, SCMP_ACT_TRAP, &len);
		emit(out, arg, "kill", bpf, len);
		free(bpf);
		bpf = build(p, SCMP_ACT_LOG, &len);
		emit(out, arg, "log", bpf, len);
		free(bpf);
		for (size_t i = 0; i < p->nsyscalls; i++)
			free(p->syscalls[i]);
		free(p);
		free(arg);
	}
	fputs("const struct seccomp_embedded_bpf seccomp_embedded_bpf[SECCOMP_THREAD_COUNT][2] = {\n",
	      out);
	for (int i = 0; i < 4; i++) {
		char upper[16];
		size_t n = 0;

		if (!seen[i])
			die("no policy given for '%s'", known_names[i]);
		for (const char *c = known_names[i]; *c && n < sizeof(upper) - 1; c++)
			upper[n++] = (char)toupper((unsigned char)*c);
		upper[n] = '\0';
		fprintf(out,
			"\t[SECCOMP_THREAD_%s] = {\n"
			"\t\t[SECCOMP_MODE_KILL] = { %s_kill, sizeof(%s_kill) / sizeof(%s_kill[0]) },\n"
			"\t\t[SECCOMP_MODE_LOG] = { %s_log, sizeof(%s_log) / sizeof(%s_log[0]) },\n"
			"\t},\n",
			upper, known_names[i], known_names[i], known_names[i], known_names[i],
			known_names[i], known_names[i]);
	}
	fputs("};\n\n", out);
	fputs("const char *const seccomp_syscall_names[SECCOMP_SYSCALL_NAMES] = {\n", out);
	for (int nr = 0; nr < SECCOMP_SYSCALL_NAMES; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name) {
			for (const char *c = name; *c; c++)
				if (!isalnum((unsigned char)*c) && *c != '_')
					die("odd syscall name for %d", nr);
			fprintf(out, "\t[%d] = \"%s\",\n", nr, name);
		}
		free(name);
	}
	fputs("};\n", out);
	if (fflush(out) || ferror(out) || fclose(out))
		die("%s: write error", tmp_path);
	if (rename(tmp_path, out_path))
		die("rename %s: %s", out_path, strerror(errno));
	return 0;
}
