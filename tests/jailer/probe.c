// SPDX-License-Identifier: Apache-2.0
/*
 * Runs inside a jail and reports what it sees, one "key=value" line each, for
 * tests/integration/test_jailer.sh. Static: the jail holds nothing else. There is
 * no /proc in a jail, so everything comes from system calls; the test reads
 * /proc/<pid>/ from the host for the rest.
 *   probe          report, then exit 0
 *   probe wait     report, then wait in pause() until killed
 *   probe args ... print its arguments
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

/* How many descriptors above stderr are open (the jailer must close inherited ones). */
static int open_fds_above_2(void)
{
	int n = 0;

	for (int fd = 3; fd < 256; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

int main(int argc, char **argv)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cap[2] = { 0 };
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	struct rlimit nofile, fsize;
	unsigned long long bnd = 0, amb = 0;
	struct dirent *de;
	DIR *d;
	int n_env;

	if (argc > 1 && !strcmp(argv[1], "args")) {
		for (int i = 0; i < argc; i++)
			printf("arg%d=%s\n", i, argv[i]);
		return 0;
	}
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	printf("uid=%u,%u,%u\ngid=%u,%u,%u\ngroups=%d\n", ru, eu, su, rg, eg, sg,
	       getgroups(0, NULL));
	syscall(SYS_capget, &hdr, cap);
	printf("cap_eff=%08x%08x\ncap_prm=%08x%08x\ncap_inh=%08x%08x\n", cap[1].effective,
	       cap[0].effective, cap[1].permitted, cap[0].permitted, cap[1].inheritable,
	       cap[0].inheritable);
	for (int c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) > 0)
			bnd |= 1ULL << c;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0)
			amb |= 1ULL << c;
	}
	printf("cap_bnd=%016llx\ncap_amb=%016llx\n", bnd, amb);
	printf("no_new_privs=%d\nseccomp=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
	       prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	getrlimit(RLIMIT_NOFILE, &nofile);
	getrlimit(RLIMIT_FSIZE, &fsize);
	printf("rlimit_nofile=%llu\nrlimit_fsize=%llu\n", (unsigned long long)nofile.rlim_cur,
	       (unsigned long long)fsize.rlim_cur);
	printf("pid=%d\nsid_is_self=%d\n", getpid(), getsid(0) == getpid());
	d = opendir("/");
	printf("root=");
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			printf("%s ", de->d_name);
	printf("\n");
	if (d)
		closedir(d);
	d = opendir("/dev");
	printf("dev=");
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			printf("%s ", de->d_name);
	printf("\n");
	if (d)
		closedir(d);
	printf("open_fds=%d\n", open_fds_above_2());
	for (n_env = 0; environ && environ[n_env]; n_env++)
		;
	printf("env_count=%d\n", n_env);
	printf("ready\n");
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "wait"))
		for (;;)
			pause();
	return 0;
}
