# Benchmarks. `make bench` prints figures (not pass/fail); bench/run.sh says what each
# figure measures, where it was measured (direct or nested KVM) and how to rerun it. The
# component benchmarks keep their own targets: bench-blk, bench-net and bench-vsock
# (vmm/virtio/virtio.mk), bench-api (api/api.mk), bench-jailer (jailer/jailer.mk); make
# bench runs them too.

BENCH_HOSTIO := $(O)/bench/hostio

# Host-side I/O with the test guest's bench-blk pattern (the ratio's denominator).
$(BENCH_HOSTIO): $(O)/bench/hostio.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -luring

.PHONY: bench
bench: bins testguest guest $(BENCH_HOSTIO) $(O)/bench/blk_bench $(O)/bench/api_latency \
		$(O)/tests/unit/test_net_bench $(BIN)/jailer $(JAILER_PROBE)
	O=$(O) bench/run.sh
