// SPDX-License-Identifier: Apache-2.0
/*
 * Fuzz harness for the API: raw bytes from a client go through the HTTP parser (all
 * pipelined requests in the input), routing, body validation and execution against a
 * fresh configuration with a fake VMM, and each response is formatted, as the server
 * does. Nothing touches the filesystem.
 *
 *   libFuzzer:  clang -fsanitize=fuzzer,address,undefined ... (make fuzz-api)
 *   replay:     built with -DFUZZ_REPLAY_MAIN; runs every file (or directory of files)
 *               named on the command line once, for the test suite
 *               (make fuzz-api-replay; with no argument it replays
 *               tests/fuzz/corpus/api, which is how the unit run calls it).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/routes.h"
#include "vmm/log.h"
#include "vmm/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replay with FUZZ_VERBOSE=1 prints each response's status line: to check a seed. */
static int verbose;

static int ok_start(void *v, const struct vm_config *cfg, struct config_err *err)
{
	/* Let both outcomes be reachable. */
	if (cfg->machine.vcpu_count == 3) {
		snprintf(err->msg, sizeof(err->msg), "fake start failure");
		return -EINVAL;
	}
	return 0;
}

static int ok0(void *v, struct config_err *err)
{
	return 0;
}

static int ok_drive(void *v, const char *id, const char *path, const struct rate_limiter_cfg *rl,
		    struct config_err *err)
{
	return 0;
}

static int ok_net(void *v, const char *id, const struct rate_limiter_cfg *rx,
		  const struct rate_limiter_cfg *tx, struct config_err *err)
{
	return 0;
}

static int no_open(const char *path)
{
	return path[0] == '/' ? 0 : -ENOENT;
}

static const struct vmm_ops fuzz_ops = {
	.instance_start = ok_start,
	.pause = ok0,
	.resume = ok0,
	.send_ctrl_alt_del = ok0,
	.flush_metrics = ok0,
	.update_drive = ok_drive,
	.update_net = ok_net,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_buf out = { 0 };
	struct vm_config cfg;
	struct api_ctx ctx = {
		.cfg = &cfg,
		.ops = &fuzz_ops,
		.open_log = no_open,
		.open_metrics = no_open,
		.instance_id = "fuzz",
	};
	const char *p = (const char *)data;
	size_t left = size;

	log_set_level(LOG_OFF);
	config_init(&cfg);
	/* Bounded: each round consumes at least one byte or stops. */
	while (left) {
		struct http_request req;
		struct api_response resp;
		enum api_endpoint ep;
		struct api_msg *m;
		long n = http_parse_request(p, left, &req);

		if (n < 0) {
			http_format_response(&out, (int)-n, NULL, 0, true, 1 << 20);
			break;
		}
		if (n == 0)
			break;
		if (api_route(&ctx, &req, &m, &resp, &ep)) {
			api_execute(&ctx, m);
			http_format_response(&out, m->resp.status, m->resp.body,
					     m->resp.body ? strlen(m->resp.body) : 0,
					     !req.keep_alive, 1 << 20);
			api_msg_free(m);
		} else {
			http_format_response(&out, resp.status, resp.body,
					     resp.body ? strlen(resp.body) : 0, !req.keep_alive,
					     1 << 20);
			free(resp.body);
		}
		/* Every response is a well-formed status line. */
		if (out.len < 12 || memcmp(out.p, "HTTP/1.1 ", 9))
			abort();
		if (verbose)
			fprintf(stderr, "  %s %s -> %.*s\n", req.method_name, req.path,
				(int)MIN(out.len, 200), out.p + 9);
		out.len = 0;
		p += n;
		left -= (size_t)n;
	}
	/* The configuration must always serialise. */
	free(config_to_json(&cfg));
	config_free(&cfg);
	http_buf_free(&out);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		perror(path);
		return -1;
	}
	buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = (long)fread(buf, 1, 1 << 20, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, errors = 0;

	verbose = getenv("FUZZ_VERBOSE") != NULL;
	/* No arguments: the committed seeds, as the unit-test runner calls it. */
	if (argc < 2) {
		static char def[] = "tests/fuzz/corpus/api";
		static char *def_argv[] = { NULL, def, NULL };

		def_argv[0] = argv[0];
		argv = def_argv;
		argc = 2;
	}

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			errors++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;

			while (d && (de = readdir(d))) {
				char path[4096];

				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
				errors += run_file(path) < 0;
				files++;
			}
			if (d)
				closedir(d);
		} else {
			errors += run_file(argv[i]) < 0;
			files++;
		}
	}
	/* The runner's summary line: each input that ran without a crash passed. */
	printf("fuzz_api_replay: %d passed, %d failed, 0 skipped\n", files - errors,
	       errors + (files == 0));
	return errors || files == 0 ? 1 : 0;
}
#endif
