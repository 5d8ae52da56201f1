/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The jailer: builds a chroot jail for one microVM and execs the VMM inside it as an
 * unprivileged user with no capabilities, no_new_privs and a seccomp filter.
 *
 * Like bubblewrap it runs privileged and is kept small: any error is fatal, printed
 * as "jailer: <what>: <why>", and undoes what this run created (jail directory,
 * cgroups) before exiting non-zero. Nothing in here is a library.
 */
#ifndef JAILER_JAILER_H
#define JAILER_JAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#define JAIL_MAX_CGROUPS 32
#define JAIL_MAX_RLIMITS 8
#define JAIL_ID_MAX 64
#define JAIL_DEFAULT_BASE "/srv/jailer"
/* Firecracker's default when no --resource-limit is given. */
#define JAIL_DEFAULT_NOFILE 2048

struct jail_cgroup {
	const char *file;	/* e.g. "cpu.shares" */
	const char *value;
	char controller[32];	/* the file's prefix, e.g. "cpu" */
};

struct jail_rlimit {
	int resource;		/* RLIMIT_FSIZE or RLIMIT_NOFILE */
	rlim_t value;
};

struct jail_args {
	const char *id;
	const char *exec_file;
	const char *base_dir;
	const char *netns;
	const char *parent_cgroup;	/* NULL: the exec file's name */
	uid_t uid;
	gid_t gid;
	bool have_uid, have_gid;
	bool daemonize;
	bool new_pid_ns;
	int cgroup_version;		/* 1 or 2 */
	struct jail_cgroup cgroups[JAIL_MAX_CGROUPS];
	size_t ncgroups;
	struct jail_rlimit rlimits[JAIL_MAX_RLIMITS];
	size_t nrlimits;
	char **vmm_argv;		/* arguments after "--" (NULL-terminated) */
	int vmm_argc;
};

/*
 * Parse the command line into a (argv is borrowed, not copied). On error, 0 is not
 * returned and err holds a one-line message. 0, 1 (--help was asked) or -EINVAL.
 */
int jail_parse_args(int argc, char **argv, struct jail_args *a, char *err, size_t errlen);

/* [A-Za-z0-9-]{1,64} */
bool jail_id_valid(const char *id);

/* Print the usage text to stdout. */
void jail_usage(void);

/* --- main.c: failure handling --------------------------------------------------- */

/* Print "jailer: <msg>", undo what this run created, exit 1. */
void __attribute__((noreturn, format(printf, 1, 2))) jail_die(const char *fmt, ...);
/* Same, appending ": <strerror(errno)>". */
void __attribute__((noreturn, format(printf, 1, 2))) jail_die_errno(const char *fmt, ...);

/* --- fs.c: the jail directory ------------------------------------------------- */

struct jail_fs {
	char base_dir[4096];
	char exec_name[256];
	char exec_dir[4096];	/* <base>/<exec name> */
	char id_dir[4096];	/* <base>/<exec name>/<id> */
	char root[4096];	/* <base>/<exec name>/<id>/root */
	int exec_fd;		/* the source exec file, opened before anything is created */
	int host_mntns_fd;	/* to get back out for cleanup after pivot_root */
	bool created_base, created_exec_dir, created_id_dir;
	bool pivoted;
};

/* Resolve paths and open the exec file; creates nothing. */
void jail_fs_prepare(struct jail_fs *fs, const struct jail_args *a);
/* mkdir <base>/<exec name>/<id>/root (the id directory must not exist) and copy the
 * exec file in. */
void jail_fs_create(struct jail_fs *fs, const struct jail_args *a);
/* New mount namespace, pivot_root into the jail, detach the host tree. */
void jail_fs_enter(struct jail_fs *fs);
/* Device nodes in the jail's /dev, owned by uid:gid. Call inside the jail; needs the
 * host device numbers gathered by jail_fs_prepare(). */
void jail_fs_make_devices(const struct jail_args *a);
/* Gather host device numbers (vhost, userfaultfd) while the host tree is visible. */
void jail_fs_probe_devices(void);
/* Inside the jail: refuse a dynamically linked exec file whose interpreter is absent
 * (execve would fail with a puzzling ENOENT after the privilege drop). */
void jail_fs_check_interpreter(const char *path);
/* Remove everything jail_fs_create() made. Best effort, prints what it could not. */
void jail_fs_cleanup(struct jail_fs *fs);

/* --- cgroup.c ------------------------------------------------------------------- */

/* Find the hierarchy of every requested controller; creates nothing. */
void jail_cgroup_prepare(const struct jail_args *a);
/* Create <parent>/<id> in each hierarchy, write the values, move this process in. */
void jail_cgroup_apply(const struct jail_args *a);
/* Move back to the original cgroups and remove the ones created. Best effort. */
void jail_cgroup_cleanup(void);

/* --- privs.c -------------------------------------------------------------------- */

/* Apply --resource-limit values (or the default no-file limit). */
void jail_apply_rlimits(const struct jail_args *a);
/* Become uid:gid with every capability set empty (bounding and ambient too), verify. */
void jail_drop_privileges(const struct jail_args *a);

#endif
