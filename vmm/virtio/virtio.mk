# virtio-mmio transport, split virtqueues, virtio-blk and the rate limiter.
VMM_LIB_SRCS += \
	vmm/virtio/queue.c \
	vmm/virtio/mmio.c \
	vmm/virtio/blk.c \
	vmm/rate_limiter.c

VIRTIO_UNIT_TESTS := \
	$(O)/tests/unit/test_virtq \
	$(O)/tests/unit/test_virtio_mmio \
	$(O)/tests/unit/test_blk \
	$(O)/tests/unit/test_rate_limiter
UNIT_TESTS += $(VIRTIO_UNIT_TESTS)

# tests/tests.mk names the libraries through TEST_LINK_DEPS, which is still empty when
# its rule is read; depend on them here so a library change relinks these tests.
$(VIRTIO_UNIT_TESTS): $(O)/libvmm.a $(O)/libapi.a

# Fuzzing the chain walker and the blk request path (tests/fuzz/fuzz_virtq.c).
# The replay build runs the seed corpus as part of the unit tests; `make fuzz-virtq`
# builds the libFuzzer binary with clang and fuzzes for FUZZ_TIME seconds, writing new
# inputs to build/fuzz/corpus-virtq (the committed seeds stay as they are).
FUZZ_VIRTQ_SRCS := vmm/util.c vmm/log.c vmm/memory.c vmm/eventloop.c vmm/virtio/queue.c \
	vmm/virtio/mmio.c vmm/virtio/blk.c vmm/rate_limiter.c vmm/config.c
FUZZ_TIME ?= 60
FUZZ_CC ?= clang

$(O)/tests/fuzz/fuzz_virtq_replay: tests/fuzz/fuzz_virtq.c tests/fuzz/replay.c $(O)/libvmm.a $(O)/libapi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_REPLAY $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(O)/libvmm.a $(LIBS)

FUZZ_TARGETS += $(O)/tests/fuzz/fuzz_virtq_replay
UNIT_TESTS += $(O)/tests/fuzz/fuzz_virtq_replay

build/fuzz/fuzz_virtq: tests/fuzz/fuzz_virtq.c $(FUZZ_VIRTQ_SRCS) $(wildcard vmm/*.h vmm/virtio/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
		-o $@ tests/fuzz/fuzz_virtq.c $(FUZZ_VIRTQ_SRCS) -ljansson -luring -lpthread

.PHONY: fuzz-virtq
fuzz-virtq: build/fuzz/fuzz_virtq
	@mkdir -p build/fuzz/corpus-virtq
	build/fuzz/fuzz_virtq -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 \
		build/fuzz/corpus-virtq tests/fuzz/corpus/virtq

# bench/blk_bench.c: device vs host-file throughput, both engines, activation time.
$(O)/bench/blk_bench: bench/blk_bench.c $(O)/libvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/libvmm.a $(LIBS)

.PHONY: bench-blk
bench-blk: $(O)/bench/blk_bench
	$(O)/bench/blk_bench

# virtio-rng (PUT /entropy).
VMM_LIB_SRCS += vmm/virtio/rng.c
UNIT_TESTS += $(O)/tests/unit/test_rng

# virtio-net with the userspace TAP backend.
VMM_LIB_SRCS += vmm/virtio/net.c vmm/virtio/net_vhost.c vmm/virtio/vhost.c vmm/net/tap.c
NET_UNIT_TESTS := $(O)/tests/unit/test_net
UNIT_TESTS += $(NET_UNIT_TESTS)
$(NET_UNIT_TESTS): $(O)/libvmm.a $(O)/libapi.a

# `make bench-net`: the userspace backend's frame rates on this host, fake guest and real
# TAP in a fresh network namespace, against writing the TAP directly (needs root).
$(O)/tests/unit/test_net_bench: tests/unit/test_net.c $(O)/tests/unit/test_main.o $(O)/libvmm.a $(O)/libapi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DNET_BENCH $(LDFLAGS) -o $@ $< $(O)/tests/unit/test_main.o $(O)/libapi.a \
		$(O)/libvmm.a $(LIBS)

.PHONY: bench-net
bench-net: $(O)/tests/unit/test_net_bench
	$(O)/tests/unit/test_net_bench bench

# virtio-vsock: userspace Unix-socket backend (Firecracker's hybrid design) and the
# vhost-vsock backend with its uds_path <-> AF_VSOCK bridge (vhost.c is shared with net).
VMM_LIB_SRCS += vmm/virtio/vsock.c vmm/virtio/vsock_bridge.c
VSOCK_UNIT_TESTS := $(O)/tests/unit/test_vsock
UNIT_TESTS += $(VSOCK_UNIT_TESTS)
$(VSOCK_UNIT_TESTS): $(O)/libvmm.a $(O)/libapi.a

# Fuzzing the CONNECT parser and the guest TX/RX packet paths (tests/fuzz/fuzz_vsock.c);
# the replay build runs tests/fuzz/corpus/vsock with the unit tests.
FUZZ_VSOCK_SRCS := vmm/util.c vmm/log.c vmm/memory.c vmm/eventloop.c vmm/virtio/queue.c \
	vmm/virtio/mmio.c vmm/virtio/vsock.c vmm/virtio/vsock_bridge.c vmm/virtio/vhost.c \
	vmm/config.c

$(O)/tests/fuzz/fuzz_vsock_replay: tests/fuzz/fuzz_vsock.c tests/fuzz/replay.c $(O)/libvmm.a $(O)/libapi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_REPLAY $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(O)/libvmm.a $(LIBS)

FUZZ_TARGETS += $(O)/tests/fuzz/fuzz_vsock_replay
UNIT_TESTS += $(O)/tests/fuzz/fuzz_vsock_replay

build/fuzz/fuzz_vsock: tests/fuzz/fuzz_vsock.c $(FUZZ_VSOCK_SRCS) $(wildcard vmm/*.h vmm/virtio/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
		-o $@ tests/fuzz/fuzz_vsock.c $(FUZZ_VSOCK_SRCS) -ljansson -luring -lpthread

.PHONY: fuzz-vsock
fuzz-vsock: build/fuzz/fuzz_vsock
	@mkdir -p build/fuzz/corpus-vsock
	build/fuzz/fuzz_vsock -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 \
		build/fuzz/corpus-vsock tests/fuzz/corpus/vsock

# `make bench-vsock`: vsock throughput both ways, userspace backend and vhost-vsock (uds_path
# bridge and AF_VSOCK), with the test guest inside tests/kvmhost's L1 (nested KVM).
.PHONY: bench-vsock
bench-vsock: $(O)/bin/vmm testguest
	tests/kvmhost/run.sh --timeout 600 -- $(CURDIR)/tests/integration/bench_vsock.sh
