#!/bin/bash
# Build the guest init and the root filesystems from busybox-static:
#
#   $GUEST/init            the project init, static
#   $GUEST/vsock-tool      AF_VSOCK test client/server, static (/bin/vsock-tool)
#   $GUEST/initramfs.cpio  newc archive, /init = the project init, /dev/console
#   $GUEST/rootfs.ext4     64 MiB ext4, /sbin/init = the project init
#
# No root privileges or mounts needed: the cpio is written by the kernel tree's
# usr/gen_init_cpio from a list (so device nodes need no mknod) and the ext4
# image by `mkfs.ext4 -d`. Cached: a stamp holds a hash of the inputs.
#
# Environment: GUEST (output dir), FORCE=1 (rebuild even if the stamp matches),
# ROOTFS_SIZE (ext4 image size, default 64M).
set -euo pipefail
PROG=build-rootfs
. "$(dirname "$0")/common.sh"

BUSYBOX=${BUSYBOX:-/bin/busybox}
INIT_SRC="$ROOT/rootfs-tools/init/init.c"
VSOCK_TOOL_SRC="$ROOT/rootfs-tools/init/vsock-tool.c"
ROOTFS_SIZE=${ROOTFS_SIZE:-64M}
STAMP="$GUEST/.rootfs.stamp"
OUTPUTS=(init vsock-tool initramfs.cpio rootfs.ext4)
STAGE="$GUEST/rootfs-dir"
CC=${CC:-gcc}
INIT_CFLAGS="-static -Os -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow
	-Wformat=2 -Wformat-security -Wpointer-arith -Wcast-qual -Wstrict-prototypes
	-Wmissing-prototypes -Wvla -Wwrite-strings -Wundef -Wimplicit-fallthrough"

[ -x "$BUSYBOX" ] || die "$BUSYBOX not found: install busybox-static (make deps)"
if readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'program interpreter'; then
	die "$BUSYBOX is dynamically linked: install busybox-static, not busybox"
fi
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found: install e2fsprogs"

bb_version=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null ||
	sha256sum "$BUSYBOX")
key=$(cache_key "$bb_version $(ksrc_version) $ROOTFS_SIZE $($CC --version | head -1)" \
	"$INIT_SRC" "$VSOCK_TOOL_SRC" "$0" "$ROOT/rootfs-tools/common.sh")

up_to_date() {
	local f
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] || return 1
	for f in "${OUTPUTS[@]}"; do
		[ -s "$GUEST/$f" ] || return 1
	done
}

mkdir -p "$GUEST"
exec 8>"$GUEST/.rootfs.lock"
flock 8

if [ "${FORCE:-0}" != 1 ] && up_to_date; then
	say "root filesystems up to date ($GUEST/initramfs.cpio, $GUEST/rootfs.ext4)"
	exit 0
fi
rm -f "$STAMP"

say "building the init"
# shellcheck disable=SC2086 # word splitting of the flags is intended
$CC $INIT_CFLAGS -o "$GUEST/init.tmp" "$INIT_SRC" || die "init build failed"
mv -f "$GUEST/init.tmp" "$GUEST/init"
# shellcheck disable=SC2086 # word splitting of the flags is intended
$CC $INIT_CFLAGS -o "$GUEST/vsock-tool.tmp" "$VSOCK_TOOL_SRC" || die "vsock-tool build failed"
mv -f "$GUEST/vsock-tool.tmp" "$GUEST/vsock-tool"

# gen_init_cpio comes from the kernel source the guest kernel is built from.
ksrc_extract
$CC -O2 -o "$GUEST/gen_init_cpio" "$KSRC/usr/gen_init_cpio.c" ||
	die "building gen_init_cpio failed"

say "staging busybox $bb_version in $STAGE"
rm -rf "$STAGE"
mkdir -p "$STAGE"
for d in bin sbin usr/bin usr/sbin dev proc sys run tmp etc root var mnt; do
	mkdir -p "$STAGE/$d"
done
chmod 1777 "$STAGE/tmp"
chmod 0700 "$STAGE/root"
install -m 0755 "$BUSYBOX" "$STAGE/bin/busybox"
applets=0
while IFS= read -r applet; do
	# Our own init replaces busybox's; linuxrc is for initrd setups we do not use.
	case "$applet" in
	sbin/init | linuxrc | bin/busybox | "") continue ;;
	esac
	[[ $applet =~ ^[A-Za-z0-9_./\[-]+$ ]] || die "unexpected applet path '$applet'"
	mkdir -p "$STAGE/$(dirname "$applet")"
	ln -sf /bin/busybox "$STAGE/$applet"
	applets=$((applets + 1))
done < <("$BUSYBOX" --list-full)
[ "$applets" -gt 100 ] || die "busybox --list-full gave only $applets applets"
[ -e "$STAGE/bin/sh" ] || die "busybox has no sh applet"
install -m 0755 "$GUEST/init" "$STAGE/sbin/init"
install -m 0755 "$GUEST/vsock-tool" "$STAGE/bin/vsock-tool"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$STAGE/etc/passwd"
printf 'root:x:0:\n' >"$STAGE/etc/group"
printf 'microvm\n' >"$STAGE/etc/hostname"

# newc list for gen_init_cpio: everything staged, plus /init and the console
# node the kernel opens for init's stdio.
cpio_list() {
	local type mode rel target
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "file /init $GUEST/init 0755 0 0"
	# Staged names are plain (checked above), so a space-separated line is safe.
	(cd "$STAGE" && find . -mindepth 1 -printf '%y %m /%P %l\n' | LC_ALL=C sort -k3) |
		while read -r type mode rel target; do
			case "$type" in
			d) [ "$rel" = /dev ] || echo "dir $rel $mode 0 0" ;;
			l) echo "slink $rel $target 0777 0 0" ;;
			f) echo "file $rel $STAGE$rel $mode 0 0" ;;
			*) die "cannot put $rel (type $type) into the cpio" ;;
			esac
		done
}

say "writing initramfs.cpio"
cpio_list >"$GUEST/initramfs.list"
"$GUEST/gen_init_cpio" "$GUEST/initramfs.list" >"$GUEST/initramfs.cpio.tmp" ||
	die "gen_init_cpio failed"
mv -f "$GUEST/initramfs.cpio.tmp" "$GUEST/initramfs.cpio"

say "writing rootfs.ext4 ($ROOTFS_SIZE)"
rm -f "$GUEST/rootfs.ext4.tmp"
truncate -s "$ROOTFS_SIZE" "$GUEST/rootfs.ext4.tmp"
mkfs.ext4 -q -F -L rootfs -d "$STAGE" -E root_owner=0:0 "$GUEST/rootfs.ext4.tmp" ||
	die "mkfs.ext4 failed"
mv -f "$GUEST/rootfs.ext4.tmp" "$GUEST/rootfs.ext4"

echo "$key" >"$STAMP"
say "done: init $(stat -c %s "$GUEST/init") bytes, initramfs.cpio" \
	"$(stat -c %s "$GUEST/initramfs.cpio") bytes, rootfs.ext4 $ROOTFS_SIZE" \
	"($applets busybox applets)"
