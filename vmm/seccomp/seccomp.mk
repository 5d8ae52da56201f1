# Seccomp: policies compiled to BPF at build time by a host tool, embedded in libvmm.a.
# The jailer links the two objects directly (it does not need the rest of libvmm.a).
SECCOMP_POLICY_DIR := vmm/seccomp/policy
SECCOMP_POLICIES := $(addprefix $(SECCOMP_POLICY_DIR)/,vcpu.policy vmm.policy api.policy jailer.policy)
SECCOMP_COMPILE := $(O)/vmm/seccomp/seccomp-compile
SECCOMP_GEN_C := $(O)/gen/vmm/seccomp/seccomp_filters.c
SECCOMP_GEN_O := $(O)/gen/vmm/seccomp/seccomp_filters.o
SECCOMP_OBJS := $(O)/vmm/seccomp/seccomp.o $(SECCOMP_GEN_O)

# sigsys.c (the violation reporter) needs metrics: libvmm.a only, not the jailer.
VMM_LIB_SRCS += vmm/seccomp/seccomp.c vmm/seccomp/sigsys.c

$(SECCOMP_COMPILE): $(O)/vmm/seccomp/seccomp-compile.o
	$(CC) $(LDFLAGS) -o $@ $^ -lseccomp

# The jailer's filter is the union of every thread policy plus its own start-up needs:
# filters stack, so it must allow whatever a thread filter allows.
$(SECCOMP_GEN_C): $(SECCOMP_COMPILE) $(SECCOMP_POLICIES)
	@mkdir -p $(dir $@)
	$(SECCOMP_COMPILE) -o $@ \
		vcpu=$(SECCOMP_POLICY_DIR)/vcpu.policy \
		vmm=$(SECCOMP_POLICY_DIR)/vmm.policy \
		api=$(SECCOMP_POLICY_DIR)/api.policy \
		jailer=$(SECCOMP_POLICY_DIR)/jailer.policy,$(SECCOMP_POLICY_DIR)/vcpu.policy,$(SECCOMP_POLICY_DIR)/vmm.policy,$(SECCOMP_POLICY_DIR)/api.policy

$(SECCOMP_GEN_O): $(SECCOMP_GEN_C)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Extra prerequisite of libvmm.a: its archive recipe uses $^, so the object goes in.
$(O)/libvmm.a: $(SECCOMP_GEN_O)

UNIT_TESTS += $(O)/tests/unit/test_seccomp
# tests/tests.mk names $(TEST_LINK_DEPS) before it is set, so say it here.
$(O)/tests/unit/test_seccomp: $(O)/libvmm.a

# A second VMM binary with the test-only seccomp trigger (--test-seccomp-trigger):
# main.c and seccomp.c built again with -DVMM_TEST_HOOKS. The release vmm never has
# the hook; listing seccomp-testhooks.o before libvmm.a keeps the archive's copy out.
# Static like the release vmm so it runs inside a jail too.
VMM_TESTHOOKS := $(BIN)/vmm-testhooks
VMM_TESTHOOKS_OBJS := $(O)/vmm/main-testhooks.o $(O)/vmm/seccomp/seccomp-testhooks.o

$(O)/vmm/main-testhooks.o: vmm/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DVMM_TEST_HOOKS -MMD -MP -c $< -o $@

$(O)/vmm/seccomp/seccomp-testhooks.o: vmm/seccomp/seccomp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DVMM_TEST_HOOKS -MMD -MP -c $< -o $@

$(VMM_TESTHOOKS): $(VMM_TESTHOOKS_OBJS) $(API_LIB) $(VMM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(VMM_LINK_STATIC) -o $@ $^ $(LIBS)

.PHONY: vmm-testhooks
vmm-testhooks: $(VMM_TESTHOOKS)
