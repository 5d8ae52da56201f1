// SPDX-License-Identifier: Apache-2.0
/* The jail directory: create it, copy the exec file in, pivot_root, device nodes. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "jailer/jailer.h"
#include "vmm/util.h"

struct jail_dev {
	const char *path;
	unsigned int major, minor;
	mode_t mode;
	bool present;	/* known on this host */
};

static struct jail_dev devices[] = {
	{ "/dev/kvm", 10, 232, 0600, true },
	{ "/dev/net/tun", 10, 200, 0600, true },
	{ "/dev/urandom", 1, 9, 0666, true },
	{ "/dev/userfaultfd", 10, 0, 0600, false },	/* minor is dynamic: probed */
	{ "/dev/vhost-net", 0, 0, 0600, false },	/* only where the host has them */
	{ "/dev/vhost-vsock", 0, 0, 0600, false },
};

static void join_path(char *dst, size_t len, const char *a, const char *b)
{
	if ((size_t)snprintf(dst, len, "%s/%s", a, b) >= len)
		jail_die("path too long: %s/%s", a, b);
}

void jail_fs_prepare(struct jail_fs *fs, const struct jail_args *a)
{
	char tmp[PATH_MAX];
	const char *name;
	struct stat st;

	fs->exec_fd = -1;
	fs->host_mntns_fd = -1;
	if (strlen(a->exec_file) >= sizeof(tmp))
		jail_die("--exec-file: path too long");
	strcpy(tmp, a->exec_file);
	name = basename(tmp);
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "/") ||
	    strlen(name) >= sizeof(fs->exec_name))
		jail_die("--exec-file '%s': no usable file name", a->exec_file);
	strcpy(fs->exec_name, name);
	/* The jail's own entries (/dev, the pid file) must not collide with it. */
	if (name[0] == '.' || !strcmp(name, "dev"))
		jail_die("--exec-file '%s': file name not allowed in a jail", a->exec_file);
	if (strlen(a->base_dir) >= sizeof(fs->base_dir))
		jail_die("--chroot-base-dir: path too long");
	strcpy(fs->base_dir, a->base_dir);

	fs->exec_fd = open(a->exec_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fs->exec_fd < 0)
		jail_die_errno("--exec-file '%s'", a->exec_file);
	if (fstat(fs->exec_fd, &st) < 0)
		jail_die_errno("fstat %s", a->exec_file);
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		jail_die("--exec-file '%s' is not an executable regular file", a->exec_file);

	join_path(fs->exec_dir, sizeof(fs->exec_dir), a->base_dir, fs->exec_name);
	join_path(fs->id_dir, sizeof(fs->id_dir), fs->exec_dir, a->id);
	join_path(fs->root, sizeof(fs->root), fs->id_dir, "root");

	/* Kept so that cleanup can return to the host tree after pivot_root. */
	fs->host_mntns_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (fs->host_mntns_fd < 0)
		jail_die_errno("open /proc/self/ns/mnt");
}

static bool mkdir_new(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0)
		return true;
	if (errno != EEXIST)
		jail_die_errno("mkdir %s", path);
	return false;
}

static void copy_exec(struct jail_fs *fs)
{
	char dst[PATH_MAX];
	cleanup_close int out = -1;
	off_t off = 0;
	struct stat st;

	join_path(dst, sizeof(dst), fs->root, fs->exec_name);
	if (fstat(fs->exec_fd, &st) < 0)
		jail_die_errno("fstat exec file");
	/* A copy, not a link: the jailed process must not share an inode with the host. */
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0700);
	if (out < 0)
		jail_die_errno("create %s", dst);
	while (off < st.st_size) {
		ssize_t n = sendfile(out, fs->exec_fd, &off, (size_t)(st.st_size - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			jail_die_errno("copy %s", dst);
		if (n == 0)
			jail_die("copy %s: source file shrank", dst);
	}
	/* Owned by root, world-executable: the VMM can run its copy but not rewrite it. */
	if (fchmod(out, 0755) < 0)
		jail_die_errno("chmod %s", dst);
	close(fs->exec_fd);
	fs->exec_fd = -1;
}

void jail_fs_create(struct jail_fs *fs, const struct jail_args *a)
{
	if (mkdir(a->base_dir, 0755) == 0)
		fs->created_base = true;
	else if (errno != EEXIST)
		jail_die_errno("mkdir %s", a->base_dir);
	fs->created_exec_dir = mkdir_new(fs->exec_dir, 0755);
	/* The id directory is the unit of ownership: it must be new, so a jail is never
	 * reused and cleanup can remove the whole of it. */
	if (mkdir(fs->id_dir, 0755) < 0) {
		if (errno == EEXIST)
			jail_die("jail %s already exists (ids must be unique; remove it first)",
				 fs->id_dir);
		jail_die_errno("mkdir %s", fs->id_dir);
	}
	fs->created_id_dir = true;
	if (mkdir(fs->root, 0755) < 0)
		jail_die_errno("mkdir %s", fs->root);
	/* As Firecracker: the VMM owns its root so it can create its API socket there. */
	if (chown(fs->root, a->uid, a->gid) < 0)
		jail_die_errno("chown %s", fs->root);
	copy_exec(fs);
}

/* Is "/" the kernel's rootfs (ramfs or tmpfs), where pivot_root(2) gives EINVAL? */
static bool root_is_initramfs(void)
{
	static char mountinfo[65536];
	cleanup_close int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	char *line, *save = NULL;
	bool rootfs = false;
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return false;
	while (got < sizeof(mountinfo) - 1 &&
	       (n = read(fd, mountinfo + got, sizeof(mountinfo) - 1 - got)) > 0)
		got += (size_t)n;
	mountinfo[got] = '\0';
	/* "<id> <parent> <dev> <root> <mount point> ... - <fstype> ...": the last mount
	 * on "/" is the one in effect. */
	for (line = strtok_r(mountinfo, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char point[8], fstype[16];
		const char *dash = strstr(line, " - ");

		if (dash && sscanf(line, "%*s %*s %*s %*s %7s", point) == 1 &&
		    sscanf(dash + 3, "%15s", fstype) == 1 && !strcmp(point, "/"))
			rootfs = !strcmp(fstype, "rootfs");
	}
	return rootfs;
}

void jail_fs_enter(struct jail_fs *fs)
{
	if (unshare(CLONE_NEWNS) < 0)
		jail_die_errno("unshare(CLONE_NEWNS)");
	fs->pivoted = true;	/* from here on, cleanup must return to the host namespace */
	/* Nothing we do below may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0)
		jail_die_errno("make / private");
	/* pivot_root needs the new root to be a mount point. */
	if (mount(fs->root, fs->root, NULL, MS_BIND, NULL) < 0)
		jail_die_errno("bind %s", fs->root);
	if (chdir(fs->root) < 0)
		jail_die_errno("chdir %s", fs->root);
	/* pivot_root(".", ".") stacks the old root on top of the new one; detaching it
	 * leaves only the jail, without an old_root directory to create and remove. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		if (errno != EINVAL || !root_is_initramfs())
			jail_die_errno("pivot_root %s", fs->root);
		/*
		 * The host runs from its initramfs (rootfs cannot be pivoted away). Do what
		 * switch_root does: move the jail over "/" and chroot into it. The host's
		 * mounts stay underneath in this private namespace, out of reach of a process
		 * with no capabilities, no fd outside the jail and no /proc.
		 */
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			jail_die_errno("move %s over / (initramfs host)", fs->root);
		if (chroot(".") < 0 || chdir("/") < 0)
			jail_die_errno("chroot into the jail");
		return;
	}
	if (umount2(".", MNT_DETACH) < 0)
		jail_die_errno("detach the old root");
	if (chdir("/") < 0 || chroot(".") < 0)
		jail_die_errno("chroot into the jail");
}

static int read_small(const char *path, char *buf, size_t len)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int userfaultfd_minor(unsigned int *minor)
{
	char buf[4096], *line, *save = NULL;
	unsigned int maj, min;

	if (!read_small("/sys/class/misc/userfaultfd/dev", buf, sizeof(buf)) &&
	    sscanf(buf, "%u:%u", &maj, &min) == 2 && maj == 10) {
		*minor = min;
		return 0;
	}
	if (read_small("/proc/misc", buf, sizeof(buf)))
		return -ENOENT;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[32];

		if (sscanf(line, "%u %31s", &min, name) == 2 && !strcmp(name, "userfaultfd")) {
			*minor = min;
			return 0;
		}
	}
	return -ENOENT;
}

void jail_fs_probe_devices(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++) {
		struct jail_dev *d = &devices[i];
		struct stat st;

		if (!strcmp(d->path, "/dev/userfaultfd")) {
			d->present = userfaultfd_minor(&d->minor) == 0;
		} else if (!d->present) {
			/* vhost: mirror the host's node, if it has one. */
			if (stat(d->path, &st) == 0 && S_ISCHR(st.st_mode)) {
				d->major = major(st.st_rdev);
				d->minor = minor(st.st_rdev);
				d->present = true;
			}
		}
	}
}

void jail_fs_make_devices(const struct jail_args *a)
{
	if (mkdir("/dev", 0755) < 0 || mkdir("/dev/net", 0755) < 0)
		jail_die_errno("mkdir /dev in the jail");
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++) {
		const struct jail_dev *d = &devices[i];

		if (!d->present)
			continue;
		if (mknod(d->path, S_IFCHR | 0600, makedev(d->major, d->minor)) < 0)
			jail_die_errno("mknod %s", d->path);
		if (chown(d->path, a->uid, a->gid) < 0)
			jail_die_errno("chown %s", d->path);
		/* Explicit mode: the umask must not decide who can open /dev/kvm. */
		if (chmod(d->path, d->mode) < 0)
			jail_die_errno("chmod %s", d->path);
	}
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	int r = flag == FTW_DP ? rmdir(path) : unlink(path);

	if (r < 0)
		fprintf(stderr, "jailer: cleanup: cannot remove %s: %m\n", path);
	return 0;
}

void jail_fs_cleanup(struct jail_fs *fs)
{
	if (fs->exec_fd >= 0) {
		close(fs->exec_fd);
		fs->exec_fd = -1;
	}
	if (fs->pivoted) {
		/* Back to the host tree; our private mounts go away with the namespace. */
		if (fs->host_mntns_fd < 0 || setns(fs->host_mntns_fd, CLONE_NEWNS) < 0) {
			fprintf(stderr, "jailer: cleanup: cannot return to the host mount "
					"namespace: %m; %s is left behind\n", fs->id_dir);
			return;
		}
		fs->pivoted = false;
		if (chdir("/") < 0)
			return;
	}
	/* This run created the id directory, so the whole tree under it is ours.
	 * FTW_PHYS: never follow a link out of it; FTW_MOUNT: never cross a mount. */
	if (fs->created_id_dir) {
		nftw(fs->id_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		fs->created_id_dir = false;
	}
	/* Shared parents only if this run made them and they are empty now. */
	if (fs->created_exec_dir && rmdir(fs->exec_dir) == 0)
		fs->created_exec_dir = false;
	if (fs->created_base && rmdir(fs->base_dir) == 0)
		fs->created_base = false;
}

void jail_fs_check_interpreter(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;

	if (fd < 0)
		jail_die_errno("open %s in the jail", path);
	/* Catch what execve would refuse while cleanup is still possible. A script
	 * cannot find its interpreter in the jail either. */
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		jail_die("%s is not an ELF executable", path);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
		return;
	for (unsigned int i = 0; i < eh.e_phnum && i < 128; i++) {
		Elf64_Phdr ph;
		char interp[256];

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			return;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz == 0 || ph.p_filesz >= sizeof(interp) ||
		    pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
			return;
		interp[ph.p_filesz] = '\0';
		if (access(interp, F_OK) < 0)
			jail_die("%s is dynamically linked (interpreter %s) but the jail holds only "
				 "the exec file: link it statically", path, interp);
		return;
	}
}
