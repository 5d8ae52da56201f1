// SPDX-License-Identifier: Apache-2.0
/*
 * vmm: the process. Parses flags, loads an optional config file, runs the API server
 * and the VMM thread's event loop, builds and starts the VM, and turns how the VM ended
 * into the exit status (see enum vmm_exit_code).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "vmm/config.h"
#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/metrics.h"
#include "vmm/metrics_dev.h"
#include "vmm/seccomp/seccomp.h"
#include "vmm/seccomp/sigsys.h"
#include "vmm/util.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/vsock.h"
#include "vmm/vm.h"

#define DEFAULT_API_SOCK "/run/vmm.socket"
#define METRICS_PERIOD_MS 60000

struct vmm {
	struct event_loop loop;
	struct vm_config cfg;
	struct vm vm;
	bool vm_created;
	bool done;
	int exit_code;
	struct api_server *api;
	struct vm_opts opts;
	int sigfd;
	struct ev_source sig_src;
	uint64_t setup_us; /* process start to vCPU threads started */
	uint64_t first_run_us; /* process start to the BSP's first KVM_RUN */
	uint64_t start_call_ns; /* when InstanceStart reached the VMM thread */
	uint64_t exits[EXIT_STAT_MAX];
	struct metrics_group mgroup;
	uint64_t mvals[2 + EXIT_STAT_MAX]; /* setup_us, first_run_us, exits */
	struct metrics_dev devm; /* "net", "net_<iface_id>", "vsock", "uart" */
};

static const char *const vmm_metric_names[2 + EXIT_STAT_MAX] = {
	"setup_time_us",      "first_kvm_run_us",     "exits_io",   "exits_mmio",
	"exits_hlt",	      "exits_shutdown",	      "exits_system_event",
	"exits_internal_error", "exits_intr",	      "exits_other",
};

#ifdef __SANITIZE_ADDRESS__
/*
 * LeakSanitizer's exit-time check stops every thread with ptrace from a helper it
 * clones; the per-thread seccomp filters rightly forbid that, and the process would hang
 * at exit. Leaks are checked by the unit tests; a sanitizer VMM run with --no-seccomp
 * can still ask for the check with ASAN_OPTIONS=detect_leaks=1.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* Raw console input for the guest, but keep ISIG so Ctrl-C still stops the VMM. */
static void setup_tty(void)
{
	struct termios tio;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHOE | ECHOK | ECHONL | IEXTEN);
	tio.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IXON);
	tcsetattr(STDIN_FILENO, TCSANOW, &tio);
	tio_saved = true;
	atexit(restore_tty);
}

static int install_filter(enum vmm_thread_kind kind)
{
	static const enum seccomp_thread map[] = {
		[VMM_THREAD_VCPU] = SECCOMP_THREAD_VCPU,
		[VMM_THREAD_VMM] = SECCOMP_THREAD_VMM,
		[VMM_THREAD_API] = SECCOMP_THREAD_API,
	};

	seccomp_sigsys_thread_init();
	return seccomp_install_thread(map[kind]);
}

static const char *custom_filter_path;

static int install_filter_file(enum vmm_thread_kind kind)
{
	static const enum seccomp_thread map[] = {
		[VMM_THREAD_VCPU] = SECCOMP_THREAD_VCPU,
		[VMM_THREAD_VMM] = SECCOMP_THREAD_VMM,
		[VMM_THREAD_API] = SECCOMP_THREAD_API,
	};

	/* For the SIGSYS report, should the custom program trap. */
	seccomp_set_thread_kind(map[kind]);
	seccomp_sigsys_thread_init();
	return seccomp_install_file(custom_filter_path);
}

static void vmm_on_vm_stop(void *opaque, int exit_code)
{
	struct vmm *v = opaque;

	v->exit_code = exit_code;
	v->done = true;
}

static int vmm_instance_start(void *opaque, const struct vm_config *cfg, struct config_err *err)
{
	struct vmm *v = opaque;
	int r;

	if (v->vm_created) {
		snprintf(err->msg, sizeof(err->msg), "the microVM is already running");
		return -EALREADY;
	}
	v->start_call_ns = util_now_ns();
	memset(&v->vm, 0, sizeof(v->vm));
	v->vm.on_stop = vmm_on_vm_stop;
	v->vm.on_stop_opaque = v;
	r = vm_create(&v->vm, cfg, &v->loop, &v->opts, err);
	if (r) {
		vm_destroy(&v->vm);
		return r;
	}
	/* vCPU threads install their own filters first thing; they must not inherit ours. */
	r = vm_start(&v->vm, err);
	if (r) {
		vm_destroy(&v->vm);
		return r;
	}
	/* The VMM thread's filter goes on before it handles any event from the guest. */
	if (v->opts.seccomp_install) {
		r = v->opts.seccomp_install(VMM_THREAD_VMM);
		if (r) {
			snprintf(err->msg, sizeof(err->msg), "seccomp (VMM thread): %s",
				 strerror(-r));
			vm_destroy(&v->vm);
			return r;
		}
	}
	v->vm_created = true;
	v->setup_us = (util_now_ns() - v->opts.process_start_ns) / 1000;
	log_info("microVM started: %u vCPU(s), %u MiB, set-up took %llu us since process start",
		 cfg->machine.vcpu_count, cfg->machine.mem_size_mib,
		 (unsigned long long)v->setup_us);
	return 0;
}

static int vmm_pause(void *opaque, struct config_err *err)
{
	struct vmm *v = opaque;

	if (!v->vm_created) {
		snprintf(err->msg, sizeof(err->msg), "the microVM is not running");
		return -EINVAL;
	}
	return vm_pause(&v->vm, err);
}

static int vmm_resume(void *opaque, struct config_err *err)
{
	struct vmm *v = opaque;

	if (!v->vm_created) {
		snprintf(err->msg, sizeof(err->msg), "the microVM is not running");
		return -EINVAL;
	}
	return vm_resume(&v->vm, err);
}

static int vmm_ctrl_alt_del(void *opaque, struct config_err *err)
{
	struct vmm *v = opaque;

	if (!v->vm_created) {
		snprintf(err->msg, sizeof(err->msg), "the microVM is not running");
		return -EINVAL;
	}
	return vm_send_ctrl_alt_del(&v->vm, err);
}

static void vmm_refresh_metrics(struct vmm *v)
{
	uint64_t first;

	if (!v->vm_created)
		return;
	/* Racy reads of per-vCPU counters: fine for monitoring. */
	vm_exit_stats(&v->vm, v->exits);
	first = __atomic_load_n(&v->vm.vcpus[0].first_run_ns, __ATOMIC_RELAXED);
	if (first)
		v->first_run_us = (first - v->opts.process_start_ns) / 1000;
	v->mvals[0] = v->setup_us;
	v->mvals[1] = v->first_run_us;
	memcpy(&v->mvals[2], v->exits, sizeof(v->exits));
	metrics_dev_refresh(&v->devm, v->vm.net, v->vm.nnet, v->vm.vsock, v->vm.serial);
}

static int vmm_flush_metrics(void *opaque, struct config_err *err)
{
	vmm_refresh_metrics(opaque);
	return 0;
}

static int vmm_update_drive(void *opaque, const char *drive_id, const char *path,
			    const struct rate_limiter_cfg *rl, struct config_err *err)
{
	struct vmm *v = opaque;

	for (unsigned int i = 0; v->vm_created && i < v->vm.nblk; i++) {
		if (!strcmp(v->vm.blk_id[i], drive_id))
			return virtio_blk_update(v->vm.blk[i], path, rl, err);
	}
	snprintf(err->msg, sizeof(err->msg), "drive_id %s: no such drive", drive_id);
	return -ENOENT;
}

static int vmm_update_net(void *opaque, const char *iface_id, const struct rate_limiter_cfg *rx,
			  const struct rate_limiter_cfg *tx, struct config_err *err)
{
	struct vmm *v = opaque;

	for (unsigned int i = 0; v->vm_created && i < v->vm.nnet; i++) {
		if (!strcmp(virtio_net_id(v->vm.net[i]), iface_id))
			return virtio_net_update(v->vm.net[i], rx, tx, err);
	}
	snprintf(err->msg, sizeof(err->msg), "iface_id %s: no such network interface", iface_id);
	return -ENOENT;
}

/* The API thread parses hostile input: its filter goes on before it serves anything. */
static int vmm_api_thread_init(void *opaque)
{
	struct vmm *v = opaque;

	log_set_thread_name("api");
	return v->opts.seccomp_install ? v->opts.seccomp_install(VMM_THREAD_API) : 0;
}

static const struct vmm_ops vmm_api_ops = {
	.api_thread_init = vmm_api_thread_init,
	.instance_start = vmm_instance_start,
	.pause = vmm_pause,
	.resume = vmm_resume,
	.send_ctrl_alt_del = vmm_ctrl_alt_del,
	.flush_metrics = vmm_flush_metrics,
	.update_drive = vmm_update_drive,
	.update_net = vmm_update_net,
};

static void vmm_signal(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	struct signalfd_siginfo si;

	if (read(v->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("received signal %u: stopping", si.ssi_signo);
	if (!v->done) {
		v->exit_code = VMM_EXIT_SIGNAL_BASE + (int)si.ssi_signo;
		v->done = true;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm [options]\n"
		"  --api-sock PATH        API socket (default " DEFAULT_API_SOCK ")\n"
		"  --no-api               no API server (requires --config-file)\n"
		"  --config-file PATH     boot the VM described by this JSON file at once\n"
		"  --id ID                instance id (default anonymous-instance)\n"
		"  --log-path PATH        log to a file or FIFO instead of stderr\n"
		"  --level LEVEL          Error, Warning, Info (default), Debug, Trace, Off\n"
		"  --show-level           show the level even if the config file's logger section\n"
		"                         says not to (it is shown by default)\n"
		"  --show-log-origin      add file:line to log lines\n"
		"  --metrics-path PATH    write metrics (JSON lines) to a file or FIFO\n"
		"  --boot-timer           log the guest boot time when it writes to the boot timer\n"
		"  --seccomp-filter FILE  install this BPF program on every thread instead\n"
		"  --no-seccomp           no seccomp filtering (debugging only)\n"
		"  --net-backend auto|vhost|userspace  virtio-net backend (default auto: vhost-net\n"
		"                         when /dev/vhost-net opens and no rate limiter is set)\n"
		"  --vsock-backend auto|vhost|userspace  virtio-vsock backend (default auto:\n"
		"                         userspace; vhost: host side over AF_VSOCK, README)\n"
#ifdef VMM_TEST_HOOKS
		"  --test-seccomp-trigger vcpu|vmm|api  (test build only) make a forbidden\n"
		"                         syscall on that thread once its filter is on\n"
#endif
		"  --poll-max-us N        let the event loop poll virtio-blk queues for up to N us\n"
		"                         (adaptive: only while the guest keeps them busy) before\n"
		"                         it sleeps; 0 turns polling off (default %u)\n"
		"  --version              print the version and exit\n"
		"exit status: 0 guest shutdown/reboot, 1 VMM error, 2 usage or configuration\n"
		"error, 3 guest triple fault, 4 vCPU error, 128+N stopped by signal N,\n"
		"148 seccomp violation (a thread made a forbidden syscall; logged)\n",
		EV_POLL_MAX_US_DEFAULT);
}

enum {
	OPT_API_SOCK = 256,
	OPT_NO_API,
	OPT_CONFIG,
	OPT_ID,
	OPT_LOG_PATH,
	OPT_LEVEL,
	OPT_SHOW_LEVEL,
	OPT_SHOW_ORIGIN,
	OPT_METRICS,
	OPT_BOOT_TIMER,
	OPT_SECCOMP_FILTER,
	OPT_NO_SECCOMP,
	OPT_NET_BACKEND,
	OPT_VSOCK_BACKEND,
	OPT_POLL_MAX,
	OPT_VERSION,
	OPT_HELP,
	OPT_TEST_SECCOMP_TRIGGER,
};

static bool valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return false;
	return true;
}

static int vmm_run(struct vmm *v)
{
	while (!v->done) {
		int r = ev_loop_run_once(&v->loop, METRICS_PERIOD_MS);

		if (r < 0) {
			log_error("event loop: %s", strerror(-r));
			return VMM_EXIT_ERROR;
		}
		if (r == 0 && metrics_configured()) {
			vmm_refresh_metrics(v);
			metrics_flush();
		}
	}
	return v->exit_code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, OPT_API_SOCK },
		{ "no-api", no_argument, NULL, OPT_NO_API },
		{ "config-file", required_argument, NULL, OPT_CONFIG },
		{ "id", required_argument, NULL, OPT_ID },
		{ "log-path", required_argument, NULL, OPT_LOG_PATH },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "show-level", no_argument, NULL, OPT_SHOW_LEVEL },
		{ "show-log-origin", no_argument, NULL, OPT_SHOW_ORIGIN },
		{ "metrics-path", required_argument, NULL, OPT_METRICS },
		{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
		{ "seccomp-filter", required_argument, NULL, OPT_SECCOMP_FILTER },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "net-backend", required_argument, NULL, OPT_NET_BACKEND },
		{ "vsock-backend", required_argument, NULL, OPT_VSOCK_BACKEND },
		{ "poll-max-us", required_argument, NULL, OPT_POLL_MAX },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
#ifdef VMM_TEST_HOOKS
		{ "test-seccomp-trigger", required_argument, NULL, OPT_TEST_SECCOMP_TRIGGER },
#endif
		{ NULL, 0, NULL, 0 },
	};
	static struct vmm v; /* big (vm_config, vm): keep it off the stack */
	const char *api_sock = DEFAULT_API_SOCK, *config_path = NULL, *id = "anonymous-instance";
	const char *log_path = NULL, *metrics_path = NULL;
	bool no_api = false, no_seccomp = false, show_origin = false, level_given = false;
	bool show_level = false;
	unsigned long poll_max_us = EV_POLL_MAX_US_DEFAULT;
	struct config_err err = { "" };
	sigset_t sigs;
	int c, r, code;

	v.opts.process_start_ns = util_now_ns();
	/*
	 * One malloc arena for every thread. glibc gives other threads arenas of their own
	 * and, when one of those shrinks, reads /proc/sys/vm/overcommit_memory: an openat
	 * the per-thread seccomp filters rightly forbid (the API thread died of it after
	 * freeing the buffers of 100 clients). Threads here allocate little, off the hot
	 * paths, so sharing the main arena costs nothing measurable.
	 */
	mallopt(M_ARENA_MAX, 1);
	/* The event loop runs on this thread for good: see virtio_blk_set_loop_pinned(). */
	virtio_blk_set_loop_pinned(true);
	v.opts.serial_in_fd = STDIN_FILENO;
	v.opts.serial_out_fd = STDOUT_FILENO;
	v.sigfd = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		enum log_level lvl;

		switch (c) {
		case OPT_API_SOCK:
			api_sock = optarg;
			break;
		case OPT_NO_API:
			no_api = true;
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_ID:
			if (!valid_id(optarg)) {
				fprintf(stderr, "vmm: --id: 1 to 64 of [A-Za-z0-9_-]\n");
				return VMM_EXIT_USAGE;
			}
			id = optarg;
			break;
		case OPT_LOG_PATH:
			log_path = optarg;
			break;
		case OPT_LEVEL:
			if (log_level_parse(optarg, &lvl)) {
				fprintf(stderr, "vmm: --level: unknown level '%s'\n", optarg);
				return VMM_EXIT_USAGE;
			}
			log_set_level(lvl);
			level_given = true;
			break;
		case OPT_SHOW_LEVEL:
			show_level = true;
			break;
		case OPT_SHOW_ORIGIN:
			show_origin = true;
			break;
		case OPT_METRICS:
			metrics_path = optarg;
			break;
		case OPT_BOOT_TIMER:
			v.opts.boot_timer = true;
			break;
		case OPT_SECCOMP_FILTER:
			custom_filter_path = optarg;
			break;
		case OPT_NO_SECCOMP:
			no_seccomp = true;
			break;
		case OPT_NET_BACKEND:
			if (virtio_net_set_backend(optarg)) {
				fprintf(stderr, "vmm: --net-backend: auto, vhost or userspace\n");
				return VMM_EXIT_USAGE;
			}
			break;
		case OPT_VSOCK_BACKEND:
			if (virtio_vsock_set_backend(optarg)) {
				fprintf(stderr, "vmm: --vsock-backend: auto, vhost or userspace\n");
				return VMM_EXIT_USAGE;
			}
			break;
		case OPT_POLL_MAX: {
			char *end;

			errno = 0;
			poll_max_us = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || poll_max_us > 1000 || optarg[0] == '-') {
				fprintf(stderr, "vmm: --poll-max-us: 0 to 1000\n");
				return VMM_EXIT_USAGE;
			}
			break;
		}
		case OPT_VERSION:
			printf("vmm %s\n", API_VMM_VERSION);
			return 0;
		case OPT_HELP:
			usage(stdout);
			return 0;
#ifdef VMM_TEST_HOOKS
		case OPT_TEST_SECCOMP_TRIGGER:
			if (seccomp_test_trigger_arm(optarg)) {
				fprintf(stderr, "vmm: --test-seccomp-trigger: vcpu, vmm or api\n");
				return VMM_EXIT_USAGE;
			}
			break;
#endif
		default:
			usage(stderr);
			return VMM_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmm: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return VMM_EXIT_USAGE;
	}
	if (no_api && !config_path) {
		fprintf(stderr, "vmm: --no-api needs --config-file\n");
		return VMM_EXIT_USAGE;
	}
	if (no_seccomp && custom_filter_path) {
		fprintf(stderr, "vmm: --no-seccomp and --seccomp-filter exclude each other\n");
		return VMM_EXIT_USAGE;
	}
	/*
	 * jansson seeds its hash function on first use, by opening /dev/urandom: seed it
	 * now, from getrandom (no file, nothing needed in a jail), before the API thread's
	 * filter (which has no open) is in place. 0 asks jansson to find a seed itself.
	 */
	{
		uint32_t seed = 0;

		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
			seed = 0;
		json_object_seed(seed);
	}
	config_init(&v.cfg);
	if (config_path && config_parse_file(config_path, &v.cfg, &err)) {
		fprintf(stderr, "vmm: %s: %s\n", config_path, err.msg);
		return VMM_EXIT_USAGE;
	}

	/*
	 * The config file's logger and metrics sections do what PUT /logger and PUT /metrics
	 * do. A path may come from the command line or the file, not both; a level given on
	 * the command line wins over the file's.
	 */
	if (v.cfg.logger.present && v.cfg.logger.log_path) {
		if (log_path) {
			fprintf(stderr, "vmm: --log-path and the config file's logger.log_path "
					"exclude each other\n");
			return VMM_EXIT_USAGE;
		}
		log_path = v.cfg.logger.log_path;
	}
	if (v.cfg.metrics.present) {
		if (metrics_path) {
			fprintf(stderr, "vmm: --metrics-path and the config file's metrics section "
					"exclude each other\n");
			return VMM_EXIT_USAGE;
		}
		metrics_path = v.cfg.metrics.metrics_path;
	}
	log_set_instance_id(id);
	log_set_show(true, show_origin);
	if (v.cfg.logger.present) {
		if (!level_given)
			log_set_level((enum log_level)v.cfg.logger.level);
		log_set_show(show_level || v.cfg.logger.show_level,
			     show_origin || v.cfg.logger.show_log_origin);
	}
	if (log_path && (r = log_set_path(log_path))) {
		fprintf(stderr, "vmm: log path %s: %s\n", log_path, strerror(-r));
		return VMM_EXIT_USAGE;
	}
	metrics_set_id(v.cfg.metrics.present && !v.cfg.metrics.emit_id ? NULL : id);
	if (metrics_path && (r = metrics_set_path(metrics_path))) {
		fprintf(stderr, "vmm: metrics path %s: %s\n", metrics_path, strerror(-r));
		return VMM_EXIT_USAGE;
	}
	if (!no_seccomp) {
		/* Filters trap: the handler must be in place before the first one goes on. */
		r = seccomp_sigsys_init(log_path, metrics_path, id);
		if (r) {
			fprintf(stderr, "vmm: seccomp violation reporting: %s\n", strerror(-r));
			return VMM_EXIT_ERROR;
		}
		v.opts.seccomp_install = custom_filter_path ? install_filter_file : install_filter;
	} else
		log_warn("seccomp filtering is off (--no-seccomp)");

	/* Signals arrive through the event loop; vCPU threads inherit the blocked mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGRTMIN);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sigdelset(&sigs, SIGRTMIN);
	signal(SIGPIPE, SIG_IGN);
	if ((r = ev_loop_init(&v.loop))) {
		fprintf(stderr, "vmm: epoll: %s\n", strerror(-r));
		return VMM_EXIT_ERROR;
	}
	ev_loop_set_poll_max(&v.loop, poll_max_us * 1000);
	v.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	v.sig_src = (struct ev_source){ .fd = v.sigfd, .fn = vmm_signal, .opaque = &v };
	if (v.sigfd < 0 || ev_add(&v.loop, &v.sig_src, EPOLLIN)) {
		fprintf(stderr, "vmm: signalfd: %s\n", strerror(errno));
		return VMM_EXIT_ERROR;
	}

	v.mgroup = (struct metrics_group){ .name = "vmm", .n = ARRAY_SIZE(vmm_metric_names),
					   .names = vmm_metric_names, .vals = v.mvals };
	metrics_register(&v.mgroup);

	if (!no_api) {
		r = api_server_start(&v.api, api_sock, id, &v.cfg, &vmm_api_ops, &v, &v.loop);
		if (r) {
			fprintf(stderr, "vmm: --api-sock %s: %s\n", api_sock, strerror(-r));
			code = VMM_EXIT_ERROR;
			goto out;
		}
		log_info("API socket %s accepting %llu us after process start", api_sock,
			 (unsigned long long)((util_now_ns() - v.opts.process_start_ns) / 1000));
	}
	if (config_path) {
		setup_tty();
		r = vmm_instance_start(&v, &v.cfg, &err);
		if (r) {
			log_error("cannot start the microVM: %s", err.msg);
			if (log_path)
				fprintf(stderr, "vmm: %s\n", err.msg);
			code = VMM_EXIT_ERROR;
			goto out;
		}
		if (v.api)
			api_server_set_state(v.api, API_VM_RUNNING);
	}
	code = vmm_run(&v);
out:
	if (v.vm_created) {
		/* Join the vCPUs first so the counters are final. */
		vm_stop_all(&v.vm);
		vmm_refresh_metrics(&v);
		{
			char line[256];
			size_t n = 0;

			for (unsigned int i = 0; i < EXIT_STAT_MAX && n < sizeof(line); i++)
				n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s %llu",
						      i ? ", " : "", vm_exit_stat_name(i),
						      (unsigned long long)v.exits[i]);
			log_info("VM exits by reason: %s", line);
		}
		log_info("first KVM_RUN %llu us after process start",
			 (unsigned long long)v.first_run_us);
		if (v.loop.poll_max_ns)
			log_info("event loop polling (up to %llu us): %llu windows, %llu found work, "
				 "%llu us spent",
				 (unsigned long long)(v.loop.poll_max_ns / 1000),
				 (unsigned long long)v.loop.poll_stats.windows,
				 (unsigned long long)v.loop.poll_stats.hits,
				 (unsigned long long)(v.loop.poll_stats.ns / 1000));
		uint64_t first = __atomic_load_n(&v.vm.vcpus[0].first_run_ns, __ATOMIC_RELAXED);

		if (first > v.start_call_ns)
			log_info("first KVM_RUN %llu us after InstanceStart reached the VMM thread",
				 (unsigned long long)((first - v.start_call_ns) / 1000));
		vm_destroy(&v.vm);
	}
	if (metrics_configured()) {
		metrics_flush();
		metrics_close();
	}
	api_server_stop(v.api);
	config_free(&v.cfg);
	if (v.sigfd >= 0)
		close(v.sigfd);
	ev_loop_destroy(&v.loop);
	restore_tty();
	log_info("exiting with status %d", code);
	return code;
}
