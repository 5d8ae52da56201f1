// SPDX-License-Identifier: Apache-2.0
/*
 * Strict parsers for the Firecracker configuration resources. Every object is checked
 * field by field against a list of known names first, so a typo is an error and not a
 * silently ignored setting. Messages name the resource and field: "drives[1].drive_id: ...".
 */
#include "vmm/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define CONFIG_FILE_MAX (1024 * 1024)

void config_err_set(struct config_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->machine.vcpu_count = 1;
	cfg->machine.mem_size_mib = 128;
	cfg->logger.level = LOG_INFO;
}

bool config_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		char c = id[n];

		if (n >= CONFIG_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return n > 0;
}

int config_json_load(const char *buf, size_t len, json_t **out, struct config_err *err)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		config_err_set(err, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
			jerr.text);
		return -EINVAL;
	}
	*out = j;
	return 0;
}

/*
 * Refuse any key not in allowed[]. Keys in unsupported[] are part of the contract but
 * not implemented here: say so instead of "unknown".
 */
static int check_fields(json_t *o, const char *pfx, const char *const *allowed,
			const char *const *unsupported, struct config_err *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o)) {
		config_err_set(err, "%s: must be a JSON object", pfx);
		return -EINVAL;
	}
	json_object_foreach(o, key, v) {
		bool ok = false;

		for (size_t i = 0; allowed[i]; i++)
			if (!strcmp(key, allowed[i]))
				ok = true;
		if (ok)
			continue;
		for (size_t i = 0; unsupported && unsupported[i]; i++) {
			if (!strcmp(key, unsupported[i])) {
				config_err_set(err, "%s.%s: not supported", pfx, key);
				return -EINVAL;
			}
		}
		config_err_set(err, "%s.%.64s: unknown field", pfx, key);
		return -EINVAL;
	}
	return 0;
}

/* A string field: non-empty, no NUL, at most max bytes. *out is malloc'd (NULL if absent). */
static int get_str(json_t *o, const char *pfx, const char *key, bool required, size_t max,
		   char **out, struct config_err *err)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t len;

	*out = NULL;
	if (!v) {
		if (required) {
			config_err_set(err, "%s.%s: missing required field", pfx, key);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		config_err_set(err, "%s.%s: must be a string", pfx, key);
		return -EINVAL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0) {
		config_err_set(err, "%s.%s: must not be empty", pfx, key);
		return -EINVAL;
	}
	if (strlen(s) != len) {
		config_err_set(err, "%s.%s: must not contain NUL", pfx, key);
		return -EINVAL;
	}
	if (len > max) {
		config_err_set(err, "%s.%s: longer than %zu bytes", pfx, key, max);
		return -EINVAL;
	}
	*out = strdup(s);
	if (!*out) {
		config_err_set(err, "%s.%s: out of memory", pfx, key);
		return -ENOMEM;
	}
	return 0;
}

static int get_id(json_t *o, const char *pfx, const char *key, char id[CONFIG_ID_MAX + 1],
		  struct config_err *err)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v) {
		config_err_set(err, "%s.%s: missing required field", pfx, key);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		config_err_set(err, "%s.%s: must be a string", pfx, key);
		return -EINVAL;
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !config_id_valid(s)) {
		config_err_set(err, "%s.%s: must be 1 to %d characters of [A-Za-z0-9_]", pfx, key,
			CONFIG_ID_MAX);
		return -EINVAL;
	}
	memcpy(id, s, strlen(s) + 1);
	return 0;
}

/* 1: present, 0: absent, <0: error. */
static int get_bool(json_t *o, const char *pfx, const char *key, bool *out,
		    struct config_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		config_err_set(err, "%s.%s: must be a boolean", pfx, key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 1;
}

/* An integer in [min, max]. 1: present, 0: absent, <0: error. */
static int get_uint(json_t *o, const char *pfx, const char *key, bool required, uint64_t min,
		    uint64_t max, uint64_t *out, struct config_err *err)
{
	json_t *v = json_object_get(o, key);
	json_int_t n;

	if (!v) {
		if (required) {
			config_err_set(err, "%s.%s: missing required field", pfx, key);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_is_integer(v)) {
		config_err_set(err, "%s.%s: must be an integer", pfx, key);
		return -EINVAL;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
		config_err_set(err, "%s.%s: must be between %llu and %llu", pfx, key,
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)n;
	return 1;
}

/* A string from a fixed set; returns its index. 1: present, 0: absent, <0: error. */
static int get_enum(json_t *o, const char *pfx, const char *key, const char *const *names,
		    int *out, struct config_err *err)
{
	json_t *v = json_object_get(o, key);
	char list[128] = "";

	if (!v)
		return 0;
	if (json_is_string(v)) {
		for (int i = 0; names[i]; i++) {
			if (!strcmp(json_string_value(v), names[i]) &&
			    strlen(names[i]) == json_string_length(v)) {
				*out = i;
				return 1;
			}
		}
	}
	for (int i = 0; names[i]; i++) {
		size_t l = strlen(list);

		snprintf(list + l, sizeof(list) - l, "%s\"%s\"", i ? ", " : "", names[i]);
	}
	config_err_set(err, "%s.%s: must be one of %s", pfx, key, list);
	return -EINVAL;
}

static int token_bucket_parse(json_t *j, const char *pfx, struct token_bucket_cfg *tb,
			      struct config_err *err)
{
	static const char *const fields[] = { "size", "one_time_burst", "refill_time", NULL };
	struct token_bucket_cfg t = { .present = true };
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	if ((r = get_uint(j, pfx, "size", true, 0, INT64_MAX, &t.size, err)) < 0)
		return r;
	if ((r = get_uint(j, pfx, "one_time_burst", false, 0, INT64_MAX, &t.one_time_burst,
			  err)) < 0)
		return r;
	if ((r = get_uint(j, pfx, "refill_time", true, 0, INT64_MAX, &t.refill_time_ms, err)) < 0)
		return r;
	*tb = t;
	return 0;
}

/* A RateLimiter object under key; absent leaves *rl zeroed. 1: present, 0: absent. */
static int rate_limiter_get(json_t *o, const char *pfx, const char *key,
			    struct rate_limiter_cfg *rl, struct config_err *err)
{
	static const char *const fields[] = { "bandwidth", "ops", NULL };
	json_t *v = json_object_get(o, key), *b;
	struct rate_limiter_cfg t = { 0 };
	char sub[96];
	int r;

	memset(rl, 0, sizeof(*rl));
	if (!v)
		return 0;
	snprintf(sub, sizeof(sub), "%s.%s", pfx, key);
	if ((r = check_fields(v, sub, fields, NULL, err)) < 0)
		return r;
	if ((b = json_object_get(v, "bandwidth"))) {
		snprintf(sub, sizeof(sub), "%s.%s.bandwidth", pfx, key);
		if ((r = token_bucket_parse(b, sub, &t.bandwidth, err)) < 0)
			return r;
	}
	if ((b = json_object_get(v, "ops"))) {
		snprintf(sub, sizeof(sub), "%s.%s.ops", pfx, key);
		if ((r = token_bucket_parse(b, sub, &t.ops, err)) < 0)
			return r;
	}
	*rl = t;
	return 1;
}

/* ---- boot-source ---- */

void config_boot_source_free(struct boot_source_cfg *b)
{
	free(b->kernel_image_path);
	free(b->initrd_path);
	free(b->boot_args);
	memset(b, 0, sizeof(*b));
}

int config_boot_source_parse(json_t *j, const char *pfx, struct boot_source_cfg *out,
			     struct config_err *err)
{
	static const char *const fields[] = { "kernel_image_path", "initrd_path", "boot_args",
					      NULL };
	struct boot_source_cfg b = { 0 };
	json_t *args;
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	if ((r = get_str(j, pfx, "kernel_image_path", true, CONFIG_PATH_MAX,
			 &b.kernel_image_path, err)) < 0)
		goto fail;
	if ((r = get_str(j, pfx, "initrd_path", false, CONFIG_PATH_MAX, &b.initrd_path, err)) < 0)
		goto fail;
	/* boot_args may be an empty string: that means "no extra arguments". */
	args = json_object_get(j, "boot_args");
	if (args && json_is_string(args) && json_string_length(args) == 0) {
		b.boot_args = strdup("");
		if (!b.boot_args) {
			r = -ENOMEM;
			goto fail;
		}
	} else if ((r = get_str(j, pfx, "boot_args", false, CONFIG_BOOT_ARGS_MAX, &b.boot_args,
				err)) < 0) {
		goto fail;
	}
	*out = b;
	return 0;
fail:
	config_boot_source_free(&b);
	return r;
}

void config_boot_source_apply(struct vm_config *cfg, struct boot_source_cfg *b)
{
	config_boot_source_free(&cfg->boot_source);
	cfg->boot_source = *b;
	cfg->has_boot_source = true;
	memset(b, 0, sizeof(*b));
}

/* ---- machine-config ---- */

static const char *const huge_pages_names[] = { "None", "Transparent", "2M", NULL };

int config_machine_parse(json_t *j, const char *pfx, bool partial, struct machine_cfg *out,
			 unsigned int *fields_out, struct config_err *err)
{
	static const char *const fields[] = { "vcpu_count",	   "mem_size_mib", "smt",
					      "track_dirty_pages", "huge_pages",   "cpu_template",
					      NULL };
	static const char *const unsupported[] = { "gdb_socket_path", NULL };
	struct machine_cfg m = { .vcpu_count = 1, .mem_size_mib = 128 };
	unsigned int f = 0;
	uint64_t n;
	json_t *tmpl;
	int r, e;

	if ((r = check_fields(j, pfx, fields, unsupported, err)) < 0)
		return r;
	if ((r = get_uint(j, pfx, "vcpu_count", !partial, 1, CONFIG_MAX_VCPUS, &n, err)) < 0)
		return r;
	if (r) {
		m.vcpu_count = (uint32_t)n;
		f |= MACHINE_F_VCPU;
	}
	if ((r = get_uint(j, pfx, "mem_size_mib", !partial, 1, CONFIG_MAX_MEM_MIB, &n, err)) < 0)
		return r;
	if (r) {
		m.mem_size_mib = (uint32_t)n;
		f |= MACHINE_F_MEM;
	}
	if ((r = get_bool(j, pfx, "smt", &m.smt, err)) < 0)
		return r;
	if (r)
		f |= MACHINE_F_SMT;
	if ((r = get_bool(j, pfx, "track_dirty_pages", &m.track_dirty_pages, err)) < 0)
		return r;
	if (r)
		f |= MACHINE_F_DIRTY;
	if ((r = get_enum(j, pfx, "huge_pages", huge_pages_names, &e, err)) < 0)
		return r;
	if (r) {
		m.huge_pages = (enum huge_pages_cfg)e;
		f |= MACHINE_F_HUGE;
	}
	/* CPU templates are deprecated in the contract; only "None" is meaningful here. */
	tmpl = json_object_get(j, "cpu_template");
	if (tmpl && !(json_is_string(tmpl) && !strcmp(json_string_value(tmpl), "None"))) {
		config_err_set(err, "%s.cpu_template: not supported (only \"None\")", pfx);
		return -EINVAL;
	}
	*out = m;
	*fields_out = f;
	return 0;
}

int config_machine_apply(struct vm_config *cfg, const struct machine_cfg *m, unsigned int fields,
			 bool replace, const char *pfx, struct config_err *err)
{
	struct machine_cfg n = replace ? (struct machine_cfg){ .vcpu_count = 1, .mem_size_mib = 128 }
				       : cfg->machine;

	if (fields & MACHINE_F_VCPU)
		n.vcpu_count = m->vcpu_count;
	if (fields & MACHINE_F_MEM)
		n.mem_size_mib = m->mem_size_mib;
	if (fields & MACHINE_F_SMT)
		n.smt = m->smt;
	if (fields & MACHINE_F_DIRTY)
		n.track_dirty_pages = m->track_dirty_pages;
	if (fields & MACHINE_F_HUGE)
		n.huge_pages = m->huge_pages;
	if (n.smt && n.vcpu_count != 1 && n.vcpu_count % 2) {
		config_err_set(err, "%s.vcpu_count: must be 1 or an even number when smt is enabled", pfx);
		return -EINVAL;
	}
	if (n.huge_pages == HUGE_PAGES_2M && n.mem_size_mib % 2) {
		config_err_set(err, "%s.mem_size_mib: must be a multiple of 2 with 2M huge pages", pfx);
		return -EINVAL;
	}
	cfg->machine = n;
	return 0;
}

/* ---- drives ---- */

static const char *const cache_type_names[] = { "Unsafe", "Writeback", NULL };
static const char *const io_engine_names[] = { "Sync", "Async", NULL };

void config_drive_free(struct drive_cfg *d)
{
	free(d->path_on_host);
	free(d->partuuid);
	d->path_on_host = NULL;
	d->partuuid = NULL;
}

int config_drive_parse(json_t *j, const char *pfx, struct drive_cfg *out,
		       struct config_err *err)
{
	static const char *const fields[] = { "drive_id",     "partuuid",     "is_root_device",
					      "cache_type",   "is_read_only", "path_on_host",
					      "rate_limiter", "io_engine",    NULL };
	static const char *const unsupported[] = { "socket", NULL };
	struct drive_cfg d = { 0 };
	json_t *root;
	int r, e;

	if ((r = check_fields(j, pfx, fields, unsupported, err)) < 0)
		return r;
	if ((r = get_id(j, pfx, "drive_id", d.drive_id, err)) < 0)
		return r;
	root = json_object_get(j, "is_root_device");
	if (!root) {
		config_err_set(err, "%s.is_root_device: missing required field", pfx);
		return -EINVAL;
	}
	if ((r = get_bool(j, pfx, "is_root_device", &d.is_root_device, err)) < 0)
		return r;
	if ((r = get_bool(j, pfx, "is_read_only", &d.is_read_only, err)) < 0)
		return r;
	if ((r = get_enum(j, pfx, "cache_type", cache_type_names, &e, err)) < 0)
		return r;
	if (r)
		d.cache_type = (enum cache_type_cfg)e;
	if ((r = get_enum(j, pfx, "io_engine", io_engine_names, &e, err)) < 0)
		return r;
	if (r)
		d.io_engine = (enum io_engine_cfg)e;
	if ((r = rate_limiter_get(j, pfx, "rate_limiter", &d.rate_limiter, err)) < 0)
		return r;
	/* vhost-user-block ("socket") is refused above, so virtio-block needs a path. */
	if ((r = get_str(j, pfx, "path_on_host", true, CONFIG_PATH_MAX, &d.path_on_host, err)) < 0)
		goto fail;
	if ((r = get_str(j, pfx, "partuuid", false, 128, &d.partuuid, err)) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	config_drive_free(&d);
	return r;
}

struct drive_cfg *config_find_drive(struct vm_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->ndrives; i++)
		if (!strcmp(cfg->drives[i].drive_id, id))
			return &cfg->drives[i];
	return NULL;
}

int config_drive_apply(struct vm_config *cfg, struct drive_cfg *d, const char *pfx,
		       struct config_err *err)
{
	struct drive_cfg *slot = config_find_drive(cfg, d->drive_id);

	if (d->is_root_device) {
		for (unsigned int i = 0; i < cfg->ndrives; i++) {
			struct drive_cfg *o = &cfg->drives[i];

			if (o != slot && o->is_root_device) {
				config_err_set(err,
					"%s.is_root_device: drive \"%s\" is already the root device",
					pfx, o->drive_id);
				return -EINVAL;
			}
		}
	}
	if (!slot) {
		if (cfg->ndrives >= CONFIG_MAX_DRIVES) {
			config_err_set(err, "%s: at most %d drives", pfx, CONFIG_MAX_DRIVES);
			return -EINVAL;
		}
		slot = &cfg->drives[cfg->ndrives++];
	} else {
		config_drive_free(slot);
	}
	*slot = *d;
	d->path_on_host = NULL;
	d->partuuid = NULL;
	return 0;
}

void config_drive_patch_free(struct drive_patch *p)
{
	free(p->path_on_host);
	p->path_on_host = NULL;
}

int config_drive_patch_parse(json_t *j, const char *pfx, struct drive_patch *out,
			     struct config_err *err)
{
	static const char *const fields[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	struct drive_patch p = { 0 };
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	if ((r = get_id(j, pfx, "drive_id", p.drive_id, err)) < 0)
		return r;
	if ((r = rate_limiter_get(j, pfx, "rate_limiter", &p.rate_limiter, err)) < 0)
		return r;
	p.has_rate_limiter = r > 0;
	if ((r = get_str(j, pfx, "path_on_host", false, CONFIG_PATH_MAX, &p.path_on_host, err)) < 0)
		return r;
	*out = p;
	return 0;
}

/* ---- network interfaces ---- */

void config_net_free(struct net_cfg *n)
{
	free(n->host_dev_name);
	n->host_dev_name = NULL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		unsigned int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = *s++;

			if (c >= '0' && c <= '9')
				v = v * 16 + (unsigned int)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (unsigned int)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v = v * 16 + (unsigned int)(c - 'A' + 10);
			else
				return -EINVAL;
		}
		mac[i] = (uint8_t)v;
		if (*s != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		if (i < 5)
			s++;
	}
	return 0;
}

int config_net_parse(json_t *j, const char *pfx, struct net_cfg *out,
		     struct config_err *err)
{
	static const char *const fields[] = { "iface_id",	 "host_dev_name",   "guest_mac",
					      "mtu",		 "rx_rate_limiter", "tx_rate_limiter",
					      NULL };
	struct net_cfg n = { 0 };
	json_t *mac;
	uint64_t mtu;
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	if ((r = get_id(j, pfx, "iface_id", n.iface_id, err)) < 0)
		return r;
	mac = json_object_get(j, "guest_mac");
	if (mac) {
		if (!json_is_string(mac) || json_string_length(mac) != 17 ||
		    parse_mac(json_string_value(mac), n.guest_mac) < 0) {
			config_err_set(err, "%s.guest_mac: must be a MAC address like \"06:00:ac:10:00:02\"",
				pfx);
			return -EINVAL;
		}
		if (n.guest_mac[0] & 1) {
			config_err_set(err, "%s.guest_mac: must be a unicast address", pfx);
			return -EINVAL;
		}
		n.has_guest_mac = true;
	}
	if ((r = get_uint(j, pfx, "mtu", false, 68, 65535, &mtu, err)) < 0)
		return r;
	if (r)
		n.mtu = (uint32_t)mtu;
	if ((r = rate_limiter_get(j, pfx, "rx_rate_limiter", &n.rx_rate_limiter, err)) < 0)
		return r;
	if ((r = rate_limiter_get(j, pfx, "tx_rate_limiter", &n.tx_rate_limiter, err)) < 0)
		return r;
	/* IFNAMSIZ is 16 with the NUL. */
	if ((r = get_str(j, pfx, "host_dev_name", true, 15, &n.host_dev_name, err)) < 0)
		return r;
	*out = n;
	return 0;
}

struct net_cfg *config_find_net(struct vm_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nnets; i++)
		if (!strcmp(cfg->nets[i].iface_id, id))
			return &cfg->nets[i];
	return NULL;
}

int config_net_apply(struct vm_config *cfg, struct net_cfg *n, const char *pfx,
		     struct config_err *err)
{
	struct net_cfg *slot = config_find_net(cfg, n->iface_id);

	for (unsigned int i = 0; i < cfg->nnets; i++) {
		struct net_cfg *o = &cfg->nets[i];

		if (o == slot)
			continue;
		if (!strcmp(o->host_dev_name, n->host_dev_name)) {
			config_err_set(err, "%s.host_dev_name: already used by interface \"%s\"", pfx,
				o->iface_id);
			return -EINVAL;
		}
		if (n->has_guest_mac && o->has_guest_mac && !memcmp(o->guest_mac, n->guest_mac, 6)) {
			config_err_set(err, "%s.guest_mac: already used by interface \"%s\"", pfx,
				o->iface_id);
			return -EINVAL;
		}
	}
	if (!slot) {
		if (cfg->nnets >= CONFIG_MAX_NETS) {
			config_err_set(err, "%s: at most %d network interfaces", pfx, CONFIG_MAX_NETS);
			return -EINVAL;
		}
		slot = &cfg->nets[cfg->nnets++];
	} else {
		config_net_free(slot);
	}
	*slot = *n;
	n->host_dev_name = NULL;
	return 0;
}

int config_net_patch_parse(json_t *j, const char *pfx, struct net_patch *out,
			   struct config_err *err)
{
	static const char *const fields[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter",
					      NULL };
	struct net_patch p = { 0 };
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	if ((r = get_id(j, pfx, "iface_id", p.iface_id, err)) < 0)
		return r;
	if ((r = rate_limiter_get(j, pfx, "rx_rate_limiter", &p.rx, err)) < 0)
		return r;
	p.has_rx = r > 0;
	if ((r = rate_limiter_get(j, pfx, "tx_rate_limiter", &p.tx, err)) < 0)
		return r;
	p.has_tx = r > 0;
	*out = p;
	return 0;
}

/* ---- vsock, entropy, logger, metrics ---- */

void config_vsock_free(struct vsock_cfg *v)
{
	free(v->uds_path);
	memset(v, 0, sizeof(*v));
}

int config_vsock_parse(json_t *j, const char *pfx, struct vsock_cfg *out,
		       struct config_err *err)
{
	/* vsock_id is deprecated but still sent by older clients: accepted and ignored. */
	static const char *const fields[] = { "guest_cid", "uds_path", "vsock_id", NULL };
	struct vsock_cfg v = { .present = true };
	json_t *id;
	uint64_t cid;
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	id = json_object_get(j, "vsock_id");
	if (id && !json_is_string(id)) {
		config_err_set(err, "%s.vsock_id: must be a string", pfx);
		return -EINVAL;
	}
	/* CIDs 0-2 are reserved; the virtio config field is 64-bit but Linux uses 32. */
	if ((r = get_uint(j, pfx, "guest_cid", true, 3, UINT32_MAX - 1, &cid, err)) < 0)
		return r;
	v.guest_cid = (uint32_t)cid;
	/* sun_path is 108 bytes with the NUL. */
	if ((r = get_str(j, pfx, "uds_path", true, 107, &v.uds_path, err)) < 0)
		return r;
	*out = v;
	return 0;
}

int config_entropy_parse(json_t *j, const char *pfx, struct entropy_cfg *out,
			 struct config_err *err)
{
	static const char *const fields[] = { "rate_limiter", NULL };
	struct entropy_cfg e = { .present = true };
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	if ((r = rate_limiter_get(j, pfx, "rate_limiter", &e.rate_limiter, err)) < 0)
		return r;
	*out = e;
	return 0;
}

void config_serial_free(struct serial_cfg *s)
{
	free(s->serial_out_path);
	memset(s, 0, sizeof(*s));
}

int config_serial_parse(json_t *j, const char *pfx, struct serial_cfg *out,
			struct config_err *err)
{
	static const char *const fields[] = { "serial_out_path", "rate_limiter", NULL };
	struct serial_cfg s = { .present = true };
	json_t *tb;
	char sub[96];
	int r;

	if ((r = check_fields(j, pfx, fields, NULL, err)) < 0)
		return r;
	/* A bare TokenBucket in bytes, not a RateLimiter: the contract has no ops for a UART. */
	if ((tb = json_object_get(j, "rate_limiter"))) {
		snprintf(sub, sizeof(sub), "%s.rate_limiter", pfx);
		if ((r = token_bucket_parse(tb, sub, &s.rate_limiter, err)) < 0)
			return r;
	}
	if ((r = get_str(j, pfx, "serial_out_path", false, CONFIG_PATH_MAX, &s.serial_out_path,
			 err)) < 0)
		return r;
	*out = s;
	return 0;
}

void config_logger_free(struct logger_cfg *l)
{
	free(l->log_path);
	l->log_path = NULL;
}

int config_logger_parse(json_t *j, const char *pfx, struct logger_cfg *out,
			struct config_err *err)
{
	static const char *const fields[] = { "level", "log_path", "show_level", "show_log_origin",
					      NULL };
	static const char *const unsupported[] = { "module", NULL };
	struct logger_cfg l = { .present = true, .level = LOG_INFO };
	json_t *lv;
	enum log_level level;
	int r;

	if ((r = check_fields(j, pfx, fields, unsupported, err)) < 0)
		return r;
	lv = json_object_get(j, "level");
	if (lv) {
		if (!json_is_string(lv) || log_level_parse(json_string_value(lv), &level) < 0) {
			config_err_set(err,
				"%s.level: must be one of \"Error\", \"Warning\", \"Info\", "
				"\"Debug\", \"Trace\", \"Off\"",
				pfx);
			return -EINVAL;
		}
		l.level = (int)level;
	}
	if ((r = get_bool(j, pfx, "show_level", &l.show_level, err)) < 0)
		return r;
	if ((r = get_bool(j, pfx, "show_log_origin", &l.show_log_origin, err)) < 0)
		return r;
	if ((r = get_str(j, pfx, "log_path", false, CONFIG_PATH_MAX, &l.log_path, err)) < 0)
		return r;
	*out = l;
	return 0;
}

void config_metrics_free(struct metrics_cfg *m)
{
	free(m->metrics_path);
	m->metrics_path = NULL;
}

int config_metrics_parse(json_t *j, const char *pfx, struct metrics_cfg *out,
			 struct config_err *err)
{
	static const char *const fields[] = { "metrics_path", "emit_id", NULL };
	static const char *const unsupported[] = { "properties", NULL };
	struct metrics_cfg m = { .present = true };
	int r;

	if ((r = check_fields(j, pfx, fields, unsupported, err)) < 0)
		return r;
	if ((r = get_bool(j, pfx, "emit_id", &m.emit_id, err)) < 0)
		return r;
	if ((r = get_str(j, pfx, "metrics_path", true, CONFIG_PATH_MAX, &m.metrics_path, err)) < 0)
		return r;
	*out = m;
	return 0;
}

/* ---- the whole document ---- */

void config_free(struct vm_config *cfg)
{
	config_boot_source_free(&cfg->boot_source);
	for (unsigned int i = 0; i < cfg->ndrives && i < CONFIG_MAX_DRIVES; i++)
		config_drive_free(&cfg->drives[i]);
	for (unsigned int i = 0; i < cfg->nnets && i < CONFIG_MAX_NETS; i++)
		config_net_free(&cfg->nets[i]);
	config_vsock_free(&cfg->vsock);
	config_serial_free(&cfg->serial);
	config_logger_free(&cfg->logger);
	config_metrics_free(&cfg->metrics);
	config_init(cfg);
}

static int parse_document(json_t *root, struct vm_config *c, struct config_err *err)
{
	static const char *const sections[] = { "boot-source", "machine-config", "drives",
						"network-interfaces", "vsock", "entropy",
						"serial", "logger", "metrics", NULL };
	static const char *const unsupported[] = { "balloon", "mmds-config", "cpu-config",
						   "pmem", "memory-hotplug", NULL };
	char pfx[48];
	json_t *s, *item;
	size_t i;
	int r;

	if (!json_is_object(root)) {
		config_err_set(err, "configuration: must be a JSON object");
		return -EINVAL;
	}
	if ((r = check_fields(root, "configuration", sections, unsupported, err)) < 0) {
		/* "configuration.balloon: not supported" reads better without the prefix. */
		const char *dot = strchr(err->msg, '.');

		if (dot)
			memmove(err->msg, dot + 1, strlen(dot + 1) + 1);
		return r;
	}
	if ((s = json_object_get(root, "boot-source"))) {
		struct boot_source_cfg b;

		if ((r = config_boot_source_parse(s, "boot-source", &b, err)) < 0)
			return r;
		config_boot_source_apply(c, &b);
	}
	if ((s = json_object_get(root, "machine-config"))) {
		struct machine_cfg m;
		unsigned int f;

		if ((r = config_machine_parse(s, "machine-config", false, &m, &f, err)) < 0)
			return r;
		if ((r = config_machine_apply(c, &m, f, true, "machine-config", err)) < 0)
			return r;
	}
	if ((s = json_object_get(root, "drives"))) {
		if (!json_is_array(s)) {
			config_err_set(err, "drives: must be an array");
			return -EINVAL;
		}
		json_array_foreach(s, i, item) {
			struct drive_cfg d;

			snprintf(pfx, sizeof(pfx), "drives[%zu]", i);
			if ((r = config_drive_parse(item, pfx, &d, err)) < 0)
				return r;
			if (config_find_drive(c, d.drive_id)) {
				config_err_set(err, "%s.drive_id: duplicate id \"%s\"", pfx, d.drive_id);
				config_drive_free(&d);
				return -EINVAL;
			}
			if ((r = config_drive_apply(c, &d, pfx, err)) < 0) {
				config_drive_free(&d);
				return r;
			}
		}
	}
	if ((s = json_object_get(root, "network-interfaces"))) {
		if (!json_is_array(s)) {
			config_err_set(err, "network-interfaces: must be an array");
			return -EINVAL;
		}
		json_array_foreach(s, i, item) {
			struct net_cfg n;

			snprintf(pfx, sizeof(pfx), "network-interfaces[%zu]", i);
			if ((r = config_net_parse(item, pfx, &n, err)) < 0)
				return r;
			if (config_find_net(c, n.iface_id)) {
				config_err_set(err, "%s.iface_id: duplicate id \"%s\"", pfx, n.iface_id);
				config_net_free(&n);
				return -EINVAL;
			}
			if ((r = config_net_apply(c, &n, pfx, err)) < 0) {
				config_net_free(&n);
				return r;
			}
		}
	}
	if ((s = json_object_get(root, "vsock"))) {
		if ((r = config_vsock_parse(s, "vsock", &c->vsock, err)) < 0)
			return r;
	}
	if ((s = json_object_get(root, "entropy"))) {
		if ((r = config_entropy_parse(s, "entropy", &c->entropy, err)) < 0)
			return r;
	}
	if ((s = json_object_get(root, "serial"))) {
		if ((r = config_serial_parse(s, "serial", &c->serial, err)) < 0)
			return r;
	}
	if ((s = json_object_get(root, "logger"))) {
		if ((r = config_logger_parse(s, "logger", &c->logger, err)) < 0)
			return r;
	}
	if ((s = json_object_get(root, "metrics"))) {
		if ((r = config_metrics_parse(s, "metrics", &c->metrics, err)) < 0)
			return r;
	}
	return 0;
}

/*
 * The document is parsed into a fresh configuration that replaces cfg only when all of
 * it is valid, so a half-applied file never reaches the VMM.
 */
int config_parse_string(const char *json, size_t len, struct vm_config *cfg,
			struct config_err *err)
{
	struct vm_config *c;
	json_t *root;
	int r;

	if ((r = config_json_load(json, len, &root, err)) < 0)
		return r;
	c = malloc(sizeof(*c));
	if (!c) {
		json_decref(root);
		config_err_set(err, "out of memory");
		return -ENOMEM;
	}
	config_init(c);
	r = parse_document(root, c, err);
	json_decref(root);
	if (r < 0) {
		config_free(c);
		free(c);
		return r;
	}
	config_free(cfg);
	*cfg = *c;
	free(c);
	return 0;
}

int config_parse_file(const char *path, struct vm_config *cfg, struct config_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	int r;

	r = util_read_file(path, CONFIG_FILE_MAX, &buf, &len);
	if (r < 0) {
		config_err_set(err, "%s: %s", path,
			r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	return config_parse_string(buf, len, cfg, err);
}

/* ---- serialisation ---- */

static json_t *token_bucket_json(const struct token_bucket_cfg *tb)
{
	return json_pack("{s:I,s:I,s:I}", "size", (json_int_t)tb->size, "one_time_burst",
			 (json_int_t)tb->one_time_burst, "refill_time",
			 (json_int_t)tb->refill_time_ms);
}

static json_t *rate_limiter_json(const struct rate_limiter_cfg *rl)
{
	json_t *o = json_object();
	const struct token_bucket_cfg *tb[2] = { &rl->bandwidth, &rl->ops };
	const char *names[2] = { "bandwidth", "ops" };

	for (int i = 0; i < 2; i++) {
		if (!tb[i]->present)
			continue;
		json_object_set_new(o, names[i], token_bucket_json(tb[i]));
	}
	return o;
}

static bool rl_present(const struct rate_limiter_cfg *rl)
{
	return rl->bandwidth.present || rl->ops.present;
}

static json_t *machine_json(const struct machine_cfg *m)
{
	return json_pack("{s:i,s:i,s:b,s:b,s:s}", "vcpu_count", (int)m->vcpu_count, "mem_size_mib",
			 (int)m->mem_size_mib, "smt", m->smt, "track_dirty_pages",
			 m->track_dirty_pages, "huge_pages",
			 huge_pages_names[m->huge_pages <= HUGE_PAGES_2M ? m->huge_pages : 0]);
}

char *config_machine_to_json(const struct machine_cfg *m)
{
	json_t *o = machine_json(m);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static const char *const log_level_names[] = { "Off", "Error", "Warning", "Info", "Debug",
					       "Trace" };

char *config_to_json(const struct vm_config *cfg)
{
	json_t *root = json_object(), *arr;
	char *s;

	if (!root)
		return NULL;
	if (cfg->has_boot_source) {
		json_t *b = json_pack("{s:s}", "kernel_image_path",
				      cfg->boot_source.kernel_image_path);

		if (cfg->boot_source.initrd_path)
			json_object_set_new(b, "initrd_path",
					    json_string(cfg->boot_source.initrd_path));
		if (cfg->boot_source.boot_args)
			json_object_set_new(b, "boot_args", json_string(cfg->boot_source.boot_args));
		json_object_set_new(root, "boot-source", b);
	}
	json_object_set_new(root, "machine-config", machine_json(&cfg->machine));
	arr = json_array();
	for (unsigned int i = 0; i < cfg->ndrives; i++) {
		const struct drive_cfg *d = &cfg->drives[i];
		json_t *o = json_pack("{s:s,s:s,s:b,s:b,s:s,s:s}", "drive_id", d->drive_id,
				      "path_on_host", d->path_on_host, "is_root_device",
				      d->is_root_device, "is_read_only", d->is_read_only,
				      "cache_type", cache_type_names[d->cache_type ? 1 : 0],
				      "io_engine", io_engine_names[d->io_engine ? 1 : 0]);

		if (d->partuuid)
			json_object_set_new(o, "partuuid", json_string(d->partuuid));
		if (rl_present(&d->rate_limiter))
			json_object_set_new(o, "rate_limiter", rate_limiter_json(&d->rate_limiter));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "drives", arr);
	arr = json_array();
	for (unsigned int i = 0; i < cfg->nnets; i++) {
		const struct net_cfg *n = &cfg->nets[i];
		json_t *o = json_pack("{s:s,s:s}", "iface_id", n->iface_id, "host_dev_name",
				      n->host_dev_name);
		char mac[18];

		if (n->has_guest_mac) {
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->guest_mac[0],
				 n->guest_mac[1], n->guest_mac[2], n->guest_mac[3], n->guest_mac[4],
				 n->guest_mac[5]);
			json_object_set_new(o, "guest_mac", json_string(mac));
		}
		if (n->mtu)
			json_object_set_new(o, "mtu", json_integer(n->mtu));
		if (rl_present(&n->rx_rate_limiter))
			json_object_set_new(o, "rx_rate_limiter",
					    rate_limiter_json(&n->rx_rate_limiter));
		if (rl_present(&n->tx_rate_limiter))
			json_object_set_new(o, "tx_rate_limiter",
					    rate_limiter_json(&n->tx_rate_limiter));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "network-interfaces", arr);
	if (cfg->vsock.present)
		json_object_set_new(root, "vsock",
				    json_pack("{s:I,s:s}", "guest_cid",
					      (json_int_t)cfg->vsock.guest_cid, "uds_path",
					      cfg->vsock.uds_path));
	if (cfg->entropy.present) {
		json_t *e = json_object();

		if (rl_present(&cfg->entropy.rate_limiter))
			json_object_set_new(e, "rate_limiter",
					    rate_limiter_json(&cfg->entropy.rate_limiter));
		json_object_set_new(root, "entropy", e);
	}
	if (cfg->serial.present) {
		json_t *o = json_object();

		if (cfg->serial.serial_out_path)
			json_object_set_new(o, "serial_out_path",
					    json_string(cfg->serial.serial_out_path));
		if (cfg->serial.rate_limiter.present)
			json_object_set_new(o, "rate_limiter",
					    token_bucket_json(&cfg->serial.rate_limiter));
		json_object_set_new(root, "serial", o);
	}
	if (cfg->logger.present) {
		int lv = cfg->logger.level;
		json_t *l = json_pack("{s:s,s:b,s:b}", "level",
				      log_level_names[lv >= 0 && lv <= LOG_TRACE ? lv : LOG_INFO],
				      "show_level", cfg->logger.show_level, "show_log_origin",
				      cfg->logger.show_log_origin);

		if (cfg->logger.log_path)
			json_object_set_new(l, "log_path", json_string(cfg->logger.log_path));
		json_object_set_new(root, "logger", l);
	}
	if (cfg->metrics.present)
		json_object_set_new(root, "metrics",
				    json_pack("{s:s,s:b}", "metrics_path", cfg->metrics.metrics_path,
					      "emit_id", cfg->metrics.emit_id));
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return s;
}
