// SPDX-License-Identifier: Apache-2.0
/*
 * Resource limits and the privilege drop. Order (as crun): bounding set, groups,
 * gid, uid, then the remaining capability sets and ambient, each verified after.
 */
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jailer/jailer.h"

void jail_apply_rlimits(const struct jail_args *a)
{
	bool nofile_given = false;

	for (size_t i = 0; i < a->nrlimits; i++) {
		struct rlimit rl = { a->rlimits[i].value, a->rlimits[i].value };
		const char *name = a->rlimits[i].resource == RLIMIT_NOFILE ? "no-file" : "fsize";

		if (a->rlimits[i].resource == RLIMIT_NOFILE)
			nofile_given = true;
		if (setrlimit(a->rlimits[i].resource, &rl) < 0)
			jail_die_errno("--resource-limit %s=%llu", name,
				       (unsigned long long)a->rlimits[i].value);
	}
	if (!nofile_given) {
		struct rlimit rl = { JAIL_DEFAULT_NOFILE, JAIL_DEFAULT_NOFILE };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			jail_die_errno("default no-file limit");
	}
}

void jail_drop_privileges(const struct jail_args *a)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* Bounding set first: it needs CAP_SETPCAP, which goes away with the uid change. */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_BOUNDS) < 0)
		jail_die("cannot clear the capability bounding set");
	if (setgroups(0, NULL) < 0)
		jail_die_errno("setgroups");
	if (setresgid(a->gid, a->gid, a->gid) < 0)
		jail_die_errno("setresgid %u", a->gid);
	if (setresuid(a->uid, a->uid, a->uid) < 0)
		jail_die_errno("setresuid %u", a->uid);
	/* Leaving uid 0 already empties the sets, but not for --uid 0: be explicit. */
	capng_clear(CAPNG_SELECT_CAPS);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		jail_die("cannot clear the capability sets");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		jail_die_errno("clear the ambient capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		jail_die_errno("PR_SET_NO_NEW_PRIVS");

	/* Verify with the kernel rather than trust the calls above. There is no /proc in
	 * the jail, so ask with capget and prctl. */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != a->uid ||
	    eu != a->uid || su != a->uid || rg != a->gid || eg != a->gid || sg != a->gid ||
	    getgroups(0, NULL) != 0)
		jail_die("identity check failed after the drop");
	{
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];

		/* glibc has no capget() wrapper. */
		if (syscall(SYS_capget, &hdr, data) < 0)
			jail_die_errno("capget");
		for (int i = 0; i < 2; i++)
			if (data[i].effective || data[i].permitted || data[i].inheritable)
				jail_die("capabilities left after the drop");
	}
	for (int cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (r < 0)
			break;	/* past the kernel's last capability */
		if (r > 0)
			jail_die("capability %d left in the bounding set", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			jail_die("ambient capability %d left", cap);
	}
}
