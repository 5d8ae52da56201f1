// SPDX-License-Identifier: Apache-2.0
/*
 * cgroups, v1 and v2: <hierarchy>/<parent-cgroup or exec name>/<id> per hierarchy
 * that holds a requested controller. Touches only directories this run creates,
 * except for reading the parents and moving this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/jailer.h"
#include "vmm/util.h"

#define MAX_DEPTH 16

struct hierarchy {
	char mount[PATH_MAX];		/* where it is mounted */
	char controllers[256];		/* v1 super options, e.g. "rw,cpu,cpuacct" */
	char orig[PATH_MAX];		/* this process's cgroup before joining */
	char leaf[PATH_MAX];		/* <mount>/<parent>/<id> */
	char created[MAX_DEPTH + 1][PATH_MAX];	/* outermost first */
	int ncreated;
	bool joined;
};

static struct hierarchy hier[JAIL_MAX_CGROUPS];
static size_t nhier;
static size_t cg_hier[JAIL_MAX_CGROUPS];	/* --cgroup index -> hierarchy */
static int cg_version;

static int read_text(const char *path, char *buf, size_t len)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return 0;
}

static int write_text(const char *path, const char *s)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* cgroup files take one write; a short write is an error. */
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		return errno ? -errno : -EIO;
	return 0;
}

/* Is word an element of the comma-separated list? */
static bool in_list(const char *list, const char *word, char sep)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && (p[len - 1] == '\n' || p[len - 1] == ' '))
			len--;
		if (len == n && !strncmp(p, word, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Find the mount of a v1 controller (or the v2 root when controller is NULL) in mountinfo. */
static int find_mount(const char *mountinfo, const char *controller, char *mnt, size_t mntlen,
		      char *opts, size_t optslen)
{
	char *copy = strdup(mountinfo), *line, *save = NULL;
	int r = -ENOENT;

	if (!copy)
		jail_die("out of memory");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char root[PATH_MAX], point[PATH_MAX], fstype[64], super[256];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
		    sscanf(dash + 3, "%63s %*s %255s", fstype, super) != 2)
			continue;
		if (controller ? strcmp(fstype, "cgroup") || !in_list(super, controller, ',')
			       : strcmp(fstype, "cgroup2"))
			continue;
		/* Octal escapes (\040) would need decoding; refuse rather than guess. */
		if (strchr(point, '\\'))
			continue;
		if (strcmp(root, "/"))
			jail_die("cgroup hierarchy at %s is a bind mount of %s; unsupported", point,
				 root);
		snprintf(mnt, mntlen, "%s", point);
		snprintf(opts, optslen, "%s", super);
		r = 0;
		break;
	}
	free(copy);
	return r;
}

/* This process's path in the hierarchy holding controller (NULL: v2) from /proc/self/cgroup. */
static void find_own_cgroup(const char *controller, char *out, size_t len)
{
	char buf[16384], *line, *save = NULL;

	if (read_text("/proc/self/cgroup", buf, sizeof(buf)))
		jail_die_errno("read /proc/self/cgroup");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		/* "<id>:<controllers>:<path>"; v2 is the line "0::<path>". */
		*c1 = *c2 = '\0';
		if (controller ? in_list(c1 + 1, controller, ',') :
				 !strcmp(line, "0") && c1 + 1 == c2) {
			snprintf(out, len, "%s", c2 + 1);
			return;
		}
	}
	jail_die("cannot find this process's cgroup for %s", controller ? controller : "v2");
}

void jail_cgroup_prepare(const struct jail_args *a)
{
	char mountinfo[65536], mnt[PATH_MAX], opts[256];

	cg_version = a->cgroup_version;
	if (!a->ncgroups)
		return;
	if (read_text("/proc/self/mountinfo", mountinfo, sizeof(mountinfo)))
		jail_die_errno("read /proc/self/mountinfo");
	for (size_t i = 0; i < a->ncgroups; i++) {
		const struct jail_cgroup *cg = &a->cgroups[i];
		size_t h;

		if (cg_version == 1) {
			if (find_mount(mountinfo, cg->controller, mnt, sizeof(mnt), opts,
				       sizeof(opts)))
				jail_die("--cgroup %s: controller '%s' is not mounted as cgroup v1",
					 cg->file, cg->controller);
		} else {
			char ctrls[1024], path[PATH_MAX + 32];

			if (find_mount(mountinfo, NULL, mnt, sizeof(mnt), opts, sizeof(opts)))
				jail_die("--cgroup %s: no cgroup v2 hierarchy is mounted", cg->file);
			snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
			if (read_text(path, ctrls, sizeof(ctrls)))
				jail_die_errno("read %s", path);
			if (!in_list(ctrls, cg->controller, ' '))
				jail_die("--cgroup %s: controller '%s' is not available in cgroup v2 "
					 "hierarchy %s", cg->file, cg->controller, mnt);
		}
		for (h = 0; h < nhier; h++)
			if (!strcmp(hier[h].mount, mnt))
				break;
		if (h == nhier) {
			struct hierarchy *x = &hier[nhier++];
			char own[PATH_MAX];
			int n;

			snprintf(x->mount, sizeof(x->mount), "%s", mnt);
			snprintf(x->controllers, sizeof(x->controllers), "%s", opts);
			find_own_cgroup(cg_version == 1 ? cg->controller : NULL, own, sizeof(own));
			n = snprintf(x->orig, sizeof(x->orig), "%s%s", mnt, own);
			if (n < 0 || (size_t)n >= sizeof(x->orig))
				jail_die("cgroup path too long");
		}
		cg_hier[i] = h;
	}
}

/* mkdir one level; remember it if this run made it. */
static void mkdir_cgroup(struct hierarchy *x, const char *path, bool must_be_new)
{
	if (mkdir(path, 0755) == 0) {
		if (x->ncreated > MAX_DEPTH)
			jail_die("--parent-cgroup is too deep");
		snprintf(x->created[x->ncreated++], PATH_MAX, "%s", path);
		return;
	}
	if (errno == EEXIST && !must_be_new)
		return;
	if (errno == EEXIST)
		jail_die("cgroup %s already exists (ids must be unique)", path);
	jail_die_errno("mkdir %s", path);
}

static bool was_created(const struct hierarchy *x, const char *path)
{
	for (int i = 0; i < x->ncreated; i++)
		if (!strcmp(x->created[i], path))
			return true;
	return false;
}

/* cpuset v1: a new cgroup starts with empty cpus/mems and refuses tasks; inherit. */
static void cpuset_inherit(const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[PATH_MAX + 32], ppath[PATH_MAX + 32], val[4096], parent[PATH_MAX];
		char *slash;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (read_text(path, val, sizeof(val)))
			jail_die_errno("read %s", path);
		if (val[0] && val[0] != '\n')
			continue;
		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (!slash)
			jail_die("bad cgroup path %s", dir);
		*slash = '\0';
		snprintf(ppath, sizeof(ppath), "%s/%s", parent, files[i]);
		if (read_text(ppath, val, sizeof(val)))
			jail_die_errno("read %s", ppath);
		if (write_text(path, val) < 0)
			jail_die("write %s: %s", path, strerror(errno));
	}
}

/* v2: every level between the hierarchy root and the leaf must delegate controller. */
static void v2_enable(struct hierarchy *x, const char *controller)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], cur[1024], plus[40];
	size_t mlen = strlen(x->mount);

	snprintf(dir, sizeof(dir), "%s", x->leaf);
	/* Walk from the root down to the leaf's parent. */
	for (char *p = dir + mlen;; p++) {
		char saved = *p;
		bool last;

		if (*p && *p != '/')
			continue;
		*p = '\0';
		last = !strcmp(dir, x->leaf);
		if (last)
			break;
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
		if (read_text(path, cur, sizeof(cur)))
			jail_die_errno("read %s", path);
		if (!in_list(cur, controller, ' ')) {
			/* Only in directories this run created; the others are not ours. */
			if (strcmp(dir, x->mount) && !was_created(x, dir))
				jail_die("controller '%s' is not enabled in %s", controller, path);
			if (!strcmp(dir, x->mount))
				jail_die("controller '%s' is not enabled in %s", controller, path);
			snprintf(plus, sizeof(plus), "+%s", controller);
			if (write_text(path, plus) < 0)
				jail_die("write %s %s: %s", path, plus, strerror(errno));
		}
		*p = saved;
		if (!saved)
			break;
	}
}

void jail_cgroup_apply(const struct jail_args *a)
{
	char exec_name[PATH_MAX];
	const char *parent = a->parent_cgroup;

	if (!a->ncgroups)
		return;
	if (!parent) {
		/* Default parent: the exec file's name, as Firecracker does. */
		const char *slash = strrchr(a->exec_file, '/');

		snprintf(exec_name, sizeof(exec_name), "%s", slash ? slash + 1 : a->exec_file);
		parent = exec_name;
	}
	for (size_t h = 0; h < nhier; h++) {
		struct hierarchy *x = &hier[h];
		char dir[PATH_MAX];
		int n = snprintf(x->leaf, sizeof(x->leaf), "%s/%s/%s", x->mount, parent, a->id);

		if (n < 0 || (size_t)n >= sizeof(x->leaf))
			jail_die("cgroup path too long");
		/* Parents may be shared with other jails; the id level must be new. */
		snprintf(dir, sizeof(dir), "%s", x->leaf);
		for (char *p = dir + strlen(x->mount) + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			mkdir_cgroup(x, dir, false);
			*p = '/';
		}
		mkdir_cgroup(x, x->leaf, true);
		if (cg_version == 1 && in_list(x->controllers, "cpuset", ',')) {
			for (int i = 0; i < x->ncreated; i++)
				cpuset_inherit(x->created[i]);
		}
	}
	for (size_t i = 0; i < a->ncgroups; i++) {
		struct hierarchy *x = &hier[cg_hier[i]];
		char path[PATH_MAX + 64];

		if (cg_version == 2)
			v2_enable(x, a->cgroups[i].controller);
		snprintf(path, sizeof(path), "%s/%s", x->leaf, a->cgroups[i].file);
		if (write_text(path, a->cgroups[i].value) < 0)
			jail_die("--cgroup %s=%s: cannot write %s: %s", a->cgroups[i].file,
				 a->cgroups[i].value, path, strerror(errno));
	}
	for (size_t h = 0; h < nhier; h++) {
		struct hierarchy *x = &hier[h];
		char path[PATH_MAX + 32];

		/* "0" is the writer itself, whatever PID namespace it is in. */
		snprintf(path, sizeof(path), "%s/cgroup.procs", x->leaf);
		if (write_text(path, "0") < 0)
			jail_die("join cgroup %s: %s", x->leaf, strerror(errno));
		x->joined = true;
	}
}

void jail_cgroup_cleanup(void)
{
	for (size_t h = 0; h < nhier; h++) {
		struct hierarchy *x = &hier[h];
		char path[PATH_MAX + 32];

		if (x->joined) {
			/* A cgroup with a member cannot be removed: go back where we were. */
			snprintf(path, sizeof(path), "%s/cgroup.procs", x->orig);
			if (write_text(path, "0") < 0)
				fprintf(stderr, "jailer: cleanup: cannot leave %s: %m\n", x->leaf);
			x->joined = false;
		}
		while (x->ncreated > 0) {
			const char *dir = x->created[--x->ncreated];

			if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EBUSY)
				fprintf(stderr, "jailer: cleanup: cannot remove %s: %m\n", dir);
		}
	}
}
