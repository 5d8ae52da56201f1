#!/bin/bash
# Integration test for rootfs-tools: the guest kernel, the root filesystems and
# the guest init, checked on the host (no KVM needed).
#
# Builds (or finds cached) everything with the rootfs-tools scripts, then
# checks the artifacts, and runs the init from the real initramfs as PID 1 of a
# private PID + mount namespace (needs root): mounts, command, exit status
# reporting, the leftover-kernel-argument rule, the boot-timer error path and
# the final reboot(), which a PID namespace turns into SIGHUP for its parent.
#
# Exit status: 0 pass, 1 fail, 77 skip.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GUEST=${GUEST:-$ROOT/build/guest}
FRAGMENT="$ROOT/rootfs-tools/kernel/microvm.config"
NAME=test_rootfs_tools
failures=0
checks=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

pass() {
	checks=$((checks + 1))
	echo "  ok   $*"
}
fail() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "  FAIL $*"
}
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
skip_all() {
	echo "$NAME: SKIP: $*"
	exit 77
}

for tool in readelf od cpio e2fsck debugfs; do
	command -v "$tool" >/dev/null || skip_all "$tool not installed (make deps)"
done
[ -r /usr/src/linux-source-6.1.tar.xz ] || skip_all "linux-source-6.1 not installed (make deps)"

echo "$NAME: building or reusing the guest artifacts in $GUEST"
GUEST=$GUEST "$ROOT/rootfs-tools/build-kernel.sh" >"$TMP/kernel.log" 2>&1 ||
	{ cat "$TMP/kernel.log"; echo "$NAME: FAIL: build-kernel.sh"; exit 1; }
GUEST=$GUEST "$ROOT/rootfs-tools/build-rootfs.sh" >"$TMP/rootfs.log" 2>&1 ||
	{ cat "$TMP/rootfs.log"; echo "$NAME: FAIL: build-rootfs.sh"; exit 1; }

echo "$NAME: cache"
# Both scripts just ran, so a second run must find valid stamps and do nothing.
check "build-kernel.sh is a no-op on a valid cache" \
	grep -q 'up to date' <(GUEST=$GUEST "$ROOT/rootfs-tools/build-kernel.sh" 2>&1)
check "build-rootfs.sh is a no-op on a valid cache" \
	grep -q 'up to date' <(GUEST=$GUEST "$ROOT/rootfs-tools/build-rootfs.sh" 2>&1)

echo "$NAME: kernel config ($GUEST/kernel.config against $(basename "$FRAGMENT"))"
config="$GUEST/kernel.config"
missing=()
nopts=0
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+=.*)$ ]]; then
		nopts=$((nopts + 1))
		grep -qxF "${BASH_REMATCH[1]}" "$config" || missing+=("${BASH_REMATCH[1]}")
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		nopts=$((nopts + 1))
		! grep -qE "^${BASH_REMATCH[1]}=" "$config" || missing+=("${BASH_REMATCH[1]}=n")
	fi
done <"$FRAGMENT"
if [ "$nopts" -lt 50 ]; then
	fail "fragment parsed: only $nopts options found"
elif [ ${#missing[@]} -eq 0 ]; then
	pass "all $nopts fragment options are in kernel.config"
else
	fail "fragment options missing from kernel.config: ${missing[*]}"
fi
# The ones that hang or crawl on the nested host, stated once more on their own.
check "KVM PTP clock driver is off" bash -c "! grep -q '^CONFIG_PTP_1588_CLOCK_KVM=' '$config'"
check "HZ is 100" grep -qx 'CONFIG_HZ=100' "$config"
check "no loadable modules" bash -c "! grep -q '^CONFIG_MODULES=y' '$config'"

echo "$NAME: kernel images"
vmlinux="$GUEST/vmlinux"
bzimage="$GUEST/bzImage"
# ELF header: magic, class 2 (64-bit), data 1 (little endian), e_machine 62 (x86-64).
check "vmlinux is a 64-bit little-endian ELF" \
	test "$(od -An -tx1 -N6 "$vmlinux" | tr -d ' \n')" = 7f454c460201
check "vmlinux e_machine is x86-64 (62)" \
	test "$(od -An -tu2 -j18 -N2 "$vmlinux" | tr -d ' ')" = 62
check "vmlinux is an executable with an entry point" \
	grep -q 'Type:.*EXEC' <(readelf -h "$vmlinux")
check "bzImage has the boot sector signature 0xAA55" \
	test "$(od -An -tx1 -j510 -N2 "$bzimage" | tr -d ' \n')" = 55aa
check "bzImage has the HdrS setup header magic at 0x202" \
	test "$(od -An -c -j514 -N4 "$bzimage" | tr -d ' \n')" = HdrS
proto=$(od -An -tu2 -j518 -N2 "$bzimage" | tr -d ' ')
check "bzImage boot protocol >= 2.12 (have $((proto >> 8)).$((proto & 255)))" \
	test "$proto" -ge $((0x020c))
check "bzImage is LZ4-compressed (kernel.config)" grep -qx 'CONFIG_KERNEL_LZ4=y' "$config"

echo "$NAME: init"
init="$GUEST/init"
check "init is an x86-64 ELF" grep -q 'Machine:.*X86-64' <(readelf -h "$init")
check "init has no program interpreter (static)" \
	bash -c "! readelf -l '$init' | grep -q 'program interpreter'"
check "init has no dynamic section (static)" \
	grep -q 'There is no dynamic section' <(readelf -d "$init")

echo "$NAME: initramfs ($GUEST/initramfs.cpio)"
cpio -itv <"$GUEST/initramfs.cpio" >"$TMP/cpio.txt" 2>/dev/null
check "cpio lists /init as a regular file" grep -qE '^-rwx.* init$' "$TMP/cpio.txt"
check "cpio lists /dev/console as char device 5,1" \
	grep -qE '^crw.* 5, +1 .* dev/console$' "$TMP/cpio.txt"
check "cpio lists /bin/sh -> /bin/busybox" grep -qE ' bin/sh -> /bin/busybox$' "$TMP/cpio.txt"
check "cpio lists /sbin/init" grep -qE ' sbin/init$' "$TMP/cpio.txt"

echo "$NAME: ext4 image ($GUEST/rootfs.ext4)"
ext4="$GUEST/rootfs.ext4"
check "rootfs.ext4 is 64 MiB" test "$(stat -c %s "$ext4")" = $((64 << 20))
if e2fsck -fn "$ext4" >"$TMP/fsck.txt" 2>&1; then
	pass "e2fsck -fn is clean"
else
	cat "$TMP/fsck.txt"
	fail "e2fsck -fn reports problems"
fi
debugfs -R 'stat /sbin/init' "$ext4" >"$TMP/stat.txt" 2>&1
check "debugfs finds /sbin/init as a regular file" grep -q 'Type: regular' "$TMP/stat.txt"
debugfs -R 'dump /sbin/init '"$TMP/init.ext4" "$ext4" >/dev/null 2>&1
check "/sbin/init in the image is the built init" cmp -s "$TMP/init.ext4" "$init"
check "/sbin/init is owned by root" grep -qE 'User: +0 +Group: +0' "$TMP/stat.txt"
check "/bin/sh in the image links to /bin/busybox" \
	grep -q 'Fast link dest: "/bin/busybox"' <(debugfs -R 'stat /bin/sh' "$ext4" 2>&1)

echo "$NAME: init as PID 1 of a PID + mount namespace, from the initramfs"
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	echo "  skip init runs: need root and unshare"
else
	jail="$TMP/initramfs"
	mkdir -p "$jail"
	(cd "$jail" && cpio -idm --no-absolute-filenames <"$GUEST/initramfs.cpio" 2>/dev/null)

	# run_init OUTFILE ENV... -- ARGS...: the init must end by rebooting, which
	# a PID namespace reports as its init dying of SIGHUP (status 129).
	run_init() {
		local out=$1 envs=()
		shift
		while [ "$1" != -- ]; do envs+=("$1"); shift; done
		shift
		# The braces' redirection hides bash's "Hangup" job notice.
		{ timeout 30 unshare --pid --fork --mount --propagation private -- \
			env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" \
			chroot "$jail" /init "$@" >"$out" 2>&1; } 2>/dev/null
	}
	run_init "$TMP/run1" VMM_INIT_NO_BOOT_TIMER=1 -- \
		'echo hello-from-guest; test -c /dev/null && grep -q " /proc proc" /proc/mounts && grep -q " /tmp tmpfs" /proc/mounts && grep -q " /run tmpfs" /proc/mounts && grep -q " /sys sysfs" /proc/mounts && echo mounts-ok; (sleep 60 &); exit 3'
	rc=$?
	check "init ends with reboot (namespace init killed by SIGHUP, status $rc)" test "$rc" = 129
	check "init prints 'vmm-init: started'" grep -qx 'vmm-init: started' "$TMP/run1"
	check "command runs and sees /proc /sys /dev /run /tmp mounted" \
		grep -qx 'mounts-ok' "$TMP/run1"
	check "command output reaches the console" grep -qx 'hello-from-guest' "$TMP/run1"
	check "init reports 'exit status 3'" grep -qx 'vmm-init: exit status 3' "$TMP/run1"
	check "init announces the reboot" grep -qx 'vmm-init: rebooting' "$TMP/run1"
	[ "$failures" -eq 0 ] || sed 's/^/    | /' "$TMP/run1"

	run_init "$TMP/run2" VMM_INIT_NO_BOOT_TIMER=1 -- 'kill -9 $$'
	check "init reports 'killed by signal 9'" grep -qx 'vmm-init: killed by signal 9' "$TMP/run2"

	run_init "$TMP/run3" VMM_INIT_NO_BOOT_TIMER=1 --
	check "without a command init shows the VM (uname, cpus)" \
		bash -c "grep -q '^kernel: Linux' '$TMP/run3' && grep -qE '^cpus: [0-9]+$' '$TMP/run3' && grep -qx 'vmm-init: exit status 0' '$TMP/run3'"

	# Words the kernel does not know reach init's argv ahead of what follows
	# `--`; init drops that prefix. Use a bare word from this host's own command line.
	word=$(tr ' ' '\n' </proc/cmdline | sed '/^--$/q' | grep -vE '=|^--$|"' | grep -E '^[a-z_]+$' | head -n1)
	if [ -n "$word" ]; then
		run_init "$TMP/run4" VMM_INIT_NO_BOOT_TIMER=1 -- "$word" echo after-leftovers
		check "init skips the kernel's leftover word '$word' and runs the rest" \
			bash -c "grep -qx 'after-leftovers' '$TMP/run4' && grep -q 'ignoring 1 unknown kernel argument' '$TMP/run4'"
	else
		echo "  skip leftover-argument check: no bare word on this host's command line"
	fi

	# Boot-timer failure path: without CAP_SYS_RAWIO /dev/mem cannot be opened
	# (EPERM; ENOENT where the host kernel has no /dev/mem at all).
	# Only run it when the capability is verifiably gone: the host's physical
	# address 0xd0000000 must never be written.
	caps=$(setpriv --inh-caps=-sys_rawio --bounding-set=-sys_rawio -- \
		awk '/^CapEff/ {print $2}' /proc/self/status 2>/dev/null)
	if [ -n "$caps" ] && [ $((0x$caps & (1 << 17))) -eq 0 ]; then
		{ timeout 30 unshare --pid --fork --mount --propagation private -- \
			setpriv --inh-caps=-sys_rawio --bounding-set=-sys_rawio -- \
			env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$jail" /init true \
			>"$TMP/run5" 2>&1; } 2>/dev/null
		rc=$?
		check "boot-timer failure is logged and not fatal (status $rc)" \
			bash -c "test $rc = 129 && grep -qE '^vmm-init: boot timer: (Operation not permitted|No such file or directory)$' '$TMP/run5' && grep -qx 'vmm-init: exit status 0' '$TMP/run5'"
	else
		echo "  skip boot-timer failure check: cannot drop CAP_SYS_RAWIO here"
	fi
fi

echo "$NAME: boot under QEMU TCG (software emulation, no KVM needed)"
# QEMU's microvm machine has the same shape as ours (no ACPI, no PCI, MP
# table, virtio-mmio, COM1), and TCG runs guest user space for real, which
# the nested KVM on the development hosts cannot: this is where the kernel
# config and the init are shown to work together end to end.
QEMU=$(command -v qemu-system-x86_64 || true)

# qemu_boot LOG APPEND QEMU-ARGS...: boots, stops at the guest's reset (or a
# panic, or 90 s), and kills QEMU, whose microvm machine ignores -no-reboot.
qemu_boot() {
	local log=$1 append=$2 pid i
	shift 2
	: >"$log"
	"$QEMU" -M microvm,acpi=off,auto-kernel-cmdline=off -accel tcg,thread=multi \
		-cpu max -m 256 -smp 2 -nodefaults -no-user-config -display none \
		-serial "file:$log" -no-reboot -kernel "$bzimage" -append "$append" \
		"$@" </dev/null >"$log.qemu" 2>&1 &
	pid=$!
	for ((i = 0; i < 900; i++)); do
		grep -qE 'reboot: machine restart|Kernel panic' "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -s "$log" ] || cat "$log.qemu"
}

if [ -z "$QEMU" ]; then
	echo "  skip QEMU boots: qemu-system-x86_64 not installed (make deps)"
else
	base="console=ttyS0 reboot=k panic=1"
	qemu_boot "$TMP/boot1" "$base -- echo guest-says-hi; grep -c ^processor /proc/cpuinfo; exit 5" \
		-initrd "$GUEST/initramfs.cpio"
	b=$TMP/boot1
	check "initramfs boot: both vCPUs come up from the MP table" \
		grep -q 'smp: Brought up 1 node, 2 CPUs' "$b"
	check "initramfs boot: kernel runs /init" grep -q 'Run /init as init process' "$b"
	check "initramfs boot: init starts" grep -qx 'vmm-init: started' <(tr -d '\r' <"$b")
	check "initramfs boot: command after -- runs in the guest" \
		grep -qx 'guest-says-hi' <(tr -d '\r' <"$b")
	check "initramfs boot: guest sees 2 CPUs" grep -qx '2' <(tr -d '\r' <"$b")
	check "initramfs boot: init reports exit status 5" \
		grep -qx 'vmm-init: exit status 5' <(tr -d '\r' <"$b")
	check "initramfs boot: guest resets through reboot()" grep -q 'reboot: machine restart' "$b"
	check "initramfs boot: no kernel panic" bash -c "! grep -q 'Kernel panic' '$b'"

	qemu_boot "$TMP/boot2" "$base root=/dev/vda virtio_mmio.device=512@0xfeb00e00:12 -- grep ' / ' /proc/mounts" \
		-drive "id=root,file=$ext4,format=raw,if=none,snapshot=on" \
		-device virtio-blk-device,drive=root
	b=$TMP/boot2
	check "ext4 boot: virtio-mmio device from the command line probed" \
		grep -q 'virtio-mmio: Registering device virtio-mmio.0' "$b"
	check "ext4 boot: virtio-blk disk vda is 64 MiB" grep -q '\[vda\] 131072 512-byte' "$b"
	check "ext4 boot: kernel runs /sbin/init from the ext4 root" \
		grep -q 'Run /sbin/init as init process' "$b"
	check "ext4 boot: init sees ext4 mounted on /" \
		grep -qE '^/dev/root / ext4 ' <(tr -d '\r' <"$b")
	check "ext4 boot: init reports exit status 0 and the guest resets" \
		bash -c "tr -d '\r' <'$b' | grep -qx 'vmm-init: exit status 0' && grep -q 'reboot: machine restart' '$b'"
	if [ "$failures" -ne 0 ]; then
		for b in "$TMP/boot1" "$TMP/boot2"; do
			echo "    --- $b (tail)"
			tail -n 25 "$b" | sed 's/^/    | /'
		done
	fi
fi

echo "$NAME: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ] || exit 1
exit 0
