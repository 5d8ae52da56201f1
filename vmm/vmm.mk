# The VMM core. Device and transport files add themselves to VMM_LIB_SRCS in their
# own fragments (vmm/virtio/virtio.mk).
VMM_LIB_SRCS += \
	vmm/util.c \
	vmm/log.c \
	vmm/memory.c \
	vmm/bus.c \
	vmm/eventloop.c

BINS += $(BIN)/vmm

# The jailer copies only the exec file into the jail: link the VMM as a static PIE
# (ASLR kept). Sanitizer runtimes do not link statically, so the ASAN build stays dynamic.
ifeq ($(BUILD),asan)
VMM_LINK_STATIC :=
else
VMM_LINK_STATIC := -static-pie
endif

# Link order: the API library uses libvmm.
$(BIN)/vmm: $(O)/vmm/main.o $(API_LIB) $(VMM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(VMM_LINK_STATIC) -o $@ $^ $(LIBS)

VMM_LIB_SRCS += \
	vmm/boot/elf.c \
	vmm/boot/bzimage.c \
	vmm/boot/loader.c \
	vmm/boot/mptable.c

VMM_LIB_SRCS += \
	vmm/kvm.c \
	vmm/cpuid.c \
	vmm/nested.c \
	vmm/vcpu.c \
	vmm/devices/serial.c \
	vmm/devices/i8042.c \
	vmm/devices/boot_timer.c
VMM_LIB_SRCS += vmm/vm.c

UNIT_TESTS += $(O)/tests/unit/test_boot $(O)/tests/unit/test_devices $(O)/tests/unit/test_eventloop \
	$(O)/tests/unit/test_log
