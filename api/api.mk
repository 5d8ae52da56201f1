# The REST API server and the configuration parsers it shares with --config-file.
# Limits and threading: api/http.h and api/api.h.
API_SRCS += \
	api/http.c \
	api/routes.c \
	api/server.c

# The configuration parsers and metrics live in libvmm: the VMM core uses them without the API.
VMM_LIB_SRCS += \
	vmm/config.c \
	vmm/metrics.c
# The "net", "net_<iface_id>" and "vsock" groups, read from the devices (libvmm only: the
# API fuzzer links metrics.c without any device).
VMM_LIB_SRCS += vmm/metrics_dev.c
UNIT_TESTS += $(O)/tests/unit/test_metrics
$(O)/tests/unit/test_metrics: $(O)/libapi.a $(O)/libvmm.a

UNIT_TESTS += \
	$(O)/tests/unit/test_config \
	$(O)/tests/unit/test_http \
	$(O)/tests/unit/test_api_server

# The pattern rule in tests/tests.mk names TEST_LINK_DEPS before the top Makefile sets it,
# so relinking on a library change is spelled out here for these tests.
API_TEST_BINS := $(O)/tests/unit/test_config $(O)/tests/unit/test_http \
	$(O)/tests/unit/test_api_server
$(API_TEST_BINS): $(O)/libapi.a $(O)/libvmm.a

# Fuzzing the API from raw bytes (tests/fuzz/fuzz_api.c).
#   make fuzz-api          libFuzzer build (clang) into build/fuzz, run for FUZZ_TIME seconds
#   make fuzz-api-replay   the same harness as a plain program over the seed corpus
FUZZ_API_SRCS := tests/fuzz/fuzz_api.c api/http.c api/routes.c vmm/config.c vmm/metrics.c \
	vmm/log.c vmm/util.c
FUZZ_API_CORPUS := tests/fuzz/corpus/api
FUZZ_TIME ?= 60
FUZZ_TARGETS += $(O)/tests/fuzz/fuzz_api_replay
# The replay of the seeds runs with the unit tests.
UNIT_TESTS += $(O)/tests/fuzz/fuzz_api_replay

$(O)/tests/fuzz/fuzz_api_replay.o: tests/fuzz/fuzz_api.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_REPLAY_MAIN -MMD -MP -c $< -o $@

$(O)/tests/fuzz/fuzz_api_replay: $(O)/tests/fuzz/fuzz_api_replay.o $(API_LIB) $(VMM_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

.PHONY: fuzz-api-replay
fuzz-api-replay: $(O)/tests/fuzz/fuzz_api_replay
	$< $(FUZZ_API_CORPUS)

build/fuzz/fuzz_api: $(FUZZ_API_SRCS) $(wildcard api/*.h vmm/*.h)
	@mkdir -p $(dir $@)
	clang $(filter-out -fstack-protector-strong,$(BASE_CFLAGS)) -O1 -g \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $(FUZZ_API_SRCS) -ljansson -lpthread

.PHONY: fuzz-api
fuzz-api: build/fuzz/fuzz_api
	@mkdir -p build/fuzz/corpus-api
	build/fuzz/fuzz_api -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -max_len=16384 \
		build/fuzz/corpus-api $(FUZZ_API_CORPUS)

# Latency of configuration requests under 100 concurrent clients, and process start to
# the API socket accepting connections (bench/api_latency.c).
$(O)/bench/api_latency: $(O)/bench/api_latency.o $(API_LIB) $(VMM_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

.PHONY: bench-api
bench-api: $(O)/bench/api_latency $(BINS)
	$(O)/bench/api_latency $(firstword $(filter %/vmm,$(BINS)))
