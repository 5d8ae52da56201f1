# Guest kernel and root filesystems.
#
#   make kernel   $(GUEST)/vmlinux, bzImage, kernel.config, System.map
#   make rootfs   $(GUEST)/init, initramfs.cpio, rootfs.ext4
#   make guest    both
#
# The scripts keep their own cache stamps (a hash of their inputs), so these
# targets always run them and they return at once when nothing changed.

GUEST_KERNEL := $(GUEST)/vmlinux $(GUEST)/bzImage
GUEST_ROOTFS := $(GUEST)/initramfs.cpio $(GUEST)/rootfs.ext4
GUEST_INIT := $(GUEST)/init

.PHONY: kernel rootfs guest
kernel:
	@GUEST=$(GUEST) rootfs-tools/build-kernel.sh

rootfs:
	@GUEST=$(GUEST) rootfs-tools/build-rootfs.sh

guest: kernel rootfs
