// SPDX-License-Identifier: Apache-2.0
/* Command-line parsing, Firecracker's jailer syntax. Pure: no side effects, testable. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jailer/jailer.h"

void jail_usage(void)
{
	puts("usage: jailer --id <id> --exec-file <path> --uid <uid> --gid <gid>\n"
	     "              [--chroot-base-dir <dir>] [--netns <path>] [--daemonize]\n"
	     "              [--new-pid-ns] [--cgroup <file>=<value>]... [--cgroup-version 1|2]\n"
	     "              [--parent-cgroup <path>] [--resource-limit fsize=N|no-file=N]...\n"
	     "              [-- <arguments for the exec file>]");
}

bool jail_id_valid(const char *id)
{
	size_t n = 0;

	for (const char *c = id; *c; c++, n++)
		if (n >= JAIL_ID_MAX || (!isalnum((unsigned char)*c) && *c != '-'))
			return false;
	return n > 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Decimal only, no sign, no trailing junk, <= max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A relative path of plain components: no "..", ".", empty parts or odd characters. */
static bool cgroup_path_valid(const char *p)
{
	const char *c = p;

	if (!*p || *p == '/' || strlen(p) > 1024)
		return false;
	for (; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_./", *c))
			return false;
	for (c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && !strncmp(c, "..", 2)))
			return false;
		c += n;
		if (*c == '/') {
			c++;
			if (!*c)
				return false;
		}
	}
	return true;
}

static int parse_cgroup(char *arg, struct jail_args *a, char *err, size_t errlen)
{
	char *eq = strchr(arg, '=');
	struct jail_cgroup *cg;
	size_t clen;

	if (a->ncgroups == JAIL_MAX_CGROUPS)
		return fail(err, errlen, "too many --cgroup options (at most %d)", JAIL_MAX_CGROUPS);
	if (!eq || eq == arg)
		return fail(err, errlen, "--cgroup '%s': expected <file>=<value>", arg);
	*eq = '\0';
	/* The file name goes into a path: [a-z0-9_.] only, a controller prefix, a dot. */
	for (const char *c = arg; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_' &&
		    *c != '.')
			return fail(err, errlen, "--cgroup: bad file name '%s'", arg);
	clen = strcspn(arg, ".");
	if (clen == 0 || !arg[clen] || !arg[clen + 1] || clen >= sizeof(cg->controller))
		return fail(err, errlen, "--cgroup: '%s' is not <controller>.<file>", arg);
	if (strchr(eq + 1, '\n'))
		return fail(err, errlen, "--cgroup %s: value contains a newline", arg);
	cg = &a->cgroups[a->ncgroups++];
	cg->file = arg;
	cg->value = eq + 1;
	memcpy(cg->controller, arg, clen);
	cg->controller[clen] = '\0';
	return 0;
}

static int parse_rlimit(char *arg, struct jail_args *a, char *err, size_t errlen)
{
	char *eq = strchr(arg, '=');
	uint64_t v;
	int res;

	if (!eq)
		return fail(err, errlen, "--resource-limit '%s': expected <resource>=<value>", arg);
	*eq = '\0';
	if (!strcmp(arg, "fsize"))
		res = RLIMIT_FSIZE;
	else if (!strcmp(arg, "no-file"))
		res = RLIMIT_NOFILE;
	else
		return fail(err, errlen, "--resource-limit: unknown resource '%s' (fsize, no-file)",
			    arg);
	/* RLIM_INFINITY is all ones; refuse it so a typo cannot lift a limit. */
	if (parse_u64(eq + 1, RLIM_INFINITY - 1, &v))
		return fail(err, errlen, "--resource-limit %s: bad value '%s'", arg, eq + 1);
	for (size_t i = 0; i < a->nrlimits; i++)
		if (a->rlimits[i].resource == res)
			return fail(err, errlen, "--resource-limit %s given twice", arg);
	if (a->nrlimits == JAIL_MAX_RLIMITS)
		return fail(err, errlen, "too many --resource-limit options");
	a->rlimits[a->nrlimits].resource = res;
	a->rlimits[a->nrlimits++].value = (rlim_t)v;
	return 0;
}

static int parse_id_number(const char *flag, const char *s, uint32_t *out, char *err,
			   size_t errlen)
{
	uint64_t v;

	/* (uid_t)-1 means "unchanged" to set*id(); never a valid target. */
	if (parse_u64(s, UINT32_MAX - 1, &v))
		return fail(err, errlen, "%s: '%s' is not a number below 4294967295", flag, s);
	*out = (uint32_t)v;
	return 0;
}

int jail_parse_args(int argc, char **argv, struct jail_args *a, char *err, size_t errlen)
{
	static char *no_args[] = { NULL };
	int i, r = 0;

	memset(a, 0, sizeof(*a));
	a->base_dir = JAIL_DEFAULT_BASE;
	a->cgroup_version = 1;
	a->vmm_argv = no_args;

	for (i = 1; i < argc && !r; i++) {
		char *opt = argv[i], *val = NULL, *eq;
		bool takes_value;

		if (!strcmp(opt, "--")) {
			a->vmm_argv = &argv[i + 1];
			a->vmm_argc = argc - i - 1;
			i = argc;
			break;
		}
		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return 1;
		if (!strcmp(opt, "--daemonize")) {
			a->daemonize = true;
			continue;
		}
		if (!strcmp(opt, "--new-pid-ns")) {
			a->new_pid_ns = true;
			continue;
		}
		takes_value = !strncmp(opt, "--", 2);
		/* Accept both "--flag value" and "--flag=value". */
		eq = takes_value ? strchr(opt, '=') : NULL;
		if (eq) {
			*eq = '\0';
			val = eq + 1;
		} else if (takes_value && i + 1 < argc) {
			val = argv[++i];
		}
#define IS(name) (!strcmp(opt, name))
		if (!IS("--id") && !IS("--exec-file") && !IS("--uid") && !IS("--gid") &&
		    !IS("--chroot-base-dir") && !IS("--netns") && !IS("--cgroup") &&
		    !IS("--cgroup-version") && !IS("--parent-cgroup") && !IS("--resource-limit"))
			return fail(err, errlen, "unknown option '%s' (see --help)", opt);
		if (!val)
			return fail(err, errlen, "%s needs a value", opt);
		if (IS("--id")) {
			a->id = val;
		} else if (IS("--exec-file")) {
			a->exec_file = val;
		} else if (IS("--uid")) {
			r = parse_id_number(opt, val, &a->uid, err, errlen);
			a->have_uid = true;
		} else if (IS("--gid")) {
			r = parse_id_number(opt, val, &a->gid, err, errlen);
			a->have_gid = true;
		} else if (IS("--chroot-base-dir")) {
			a->base_dir = val;
		} else if (IS("--netns")) {
			a->netns = val;
		} else if (IS("--cgroup")) {
			r = parse_cgroup(val, a, err, errlen);
		} else if (IS("--cgroup-version")) {
			if (strcmp(val, "1") && strcmp(val, "2"))
				return fail(err, errlen, "--cgroup-version must be 1 or 2, not '%s'",
					    val);
			a->cgroup_version = val[0] - '0';
		} else if (IS("--parent-cgroup")) {
			a->parent_cgroup = val;
		} else if (IS("--resource-limit")) {
			r = parse_rlimit(val, a, err, errlen);
		}
#undef IS
	}
	if (r)
		return r;
	if (!a->id)
		return fail(err, errlen, "missing --id");
	if (!jail_id_valid(a->id))
		return fail(err, errlen, "invalid --id '%s': want 1 to %d of [A-Za-z0-9-]", a->id,
			    JAIL_ID_MAX);
	if (!a->exec_file || !*a->exec_file)
		return fail(err, errlen, "missing --exec-file");
	if (!a->have_uid)
		return fail(err, errlen, "missing --uid");
	if (!a->have_gid)
		return fail(err, errlen, "missing --gid");
	if (a->base_dir[0] != '/' || strlen(a->base_dir) > 1024)
		return fail(err, errlen, "--chroot-base-dir must be an absolute path");
	if (a->netns && a->netns[0] != '/')
		return fail(err, errlen, "--netns must be an absolute path");
	if (a->parent_cgroup && !cgroup_path_valid(a->parent_cgroup))
		return fail(err, errlen,
			    "invalid --parent-cgroup '%s': want a relative path without '..'",
			    a->parent_cgroup);
	return 0;
}
