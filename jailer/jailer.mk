# The privileged launcher.
include vmm/seccomp/seccomp.mk

JAILER_SRCS := jailer/main.c jailer/args.c jailer/fs.c jailer/cgroup.c jailer/privs.c
# Objects live in $(O)/jailer.obj/: $(O)/jailer is the binary itself.
JAILER_OBJS := $(JAILER_SRCS:jailer/%.c=$(O)/jailer.obj/%.o)
BINS += $(O)/jailer

$(O)/jailer.obj/%.o: jailer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# libcap-ng for the jailer only; the seccomp objects come without the rest of libvmm.a.
$(O)/jailer: $(JAILER_OBJS) $(SECCOMP_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lcap-ng

# The argument parser is pure and unit-tested on its own.
UNIT_TESTS += $(O)/tests/unit/test_jailer_args
$(O)/tests/unit/test_jailer_args: $(O)/tests/unit/test_jailer_args.o \
		$(O)/tests/unit/test_main.o $(O)/jailer.obj/args.o
	$(CC) $(LDFLAGS) -o $@ $^

# Test payload run inside jails: static, since the jail holds nothing but this file.
# Built without sanitizers (they do not link statically).
JAILER_PROBE := $(O)/tests/jailer/probe
$(JAILER_PROBE): tests/jailer/probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -static -D_GNU_SOURCE $(WARN) -o $@ $<

.PHONY: test-jailer bench-jailer
test-jailer: $(O)/jailer $(JAILER_PROBE)
	O=$(O) tests/integration/test_jailer.sh

bench-jailer: $(O)/jailer $(JAILER_PROBE)
	O=$(O) bench/jailer_bench.sh
