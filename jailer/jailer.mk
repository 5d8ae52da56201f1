# The privileged launcher.
include vmm/seccomp/seccomp.mk

JAILER_SRCS := jailer/main.c jailer/args.c jailer/fs.c jailer/cgroup.c jailer/privs.c
JAILER_OBJS := $(JAILER_SRCS:%.c=$(O)/%.o)
BINS += $(BIN)/jailer

# libcap-ng for the jailer only; the seccomp objects come without the rest of libvmm.a.
$(BIN)/jailer: $(JAILER_OBJS) $(SECCOMP_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcap-ng

# The argument parser is pure and unit-tested on its own.
UNIT_TESTS += $(O)/tests/unit/test_jailer_args
$(O)/tests/unit/test_jailer_args: $(O)/tests/unit/test_jailer_args.o \
		$(O)/tests/unit/test_main.o $(O)/jailer/args.o
	$(CC) $(LDFLAGS) -o $@ $^

# Test payload run inside jails: static, since the jail holds nothing but this file.
# Built without sanitizers (they do not link statically).
JAILER_PROBE := $(O)/tests/jailer/probe
$(JAILER_PROBE): tests/jailer/probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -static -D_GNU_SOURCE $(WARN) -o $@ $<

.PHONY: test-jailer bench-jailer jailer-probe
jailer-probe: $(JAILER_PROBE)
test-jailer: $(BIN)/jailer $(JAILER_PROBE)
	O=$(O) tests/integration/test_jailer.sh

bench-jailer: $(BIN)/jailer $(JAILER_PROBE)
	O=$(O) bench/jailer_bench.sh
