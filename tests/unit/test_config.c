// SPDX-License-Identifier: Apache-2.0
/* The configuration parsers: valid documents, and invalid ones refused naming the field. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/config.h"

static int parse(const char *doc, struct vm_config *cfg, struct config_err *err)
{
	err->msg[0] = '\0';
	return config_parse_string(doc, strlen(doc), cfg, err);
}

static int load(const char *s, json_t **j, struct config_err *err)
{
	return config_json_load(s, strlen(s), j, err);
}

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"

TEST(defaults)
{
	struct vm_config c;

	config_init(&c);
	CHECK_EQ(c.machine.vcpu_count, 1);
	CHECK_EQ(c.machine.mem_size_mib, 128);
	CHECK(!c.has_boot_source);
	config_free(&c);
}

TEST(full_document)
{
	static const char doc[] =
		"{\"boot-source\": {\"kernel_image_path\": \"/img/vmlinux\", \"initrd_path\": "
		"\"/img/initrd\", \"boot_args\": \"console=ttyS0\"},"
		"\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true,"
		" \"track_dirty_pages\": false, \"huge_pages\": \"2M\", \"cpu_template\": \"None\"},"
		"\"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/img/root.ext4\","
		" \"is_root_device\": true, \"is_read_only\": false, \"partuuid\": \"abc\","
		" \"cache_type\": \"Writeback\", \"io_engine\": \"Async\", \"rate_limiter\":"
		" {\"bandwidth\": {\"size\": 1000, \"refill_time\": 100, \"one_time_burst\": 5},"
		" \"ops\": {\"size\": 10, \"refill_time\": 1000}}},"
		" {\"drive_id\": \"data_1\", \"path_on_host\": \"/img/d\", \"is_root_device\": false}],"
		"\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
		" \"guest_mac\": \"06:00:AC:10:00:02\", \"mtu\": 1500,"
		" \"rx_rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 1}}}],"
		"\"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"},"
		"\"entropy\": {},"
		"\"serial\": {\"serial_out_path\": \"/tmp/console\", \"rate_limiter\":"
		" {\"size\": 4096, \"refill_time\": 1000, \"one_time_burst\": 65536}},"
		"\"logger\": {\"level\": \"debug\", \"show_level\": true},"
		"\"metrics\": {\"metrics_path\": \"/tmp/m\"}}";
	struct config_err err;
	struct vm_config c;

	config_init(&c);
	CHECK_EQ(parse(doc, &c, &err), 0);
	CHECK(c.has_boot_source);
	CHECK_STR(c.boot_source.kernel_image_path, "/img/vmlinux");
	CHECK_STR(c.boot_source.initrd_path, "/img/initrd");
	CHECK_STR(c.boot_source.boot_args, "console=ttyS0");
	CHECK_EQ(c.machine.vcpu_count, 2);
	CHECK_EQ(c.machine.mem_size_mib, 256);
	CHECK(c.machine.smt);
	CHECK_EQ(c.machine.huge_pages, HUGE_PAGES_2M);
	CHECK_EQ(c.ndrives, 2);
	CHECK_STR(c.drives[0].drive_id, "rootfs");
	CHECK(c.drives[0].is_root_device);
	CHECK_EQ(c.drives[0].cache_type, CACHE_WRITEBACK);
	CHECK_EQ(c.drives[0].io_engine, IO_ENGINE_ASYNC);
	CHECK(c.drives[0].rate_limiter.bandwidth.present);
	CHECK_EQ(c.drives[0].rate_limiter.bandwidth.size, 1000);
	CHECK_EQ(c.drives[0].rate_limiter.bandwidth.one_time_burst, 5);
	CHECK_EQ(c.drives[0].rate_limiter.ops.refill_time_ms, 1000);
	CHECK(!c.drives[1].is_read_only);
	CHECK_EQ(c.nnets, 1);
	CHECK(c.nets[0].has_guest_mac);
	CHECK_EQ(c.nets[0].guest_mac[2], 0xac);
	CHECK_EQ(c.nets[0].mtu, 1500);
	CHECK(c.nets[0].rx_rate_limiter.ops.present);
	CHECK(!c.nets[0].tx_rate_limiter.ops.present);
	CHECK(c.vsock.present);
	CHECK_EQ(c.vsock.guest_cid, 3);
	CHECK(c.entropy.present);
	CHECK(c.serial.present);
	CHECK_STR(c.serial.serial_out_path, "/tmp/console");
	CHECK(c.serial.rate_limiter.present);
	CHECK_EQ(c.serial.rate_limiter.size, 4096);
	CHECK_EQ(c.serial.rate_limiter.refill_time_ms, 1000);
	CHECK_EQ(c.serial.rate_limiter.one_time_burst, 65536);
	CHECK(c.logger.present);
	CHECK_EQ(c.logger.level, 4);
	CHECK(c.metrics.present);
	config_free(&c);
}

TEST(roundtrip_to_json)
{
	static const char doc[] =
		"{" BOOT ", \"machine-config\": {\"vcpu_count\": 4, \"mem_size_mib\": 512},"
		"\"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"/r\", \"is_root_device\": "
		"true, \"rate_limiter\": {\"ops\": {\"size\": 7, \"refill_time\": 9}}}],"
		"\"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": \"tap1\","
		" \"guest_mac\": \"02:00:00:00:00:01\"}], \"vsock\": {\"guest_cid\": 9,"
		" \"uds_path\": \"/v\"}, \"entropy\": {}, \"serial\": {\"serial_out_path\": \"/s\","
		" \"rate_limiter\": {\"size\": 10, \"refill_time\": 20}}}";
	struct config_err err;
	struct vm_config a, b;
	char *j1, *j2;

	config_init(&a);
	config_init(&b);
	CHECK_EQ(parse(doc, &a, &err), 0);
	j1 = config_to_json(&a);
	CHECK(j1);
	/* What GET /vm/config returns must be accepted as a config file, unchanged. */
	CHECK_EQ(parse(j1, &b, &err), 0);
	j2 = config_to_json(&b);
	CHECK(j2);
	CHECK_STR(j1, j2);
	CHECK(strstr(j1, "\"guest_mac\":\"02:00:00:00:00:01\""));
	CHECK(strstr(j1, "\"vcpu_count\":4"));
	CHECK(strstr(j1, "\"serial\":{\"serial_out_path\":\"/s\",\"rate_limiter\":{\"size\":10,"
		     "\"one_time_burst\":0,\"refill_time\":20}}"));
	free(j1);
	free(j2);
	config_free(&a);
	config_free(&b);
}

struct bad_case {
	const char *doc;
	const char *msg; /* substring expected in the error */
};

static const struct bad_case bad_cases[] = {
	{ "", "invalid JSON" },
	{ "{", "invalid JSON" },
	{ "[]", "must be a JSON object" },
	{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"boot-source\": {}}", "duplicate" },
	{ "{\"bogus\": 1}", "bogus: unknown field" },
	{ "{\"balloon\": {}}", "balloon: not supported" },
	{ "{\"mmds-config\": {}}", "mmds-config: not supported" },
	{ "{\"cpu-config\": {}}", "cpu-config: not supported" },
	{ "{\"pmem\": []}", "pmem: not supported" },
	{ "{\"memory-hotplug\": {}}", "memory-hotplug: not supported" },
	/* boot-source */
	{ "{\"boot-source\": {}}", "boot-source.kernel_image_path: missing required field" },
	{ "{\"boot-source\": {\"kernel_image_path\": 5}}",
	  "boot-source.kernel_image_path: must be a string" },
	{ "{\"boot-source\": {\"kernel_image_path\": \"\"}}",
	  "boot-source.kernel_image_path: must not be empty" },
	{ "{\"boot-source\": {\"kernel_image_path\": \"/a\\u0000b\"}}", "invalid JSON" },
	{ "{\"boot-source\": {\"kernel_image_path\": \"/k\", \"x\": 1}}",
	  "boot-source.x: unknown field" },
	{ "{\"boot-source\": {\"kernel_image_path\": \"/k\", \"initrd_path\": null}}",
	  "boot-source.initrd_path: must be a string" },
	{ "{\"boot-source\": []}", "boot-source: must be a JSON object" },
	/* machine-config */
	{ "{\"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 128}}",
	  "machine-config.vcpu_count: must be between 1 and 32" },
	{ "{\"machine-config\": {\"vcpu_count\": 33, \"mem_size_mib\": 128}}",
	  "machine-config.vcpu_count: must be between 1 and 32" },
	{ "{\"machine-config\": {\"vcpu_count\": -1, \"mem_size_mib\": 128}}",
	  "machine-config.vcpu_count: must be between 1 and 32" },
	{ "{\"machine-config\": {\"vcpu_count\": 1.5, \"mem_size_mib\": 128}}",
	  "machine-config.vcpu_count: must be an integer" },
	{ "{\"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": 128}}",
	  "machine-config.vcpu_count: must be an integer" },
	{ "{\"machine-config\": {\"vcpu_count\": 99999999999999999999, \"mem_size_mib\": 1}}",
	  "invalid JSON" },
	{ "{\"machine-config\": {\"mem_size_mib\": 128}}",
	  "machine-config.vcpu_count: missing required field" },
	{ "{\"machine-config\": {\"vcpu_count\": 1}}",
	  "machine-config.mem_size_mib: missing required field" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 0}}",
	  "machine-config.mem_size_mib: must be between 1 and" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 999999999}}",
	  "machine-config.mem_size_mib: must be between 1 and" },
	{ "{\"machine-config\": {\"vcpu_count\": 3, \"mem_size_mib\": 128, \"smt\": true}}",
	  "machine-config.vcpu_count: must be 1 or an even number" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 127, \"huge_pages\": \"2M\"}}",
	  "machine-config.mem_size_mib: must be a multiple of 2" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"1G\"}}",
	  "machine-config.huge_pages: must be one of" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"smt\": 1}}",
	  "machine-config.smt: must be a boolean" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"cpu_template\": \"T2\"}}",
	  "machine-config.cpu_template: not supported" },
	{ "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"vcpus\": 1}}",
	  "machine-config.vcpus: unknown field" },
	/* drives */
	{ "{\"drives\": {}}", "drives: must be an array" },
	{ "{\"drives\": [1]}", "drives[0]: must be a JSON object" },
	{ "{\"drives\": [{\"path_on_host\": \"/a\", \"is_root_device\": true}]}",
	  "drives[0].drive_id: missing required field" },
	{ "{\"drives\": [{\"drive_id\": \"a-b\", \"path_on_host\": \"/a\", \"is_root_device\": true}]}",
	  "drives[0].drive_id: must be 1 to 64 characters" },
	{ "{\"drives\": [{\"drive_id\": \"\", \"path_on_host\": \"/a\", \"is_root_device\": true}]}",
	  "drives[0].drive_id: must be 1 to 64 characters" },
	{ "{\"drives\": [{\"drive_id\": "
	  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"path_on_host\": "
	  "\"/a\", \"is_root_device\": true}]}",
	  "drives[0].drive_id: must be 1 to 64 characters" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\"}]}",
	  "drives[0].is_root_device: missing required field" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"is_root_device\": true}]}",
	  "drives[0].path_on_host: missing required field" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true,"
	  " \"socket\": \"/s\"}]}",
	  "drives[0].socket: not supported" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true},"
	  " {\"drive_id\": \"a\", \"path_on_host\": \"/b\", \"is_root_device\": false}]}",
	  "drives[1].drive_id: duplicate id" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true},"
	  " {\"drive_id\": \"b\", \"path_on_host\": \"/b\", \"is_root_device\": true}]}",
	  "drives[1].is_root_device: drive \"a\" is already the root device" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true,"
	  " \"cache_type\": \"None\"}]}",
	  "drives[0].cache_type: must be one of" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true,"
	  " \"io_engine\": \"sync\"}]}",
	  "drives[0].io_engine: must be one of" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true,"
	  " \"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}]}",
	  "drives[0].rate_limiter.bandwidth.refill_time: missing required field" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true,"
	  " \"rate_limiter\": {\"ops\": {\"size\": -1, \"refill_time\": 1}}}]}",
	  "drives[0].rate_limiter.ops.size: must be between 0 and" },
	{ "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": true,"
	  " \"rate_limiter\": {\"iops\": {}}}]}",
	  "drives[0].rate_limiter.iops: unknown field" },
	/* network interfaces */
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\"}]}",
	  "network-interfaces[0].host_dev_name: missing required field" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\","
	  " \"guest_mac\": \"06:00:00:00:00\"}]}",
	  "network-interfaces[0].guest_mac: must be a MAC address" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\","
	  " \"guest_mac\": \"06:00:00:00:00:0g\"}]}",
	  "network-interfaces[0].guest_mac: must be a MAC address" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\","
	  " \"guest_mac\": \"06-00-00-00-00-01\"}]}",
	  "network-interfaces[0].guest_mac: must be a MAC address" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\","
	  " \"guest_mac\": \"01:00:00:00:00:01\"}]}",
	  "network-interfaces[0].guest_mac: must be a unicast address" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\","
	  " \"mtu\": 67}]}",
	  "network-interfaces[0].mtu: must be between 68 and 65535" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": "
	  "\"averyveryverylongname\"}]}",
	  "network-interfaces[0].host_dev_name: longer than 15 bytes" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\"},"
	  " {\"iface_id\": \"e\", \"host_dev_name\": \"tap1\"}]}",
	  "network-interfaces[1].iface_id: duplicate id" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\"},"
	  " {\"iface_id\": \"f\", \"host_dev_name\": \"tap0\"}]}",
	  "network-interfaces[1].host_dev_name: already used" },
	{ "{\"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\","
	  " \"guest_mac\": \"06:00:00:00:00:01\"}, {\"iface_id\": \"f\", \"host_dev_name\": \"tap1\","
	  " \"guest_mac\": \"06:00:00:00:00:01\"}]}",
	  "network-interfaces[1].guest_mac: already used" },
	/* vsock, entropy, logger, metrics */
	{ "{\"vsock\": {\"guest_cid\": 2, \"uds_path\": \"/v\"}}", "vsock.guest_cid: must be between 3" },
	{ "{\"vsock\": {\"guest_cid\": 3}}", "vsock.uds_path: missing required field" },
	{ "{\"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}",
	  "vsock.uds_path: longer than 107 bytes" },
	{ "{\"entropy\": {\"rate_limiter\": 1}}", "entropy.rate_limiter: must be a JSON object" },
	{ "{\"entropy\": {\"foo\": 1}}", "entropy.foo: unknown field" },
	{ "{\"logger\": {\"level\": \"Loud\"}}", "logger.level: must be one of" },
	{ "{\"logger\": {\"module\": \"x\"}}", "logger.module: not supported" },
	{ "{\"logger\": {\"show_level\": \"yes\"}}", "logger.show_level: must be a boolean" },
	{ "{\"metrics\": {}}", "metrics.metrics_path: missing required field" },
	{ "{\"metrics\": {\"metrics_path\": \"/m\", \"properties\": {}}}",
	  "metrics.properties: not supported" },
	/* serial: the rate limiter is a bare TokenBucket, not a RateLimiter */
	{ "{\"serial\": []}", "serial: must be a JSON object" },
	{ "{\"serial\": {\"out_path\": \"/s\"}}", "serial.out_path: unknown field" },
	{ "{\"serial\": {\"serial_out_path\": 5}}", "serial.serial_out_path: must be a string" },
	{ "{\"serial\": {\"serial_out_path\": \"\"}}", "serial.serial_out_path: must not be empty" },
	{ "{\"serial\": {\"serial_out_path\": null}}", "serial.serial_out_path: must be a string" },
	{ "{\"serial\": {\"rate_limiter\": 1}}", "serial.rate_limiter: must be a JSON object" },
	{ "{\"serial\": {\"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}}",
	  "serial.rate_limiter.bandwidth: unknown field" },
	{ "{\"serial\": {\"rate_limiter\": {\"size\": 100}}}",
	  "serial.rate_limiter.refill_time: missing required field" },
	{ "{\"serial\": {\"rate_limiter\": {\"refill_time\": 100}}}",
	  "serial.rate_limiter.size: missing required field" },
	{ "{\"serial\": {\"rate_limiter\": {\"size\": -1, \"refill_time\": 100}}}",
	  "serial.rate_limiter.size: must be between 0 and" },
	{ "{\"serial\": {\"rate_limiter\": {\"size\": 1, \"refill_time\": 1.5}}}",
	  "serial.rate_limiter.refill_time: must be an integer" },
	{ "{\"serial\": {\"rate_limiter\": {\"size\": 1, \"refill_time\": 1,"
	  " \"one_time_burst\": \"9\"}}}",
	  "serial.rate_limiter.one_time_burst: must be an integer" },
	{ "{\"serial\": {\"serial_out_path\": \"/s\", \"serial_out_path\": \"/t\"}}",
	  "duplicate" },
};

TEST(invalid_documents)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct config_err err;
		struct vm_config c;
		int r;

		config_init(&c);
		r = parse(bad_cases[i].doc, &c, &err);
		if (r != -EINVAL || !strstr(err.msg, bad_cases[i].msg)) {
			fprintf(stderr, "  case %zu: %s\n    got %d \"%s\", want \"%s\"\n", i,
				bad_cases[i].doc, r, err.msg, bad_cases[i].msg);
			test_failed_now = 1;
		}
		/* Untouched on error. */
		if (c.has_boot_source || c.ndrives || c.nnets || c.machine.vcpu_count != 1) {
			fprintf(stderr, "  case %zu: config modified on error\n", i);
			test_failed_now = 1;
		}
		config_free(&c);
	}
}

TEST(error_leaves_config_unchanged)
{
	struct config_err err;
	struct vm_config c;

	config_init(&c);
	CHECK_EQ(parse("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64}}",
		       &c, &err),
		 0);
	CHECK_EQ(parse("{" BOOT ", \"machine-config\": {\"vcpu_count\": 40, \"mem_size_mib\": 64}}",
		       &c, &err),
		 -EINVAL);
	CHECK_EQ(c.machine.vcpu_count, 2);
	CHECK_STR(c.boot_source.kernel_image_path, "/k");
	config_free(&c);
}

TEST(valid_edge_values)
{
	static const char *const docs[] = {
		"{}",
		"{\"machine-config\": {\"vcpu_count\": 32, \"mem_size_mib\": 1}}",
		"{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"smt\": true}}",
		"{\"machine-config\": {\"vcpu_count\": 32, \"mem_size_mib\": 262144, \"smt\": true}}",
		"{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"\"}}",
		"{\"drives\": []}",
		"{\"drives\": [{\"drive_id\": "
		"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
		"\"path_on_host\": \"/a\", \"is_root_device\": false}]}",
		"{\"network-interfaces\": [{\"iface_id\": \"A_9\", \"host_dev_name\": \"tap0\","
		" \"mtu\": 65535}]}",
		"{\"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/v\", \"vsock_id\": \"old\"}}",
		"{\"logger\": {\"level\": \"Off\"}}",
		"{\"logger\": {\"level\": \"WARNING\", \"log_path\": \"/tmp/l\"}}",
		"{\"metrics\": {\"metrics_path\": \"/m\", \"emit_id\": true}}",
		"{\"serial\": {}}",
		"{\"serial\": {\"rate_limiter\": {\"size\": 0, \"refill_time\": 0}}}",
		"{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"is_root_device\": "
		"false, \"rate_limiter\": {}}]}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct config_err err;
		struct vm_config c;

		config_init(&c);
		if (parse(docs[i], &c, &err)) {
			fprintf(stderr, "  doc %zu refused: %s\n", i, err.msg);
			test_failed_now = 1;
		}
		config_free(&c);
	}
}

TEST(too_many_drives)
{
	char doc[8192] = "{\"drives\": [";
	struct config_err err;
	struct vm_config c;

	for (int i = 0; i <= CONFIG_MAX_DRIVES; i++) {
		size_t l = strlen(doc);

		snprintf(doc + l, sizeof(doc) - l,
			 "%s{\"drive_id\": \"d%d\", \"path_on_host\": \"/d\", \"is_root_device\": "
			 "false}",
			 i ? "," : "", i);
	}
	strcat(doc, "]}");
	config_init(&c);
	CHECK_EQ(parse(doc, &c, &err), -EINVAL);
	CHECK(strstr(err.msg, "at most 16 drives"));
	config_free(&c);
}

TEST(machine_patch_semantics)
{
	struct config_err err = { "" };
	struct machine_cfg m;
	struct vm_config c;
	unsigned int f;
	json_t *j;

	config_init(&c);
	CHECK_EQ(load("{\"vcpu_count\": 4, \"mem_size_mib\": 64, \"smt\": true}", &j, &err),
		 0);
	CHECK_EQ(config_machine_parse(j, "machine-config", false, &m, &f, &err), 0);
	json_decref(j);
	CHECK_EQ(config_machine_apply(&c, &m, f, true, "machine-config", &err), 0);
	/* PATCH to an odd count with SMT on is refused as a whole. */
	CHECK_EQ(load("{\"vcpu_count\": 3}", &j, &err), 0);
	CHECK_EQ(config_machine_parse(j, "machine-config", true, &m, &f, &err), 0);
	json_decref(j);
	CHECK_EQ(f, MACHINE_F_VCPU);
	CHECK_EQ(config_machine_apply(&c, &m, f, false, "machine-config", &err), -EINVAL);
	CHECK_EQ(c.machine.vcpu_count, 4);
	/* PATCH memory only keeps the rest. */
	CHECK_EQ(load("{\"mem_size_mib\": 512}", &j, &err), 0);
	CHECK_EQ(config_machine_parse(j, "machine-config", true, &m, &f, &err), 0);
	json_decref(j);
	CHECK_EQ(config_machine_apply(&c, &m, f, false, "machine-config", &err), 0);
	CHECK_EQ(c.machine.vcpu_count, 4);
	CHECK_EQ(c.machine.mem_size_mib, 512);
	CHECK(c.machine.smt);
	/* PUT resets what it does not name. */
	CHECK_EQ(load("{\"vcpu_count\": 1, \"mem_size_mib\": 32}", &j, &err), 0);
	CHECK_EQ(config_machine_parse(j, "machine-config", false, &m, &f, &err), 0);
	json_decref(j);
	CHECK_EQ(config_machine_apply(&c, &m, f, true, "machine-config", &err), 0);
	CHECK(!c.machine.smt);
	config_free(&c);
}

TEST(drive_replace_keeps_single_root)
{
	struct config_err err = { "" };
	struct drive_cfg d;
	struct vm_config c;
	json_t *j;

	config_init(&c);
	CHECK_EQ(load("{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
				  "\"is_root_device\": true}", &j, &err),
		 0);
	CHECK_EQ(config_drive_parse(j, "drive", &d, &err), 0);
	json_decref(j);
	CHECK_EQ(config_drive_apply(&c, &d, "drive", &err), 0);
	/* Replacing the root drive itself with a root drive is fine. */
	CHECK_EQ(load("{\"drive_id\": \"a\", \"path_on_host\": \"/b\", "
				  "\"is_root_device\": true}", &j, &err),
		 0);
	CHECK_EQ(config_drive_parse(j, "drive", &d, &err), 0);
	json_decref(j);
	CHECK_EQ(config_drive_apply(&c, &d, "drive", &err), 0);
	CHECK_EQ(c.ndrives, 1);
	CHECK_STR(c.drives[0].path_on_host, "/b");
	config_free(&c);
}

TEST(parse_file)
{
	char path[] = "/tmp/test_config_XXXXXX";
	static const char doc[] = "{" BOOT "}";
	struct config_err err = { "" };
	struct vm_config c;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, doc, sizeof(doc) - 1), (long)sizeof(doc) - 1);
	close(fd);
	config_init(&c);
	CHECK_EQ(config_parse_file(path, &c, &err), 0);
	CHECK_STR(c.boot_source.kernel_image_path, "/k");
	unlink(path);
	CHECK(config_parse_file(path, &c, &err) < 0);
	CHECK(strstr(err.msg, path));
	config_free(&c);
}

TEST(id_rule)
{
	CHECK(config_id_valid("rootfs"));
	CHECK(config_id_valid("A_b_9"));
	CHECK(!config_id_valid(""));
	CHECK(!config_id_valid("a-b"));
	CHECK(!config_id_valid("a b"));
	CHECK(!config_id_valid("a/b"));
	CHECK(!config_id_valid("é"));
}
