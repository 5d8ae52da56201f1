# Top-level build. Non-recursive: each component contributes a fragment
# (<dir>/*.mk) that appends to the variables below.
#
#   make            build vmm and jailer (release)
#   make run        boot the default microVM (installs deps, builds kernel+rootfs)
#   make test       every test: unit (release + ASAN/UBSan), fuzz replay, integration
#   make bench      benchmarks, printing figures
#   make BUILD=asan build with AddressSanitizer + UBSan into build/asan

BUILD ?= release
O := build/$(BUILD)
GUEST := build/guest
CC ?= gcc

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security \
	-Wpointer-arith -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wwrite-strings -Wundef -Wimplicit-fallthrough \
	-Wno-unused-parameter -Wno-missing-field-initializers

BASE_CFLAGS := -std=gnu11 -g -D_GNU_SOURCE -I. -fno-strict-aliasing \
	-fstack-protector-strong -fPIE $(WARN)

ifeq ($(BUILD),asan)
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
CFLAGS_MODE := -O1 $(SAN)
LDFLAGS_MODE := $(SAN)
else ifeq ($(BUILD),debug)
CFLAGS_MODE := -O0
else
CFLAGS_MODE := -O2 -D_FORTIFY_SOURCE=2
endif

CFLAGS += $(BASE_CFLAGS) $(CFLAGS_MODE)
LDFLAGS += -pie -Wl,-z,relro,-z,now $(LDFLAGS_MODE)

# Filled in by the fragments. VMM_LIB_SRCS and API_SRCS go into static libraries that
# the vmm binary, unit tests and fuzzers link against.
BINS :=
UNIT_TESTS :=
FUZZ_TARGETS :=
CLEAN_EXTRA :=
VMM_LIB_SRCS :=
API_SRCS :=
LIBS := -ljansson -luring -lseccomp -lpthread
VMM_LIB := $(O)/libvmm.a
API_LIB := $(O)/libapi.a
TEST_LINK_DEPS := $(API_LIB) $(VMM_LIB)
TEST_LINK_LIBS := $(API_LIB) $(VMM_LIB) $(LIBS)
# Programs go to $(O)/bin; objects mirror the source tree under $(O).
BIN := $(O)/bin

.PHONY: all
all: bins

include vmm/vmm.mk
-include vmm/virtio/virtio.mk
include api/api.mk
include jailer/jailer.mk
include rootfs-tools/rootfs.mk
include tests/tests.mk
-include bench/bench.mk


$(VMM_LIB): $(VMM_LIB_SRCS:%.c=$(O)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(API_LIB): $(API_SRCS:%.c=$(O)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

.PHONY: bins
bins: $(BINS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(O) -name '*.d' 2>/dev/null)

.PHONY: deps
deps:
	@scripts/install-deps.sh

.PHONY: format
format:
	clang-format -i $$(git ls-files '*.c' '*.h')

.PHONY: clean
clean:
	rm -rf build/release build/asan build/debug build/fuzz $(CLEAN_EXTRA)

# Removes the cached guest kernel and images too.
.PHONY: distclean
distclean: clean
	rm -rf build

# Boot the default microVM (installs dependencies and builds the guest kernel and
# root filesystem the first time).
.PHONY: run
run: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory guest
	@scripts/run-default.sh $(CMD)
