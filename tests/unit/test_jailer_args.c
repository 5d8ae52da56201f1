// SPDX-License-Identifier: Apache-2.0
/* The jailer's command-line parser: every accepted and refused form. */
#include "tests/unit/test.h"

#include <errno.h>
#include <sys/resource.h>

#include "jailer/jailer.h"

#define MAXARGS 32

/* Parse a NULL-terminated list (copied: the parser writes into option values). */
static int parse(struct jail_args *a, char *err, const char *const *args)
{
	static char store[MAXARGS][256];
	static char *argv[MAXARGS + 1];
	int argc = 0;

	snprintf(store[0], sizeof(store[0]), "jailer");
	argv[argc++] = store[0];
	for (; *args && argc < MAXARGS; args++, argc++) {
		snprintf(store[argc], sizeof(store[argc]), "%s", *args);
		argv[argc] = store[argc];
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return jail_parse_args(argc, argv, a, err, 256);
}

#define BASE "--id", "vm-1", "--exec-file", "/bin/vmm", "--uid", "100", "--gid", "200"

TEST(minimal_defaults)
{
	struct jail_args a;
	char err[256];
	const char *args[] = { BASE, NULL };

	CHECK_EQ(parse(&a, err, args), 0);
	CHECK_STR(a.id, "vm-1");
	CHECK_STR(a.exec_file, "/bin/vmm");
	CHECK_EQ(a.uid, 100);
	CHECK_EQ(a.gid, 200);
	CHECK_STR(a.base_dir, "/srv/jailer");
	CHECK_EQ(a.cgroup_version, 1);
	CHECK(!a.daemonize && !a.new_pid_ns && !a.netns && !a.parent_cgroup);
	CHECK_EQ(a.vmm_argc, 0);
	CHECK(a.vmm_argv && !a.vmm_argv[0]);
}

TEST(full_command_line)
{
	struct jail_args a;
	char err[256];
	const char *args[] = { BASE, "--chroot-base-dir=/tmp/j", "--netns", "/run/netns/x",
			       "--daemonize", "--new-pid-ns", "--cgroup", "cpu.shares=512",
			       "--cgroup=memory.limit_in_bytes=1000", "--cgroup-version", "2",
			       "--parent-cgroup", "fc/vms", "--resource-limit", "fsize=10",
			       "--resource-limit", "no-file=64", "--", "--api-sock", "/run/a",
			       NULL };

	CHECK_EQ(parse(&a, err, args), 0);
	CHECK_STR(a.base_dir, "/tmp/j");
	CHECK_STR(a.netns, "/run/netns/x");
	CHECK(a.daemonize && a.new_pid_ns);
	CHECK_EQ(a.ncgroups, 2);
	CHECK_STR(a.cgroups[0].file, "cpu.shares");
	CHECK_STR(a.cgroups[0].value, "512");
	CHECK_STR(a.cgroups[0].controller, "cpu");
	CHECK_STR(a.cgroups[1].controller, "memory");
	CHECK_STR(a.cgroups[1].value, "1000");
	CHECK_EQ(a.cgroup_version, 2);
	CHECK_STR(a.parent_cgroup, "fc/vms");
	CHECK_EQ(a.nrlimits, 2);
	CHECK_EQ(a.rlimits[0].resource, RLIMIT_FSIZE);
	CHECK_EQ(a.rlimits[0].value, 10);
	CHECK_EQ(a.rlimits[1].resource, RLIMIT_NOFILE);
	CHECK_EQ(a.rlimits[1].value, 64);
	CHECK_EQ(a.vmm_argc, 2);
	CHECK_STR(a.vmm_argv[0], "--api-sock");
	CHECK_STR(a.vmm_argv[1], "/run/a");
	CHECK(!a.vmm_argv[2]);
}

TEST(id_validation)
{
	char id64[65], id65[66];

	memset(id64, 'a', 64);
	id64[64] = '\0';
	memset(id65, 'b', 65);
	id65[65] = '\0';
	CHECK(jail_id_valid("abc-DEF-123"));
	CHECK(jail_id_valid(id64));
	CHECK(!jail_id_valid(id65));
	CHECK(!jail_id_valid(""));
	CHECK(!jail_id_valid("a/b"));
	CHECK(!jail_id_valid(".."));
	CHECK(!jail_id_valid("a_b"));
	CHECK(!jail_id_valid("a b"));
}

/* Each of these must be refused with a message naming the problem. */
TEST(refused)
{
	static const struct {
		const char *args[14];
		const char *msg;
	} cases[] = {
		{ { "--exec-file", "/x", "--uid", "1", "--gid", "1" }, "missing --id" },
		{ { "--id", "a/b", "--exec-file", "/x", "--uid", "1", "--gid", "1" }, "invalid --id" },
		{ { "--id", "", "--exec-file", "/x", "--uid", "1", "--gid", "1" }, "invalid --id" },
		{ { "--id", "a", "--uid", "1", "--gid", "1" }, "missing --exec-file" },
		{ { "--id", "a", "--exec-file", "/x", "--gid", "1" }, "missing --uid" },
		{ { "--id", "a", "--exec-file", "/x", "--uid", "1" }, "missing --gid" },
		{ { BASE, "--uid", "-1" }, "--uid" },
		{ { BASE, "--uid", "abc" }, "--uid" },
		{ { BASE, "--uid", "4294967295" }, "--uid" },
		{ { BASE, "--gid", "99999999999999999999" }, "--gid" },
		{ { BASE, "--uid", "12x" }, "--uid" },
		{ { BASE, "--bogus" }, "unknown option" },
		{ { BASE, "stray" }, "unknown option" },
		{ { BASE, "--netns" }, "needs a value" },
		{ { BASE, "--netns", "relative" }, "absolute" },
		{ { BASE, "--chroot-base-dir", "rel" }, "absolute" },
		{ { BASE, "--cgroup", "noequals" }, "expected" },
		{ { BASE, "--cgroup", "=1" }, "expected" },
		{ { BASE, "--cgroup", "nodot=1" }, "not <controller>.<file>" },
		{ { BASE, "--cgroup", "cpu.=1" }, "not <controller>.<file>" },
		{ { BASE, "--cgroup", "../cpu.shares=1" }, "bad file name" },
		{ { BASE, "--cgroup", "cpu/x.y=1" }, "bad file name" },
		{ { BASE, "--cgroup-version", "3" }, "1 or 2" },
		{ { BASE, "--parent-cgroup", "../up" }, "--parent-cgroup" },
		{ { BASE, "--parent-cgroup", "/abs" }, "--parent-cgroup" },
		{ { BASE, "--parent-cgroup", "a//b" }, "--parent-cgroup" },
		{ { BASE, "--parent-cgroup", "a/./b" }, "--parent-cgroup" },
		{ { BASE, "--parent-cgroup", "a/" }, "--parent-cgroup" },
		{ { BASE, "--resource-limit", "cpu=1" }, "unknown resource" },
		{ { BASE, "--resource-limit", "fsize" }, "expected" },
		{ { BASE, "--resource-limit", "fsize=-1" }, "bad value" },
		{ { BASE, "--resource-limit", "fsize=1k" }, "bad value" },
		{ { BASE, "--resource-limit", "no-file=18446744073709551615" }, "bad value" },
		{ { BASE, "--resource-limit", "fsize=1", "--resource-limit", "fsize=2" }, "twice" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jail_args a;
		char err[256];
		int r = parse(&a, err, cases[i].args);

		if (r != -EINVAL || !strstr(err, cases[i].msg)) {
			fprintf(stderr, "  case %zu: r=%d err='%s' want '%s'\n", i, r, err,
				cases[i].msg);
			CHECK(0);
		}
	}
}

TEST(help)
{
	struct jail_args a;
	char err[256];
	const char *args[] = { "--help", NULL };

	CHECK_EQ(parse(&a, err, args), 1);
}

TEST(parent_cgroup_accepted)
{
	struct jail_args a;
	char err[256];
	const char *args[] = { BASE, "--parent-cgroup", "all_vms/ext-1.x", NULL };

	CHECK_EQ(parse(&a, err, args), 0);
	CHECK_STR(a.parent_cgroup, "all_vms/ext-1.x");
}
