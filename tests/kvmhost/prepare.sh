#!/bin/bash
# Prepare the nested-KVM harness: a Debian 12 kernel, its kvm/kvm_amd and 9p modules, a
# busybox initramfs and the kvm-smoke client, all cached under build/kvmhost/.  Nothing is
# installed on the host except missing tools (qemu, cpio) through apt.  Idempotent: a second
# run only rebuilds what changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KVMHOST_CACHE:-$ROOT/build/kvmhost}
mkdir -p "$CACHE"
cd "$CACHE"

say() { echo "kvmhost-prepare: $*" >&2; }

apt_updated=
need_tool() {	# need_tool BINARY PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ]; then
		say "$1 missing and not root: install package $2"
		exit 77
	fi
	if [ -z "$apt_updated" ]; then
		apt-get update -qq >&2 || true
		apt_updated=1
	fi
	say "installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2
}
need_tool qemu-system-x86_64 qemu-system-x86
need_tool cpio cpio
need_tool dpkg-deb dpkg
need_tool depmod kmod
need_tool gcc gcc

# fetch_deb PACKAGE DIR: download PACKAGE's .deb (cached) and unpack it into DIR once.
fetch_deb() {
	local pkg=$1 dir=$2 deb
	if [ -f "$dir/.unpacked" ]; then
		return 0
	fi
	deb=$(ls "$pkg"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		say "downloading $pkg"
		if ! apt-get download "$pkg" >&2 2>/dev/null; then
			apt-get update -qq >&2 || true
			apt-get download "$pkg" >&2
		fi
		deb=$(ls "$pkg"_*.deb | head -n1)
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg-deb -x "$deb" "$dir"
	touch "$dir/.unpacked"
}

# --- kernel --------------------------------------------------------------------------------
KPKG=$(cat kernel-package 2>/dev/null || true)
if [ -z "$KPKG" ]; then
	KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	if [ -z "$KPKG" ]; then
		apt-get update -qq >&2 || true
		KPKG=$(apt-cache depends linux-image-amd64 |
			sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	fi
	[ -n "$KPKG" ] || { say "cannot resolve linux-image-amd64"; exit 1; }
	echo "$KPKG" >kernel-package
fi
fetch_deb "$KPKG" kroot
KVER=${KPKG#linux-image-}
MODDIR=kroot/lib/modules/$KVER
[ -f "$MODDIR/modules.dep" ] || depmod -b kroot "$KVER"
cp -u kroot/boot/vmlinuz-"$KVER" vmlinuz
# Decompressing an xz bzImage under TCG costs ~3.5 s per boot.  The uncompressed ELF has a
# PVH entry note, which QEMU boots directly; keep the bzImage as the fallback.
if [ ! -f kernel-image ] || [ vmlinuz -nt "$(cat kernel-image)" ]; then
	img=vmlinuz
	off=$(LC_ALL=C grep -abo $'\xfd7zXZ' vmlinuz | head -n1 | cut -d: -f1 || true)
	if [ -n "$off" ] && command -v readelf >/dev/null; then
		# xz stops with an error at the bzImage's trailing data; the ELF is complete.
		tail -c +$((off + 1)) vmlinuz | xz -dc >vmlinux.$$ 2>/dev/null || true
		# Note type 0x12 is XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry point.
		if readelf -n vmlinux.$$ 2>/dev/null | grep -q 'Xen.*(0x00000012)'; then
			mv vmlinux.$$ vmlinux
			img=vmlinux
		fi
		rm -f vmlinux.$$
	fi
	echo "$img" >kernel-image
fi

# --- busybox -------------------------------------------------------------------------------
fetch_deb busybox-static bbroot
BUSYBOX=bbroot/bin/busybox
[ -x "$BUSYBOX" ] || { say "no busybox in busybox-static"; exit 1; }

# --- modules, in load order ----------------------------------------------------------------
# The channel to the host is virtio-9p over virtio-pci; tun is for tests of tap-backed
# network devices; vhost_net and vhost_vsock give L1 /dev/vhost-net and /dev/vhost-vsock
# (devtmpfs makes the nodes) for the kernel backends; the rest is kvm + kvm_amd.
WANT="virtio_pci 9pnet_virtio 9p tun vhost_net vhost_vsock kvm kvm-amd"
declare -A seen=()
order=()
add_mod() {	# add_mod RELPATH: dependencies first (modules.dep lists the full closure)
	local rel=$1 deps d
	[ -n "${seen[$rel]:-}" ] && return 0
	seen[$rel]=1
	deps=$(sed -n "s|^$rel: *||p" "$MODDIR/modules.dep")
	for d in $deps; do
		add_mod "$d"
	done
	order+=("$rel")
}
for m in $WANT; do
	rel=$(awk -F: -v n="$m.ko" '{ k = $1; sub(/.*\//, "", k); if (k == n) { print $1; exit } }' \
		"$MODDIR/modules.dep")
	[ -n "$rel" ] || { say "module $m not found in $KVER"; exit 1; }
	add_mod "$rel"
done

# --- kvm-hold (goes into the initramfs; see kvm-hold.c) ------------------------------------
if [ ! -x kvm-hold ] || [ "$HERE/kvm-hold.c" -nt kvm-hold ]; then
	say "building kvm-hold"
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o kvm-hold.$$ "$HERE/kvm-hold.c"
	mv kvm-hold.$$ kvm-hold
fi

# --- initramfs -----------------------------------------------------------------------------
stamp=$(
	{
		echo "$KPKG"
		printf '%s\n' "${order[@]}"
		sha256sum "$BUSYBOX" "$HERE/init.sh" "$HERE/prepare.sh" kvm-hold
	} | sha256sum | cut -c1-16
)
if [ "$(cat initramfs.stamp 2>/dev/null || true)" != "$stamp" ] || [ ! -f initramfs.cpio ]; then
	say "building initramfs for $KVER"
	rm -rf irfs
	mkdir -p irfs/.kh/mod irfs/proc irfs/sys irfs/dev irfs/tmp irfs/usr irfs/etc irfs/root \
		irfs/run irfs/var irfs/mnt
	# Same top-level layout as a merged-/usr Debian, so host binaries find their loader.
	for l in bin sbin lib lib32 lib64 libx32; do
		if [ -L "/$l" ]; then
			ln -s "$(readlink "/$l")" "irfs/$l"
		else
			mkdir -p "irfs/$l"
		fi
	done
	cp "$BUSYBOX" irfs/.kh/busybox
	cp kvm-hold irfs/.kh/kvm-hold
	: >irfs/.kh/modules
	for rel in "${order[@]}"; do
		base=${rel##*/}
		case $rel in
		*.ko.xz) xz -dc "$MODDIR/$rel" >"irfs/.kh/mod/${base%.xz}"; base=${base%.xz} ;;
		*.ko.zst) zstd -qdc "$MODDIR/$rel" >"irfs/.kh/mod/${base%.zst}"; base=${base%.zst} ;;
		*) cp "$MODDIR/$rel" "irfs/.kh/mod/$base" ;;
		esac
		echo "$base" >>irfs/.kh/modules
	done
	install -m 0755 "$HERE/init.sh" irfs/init
	(cd irfs && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet) >initramfs.cpio.$$
	mv initramfs.cpio.$$ initramfs.cpio
	echo "$stamp" >initramfs.stamp
fi

# --- kvm-smoke -----------------------------------------------------------------------------
if [ ! -x kvm-smoke ] || [ "$HERE/kvm-smoke.c" -nt kvm-smoke ]; then
	say "building kvm-smoke"
	gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes -Wformat=2 -Wconversion -Wno-sign-conversion \
		-D_FORTIFY_SOURCE=2 -fstack-protector-strong \
		-o kvm-smoke.$$ "$HERE/kvm-smoke.c"
	mv kvm-smoke.$$ kvm-smoke
fi
echo "$CACHE"
