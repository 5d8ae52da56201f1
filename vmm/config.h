/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VM configuration, one struct per resource of the Firecracker API contract
 * (shared/reference/firecracker-api.yaml). The same parsers serve the --config-file
 * JSON and the API request bodies. Parsing is strict: unknown fields, wrong types and
 * out-of-range values are refused with a message naming the field.
 *
 * Strings are owned by the struct (malloc'd) and released by the matching *_free().
 */
#ifndef VMM_CONFIG_H
#define VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_VCPUS 32
#define CONFIG_MAX_DRIVES 16
#define CONFIG_MAX_NETS 8
#define CONFIG_ID_MAX 64 /* drive_id, iface_id: [A-Za-z0-9_]{1,64}, as Firecracker */
#define CONFIG_MAX_MEM_MIB (256u * 1024) /* 256 GiB: far beyond any host here, still sane */
#define CONFIG_PATH_MAX 4095 /* PATH_MAX less the NUL */
#define CONFIG_BOOT_ARGS_MAX 4096 /* x86 COMMAND_LINE_SIZE is 2048; the core checks the total */
#define CONFIG_ERR_MAX 256

struct config_err {
	char msg[CONFIG_ERR_MAX]; /* e.g. "machine-config.vcpu_count: must be 1..32" */
};

struct token_bucket_cfg {
	bool present;
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time_ms;
};

struct rate_limiter_cfg {
	struct token_bucket_cfg bandwidth; /* bytes */
	struct token_bucket_cfg ops; /* operations */
};

struct boot_source_cfg {
	char *kernel_image_path; /* required */
	char *initrd_path; /* optional */
	char *boot_args; /* optional: NULL means "use the defaults only" */
};

enum huge_pages_cfg { HUGE_PAGES_NONE = 0, HUGE_PAGES_TRANSPARENT, HUGE_PAGES_2M };

struct machine_cfg {
	uint32_t vcpu_count; /* 1..32 */
	uint32_t mem_size_mib; /* >= 1 */
	bool smt;
	bool track_dirty_pages;
	enum huge_pages_cfg huge_pages;
};

enum cache_type_cfg { CACHE_UNSAFE = 0, CACHE_WRITEBACK };
enum io_engine_cfg { IO_ENGINE_SYNC = 0, IO_ENGINE_ASYNC };

struct drive_cfg {
	char drive_id[CONFIG_ID_MAX + 1];
	char *path_on_host;
	bool is_root_device;
	bool is_read_only;
	char *partuuid; /* optional; only used for the root device */
	enum cache_type_cfg cache_type;
	enum io_engine_cfg io_engine;
	struct rate_limiter_cfg rate_limiter;
};

struct net_cfg {
	char iface_id[CONFIG_ID_MAX + 1];
	char *host_dev_name;
	bool has_guest_mac;
	uint8_t guest_mac[6];
	uint32_t mtu; /* 0: not advertised */
	struct rate_limiter_cfg rx_rate_limiter;
	struct rate_limiter_cfg tx_rate_limiter;
};

struct vsock_cfg {
	bool present;
	uint32_t guest_cid; /* >= 3 */
	char *uds_path;
};

struct entropy_cfg {
	bool present;
	struct rate_limiter_cfg rate_limiter;
};

struct serial_cfg {
	bool present;
	char *serial_out_path; /* NULL: the VMM's stdout */
	struct token_bucket_cfg rate_limiter; /* bytes; absent: no limit */
};

struct logger_cfg {
	bool present;
	char *log_path;
	int level; /* enum log_level */
	bool show_level;
	bool show_log_origin;
};

struct metrics_cfg {
	bool present;
	char *metrics_path;
	bool emit_id;
};

struct vm_config {
	bool has_boot_source;
	struct boot_source_cfg boot_source;
	struct machine_cfg machine; /* defaults: 1 vCPU, 128 MiB */
	unsigned int ndrives;
	struct drive_cfg drives[CONFIG_MAX_DRIVES];
	unsigned int nnets;
	struct net_cfg nets[CONFIG_MAX_NETS];
	struct vsock_cfg vsock;
	struct entropy_cfg entropy;
	struct serial_cfg serial;
	struct logger_cfg logger;
	struct metrics_cfg metrics;
};

/* Format a message into err (NULL is allowed: nothing is written). */
void config_err_set(struct config_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fill with defaults (1 vCPU, 128 MiB, nothing else). */
void config_init(struct vm_config *cfg);
void config_free(struct vm_config *cfg);

/*
 * Parse a FullVmConfiguration document (the --config-file format) into cfg, which must
 * be config_init()ed. 0, or -EINVAL with err filled in. On error cfg is left as it was.
 */
int config_parse_file(const char *path, struct vm_config *cfg, struct config_err *err);
int config_parse_string(const char *json, size_t len, struct vm_config *cfg,
			struct config_err *err);

/* Serialise to the FullVmConfiguration JSON (GET /vm/config). malloc'd string or NULL. */
char *config_to_json(const struct vm_config *cfg);

/*
 * Per-resource parsers, shared by the config file and the API bodies. They work on a
 * parsed jansson value (json_t) and validate the resource on its own; the *_apply()
 * functions merge a parsed resource into a vm_config and do the cross-resource checks
 * (duplicate root device, count limits, SMT vs vcpu_count). Both leave their outputs
 * untouched on error. "pfx" names the resource in messages ("drives[1]", "drive").
 * A successful *_apply() takes ownership of the strings in its input and clears them.
 */
struct json_t;

/* Parse text into a JSON object (duplicate keys refused). 0 or -EINVAL. */
int config_json_load(const char *buf, size_t len, struct json_t **out, struct config_err *err);

enum machine_field {
	MACHINE_F_VCPU = 1u << 0,
	MACHINE_F_MEM = 1u << 1,
	MACHINE_F_SMT = 1u << 2,
	MACHINE_F_DIRTY = 1u << 3,
	MACHINE_F_HUGE = 1u << 4,
};

struct drive_patch {
	char drive_id[CONFIG_ID_MAX + 1];
	char *path_on_host; /* NULL: keep */
	bool has_rate_limiter;
	struct rate_limiter_cfg rate_limiter;
};

struct net_patch {
	char iface_id[CONFIG_ID_MAX + 1];
	bool has_rx, has_tx;
	struct rate_limiter_cfg rx, tx;
};

/* Firecracker's id rule: [A-Za-z0-9_]{1,64}. */
bool config_id_valid(const char *id);

int config_boot_source_parse(struct json_t *j, const char *pfx, struct boot_source_cfg *out,
			     struct config_err *err);
void config_boot_source_free(struct boot_source_cfg *b);
void config_boot_source_apply(struct vm_config *cfg, struct boot_source_cfg *b);

/* partial: PATCH semantics, no field required. *fields says which were given. */
int config_machine_parse(struct json_t *j, const char *pfx, bool partial,
			 struct machine_cfg *out, unsigned int *fields, struct config_err *err);
/* PUT (replace=true: missing fields take defaults) or PATCH (replace=false). */
int config_machine_apply(struct vm_config *cfg, const struct machine_cfg *m, unsigned int fields,
			 bool replace, const char *pfx, struct config_err *err);

int config_drive_parse(struct json_t *j, const char *pfx, struct drive_cfg *out,
		       struct config_err *err);
void config_drive_free(struct drive_cfg *d);
/* Insert, or replace the drive with the same drive_id. */
int config_drive_apply(struct vm_config *cfg, struct drive_cfg *d, const char *pfx,
		       struct config_err *err);
int config_drive_patch_parse(struct json_t *j, const char *pfx, struct drive_patch *out,
			     struct config_err *err);
void config_drive_patch_free(struct drive_patch *p);
struct drive_cfg *config_find_drive(struct vm_config *cfg, const char *id);

int config_net_parse(struct json_t *j, const char *pfx, struct net_cfg *out,
		     struct config_err *err);
void config_net_free(struct net_cfg *n);
int config_net_apply(struct vm_config *cfg, struct net_cfg *n, const char *pfx,
		     struct config_err *err);
int config_net_patch_parse(struct json_t *j, const char *pfx, struct net_patch *out,
			   struct config_err *err);
struct net_cfg *config_find_net(struct vm_config *cfg, const char *id);

int config_vsock_parse(struct json_t *j, const char *pfx, struct vsock_cfg *out,
		       struct config_err *err);
void config_vsock_free(struct vsock_cfg *v);
int config_entropy_parse(struct json_t *j, const char *pfx, struct entropy_cfg *out,
			 struct config_err *err);
int config_serial_parse(struct json_t *j, const char *pfx, struct serial_cfg *out,
			struct config_err *err);
void config_serial_free(struct serial_cfg *s);
int config_logger_parse(struct json_t *j, const char *pfx, struct logger_cfg *out,
			struct config_err *err);
void config_logger_free(struct logger_cfg *l);
int config_metrics_parse(struct json_t *j, const char *pfx, struct metrics_cfg *out,
			 struct config_err *err);
void config_metrics_free(struct metrics_cfg *m);

/* Serialise one resource (GET /machine-config). malloc'd string or NULL. */
char *config_machine_to_json(const struct machine_cfg *m);

#endif
