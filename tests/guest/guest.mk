# The test guest: a freestanding ELF the VMM boots like a vmlinux (tests/guest/guest.h).
# Built without sanitizers or stack protector: it has no libc and no runtime.
GUEST_TEST_SRCS := tests/guest/start.S tests/guest/kernel.c tests/guest/lib.c \
	tests/guest/virtio.c tests/guest/test_boot.c tests/guest/test_blk.c \
	tests/guest/test_net.c tests/guest/test_vsock.c
GUEST_TEST_ELF := $(O)/tests/guest/testguest.elf
GUEST_CFLAGS := -std=gnu11 -O2 -g -I. -ffreestanding -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -fno-builtin -fno-asynchronous-unwind-tables \
	-mcmodel=small -Wall -Wextra -Werror -Wno-unused-parameter

$(GUEST_TEST_ELF): $(GUEST_TEST_SRCS) tests/guest/guest.ld tests/guest/guest.h tests/guest/virtio.h
	@mkdir -p $(dir $@)
	gcc $(GUEST_CFLAGS) -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
		-T tests/guest/guest.ld -o $@ $(GUEST_TEST_SRCS)

.PHONY: testguest
testguest: $(GUEST_TEST_ELF)
