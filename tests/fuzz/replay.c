// SPDX-License-Identifier: Apache-2.0
#include "tests/fuzz/replay.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm/util.h"

static int replay(const char *path, int *n)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		char *buf = NULL;
		size_t len = 0;

		r = util_read_file(path, 1 << 20, &buf, &len);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
			return r;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
		(*n)++;
		return 0;
	}
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (replay(sub, n) < 0)
			r = -EIO;
	}
	closedir(d);
	return r;
}

int fuzz_replay_main(int argc, char **argv, const char *name, const char *corpus)
{
	int n = 0, bad = 0;

	if (argc < 2) {
		bad += replay(corpus, &n) < 0;
	} else {
		for (int i = 1; i < argc; i++)
			bad += replay(argv[i], &n) < 0;
	}
	printf("%s: %d passed, %d failed, 0 skipped\n", name, n, bad || !n);
	return bad || !n ? 1 : 0;
}
