#!/usr/bin/env bash
# Real Linux boots with the project's kernel and root filesystems. Kept to three boots.
#   1. vmlinux + initramfs, 2 vCPUs, the init runs a command from the kernel command line
#   2. bzImage + ext4 root on virtio-blk, read-write; the host checks the image afterwards
#   3. driven through the API only: configure, InstanceStart, pause, resume, Ctrl-Alt-Del
# On a nested-PVM host guest user space cannot make system calls: there the tests check
# everything up to the kernel executing /init and the VMM's clean exit after the guest's
# resulting panic and reboot.
set -u
. "$(dirname "$0")/lib.sh"

for f in vmlinux bzImage initramfs.cpio rootfs.ext4; do
	[ -f "$GUEST/$f" ] || { echo "  missing $GUEST/$f: run 'make guest'"; exit 1; }
done
need_kvm
kind=$(kvm_kind)
# Boot from local copies: the checkout may sit on a slow shared filesystem (9p in
# tests/kvmhost), and reading an 18 MB kernel from there is not what is tested here.
for f in vmlinux bzImage initramfs.cpio; do
	cp "$GUEST/$f" "$TMP/$f"
done
GUEST=$TMP
echo "host kind: $kind"
if [ "$kind" = nested-pvm ]; then
	echo "  (nested PVM: guest kernel code is emulated, guest user space cannot make system"
	echo "   calls; checking up to the kernel's hand-over to /init)"
	t_boot=900
else
	t_boot=300
fi

GUEST_CONSOLES="$TMP/l1.out $TMP/l2.out $TMP/l3.out"

user_space_checks() { # OUT
	expect "init started" grep -q "vmm-init: started" "$1"
	expect "the command's exit status was reported" grep -q "vmm-init: exit status 0" "$1"
	expect "boot timer signalled by the init" grep -q "Guest-boot-time" "$1"
}

echo "1. vmlinux + initramfs, 2 vCPUs, command from the kernel command line"
write_config "$TMP/l1.json" "$GUEST/vmlinux" 256 2 \
	"-- echo cpus=\$(grep -c ^processor /proc/cpuinfo) hwrng=\$(cat /sys/class/misc/hw_random/rng_current) hwrng_bytes=\$(head -c 64 /dev/hwrng | wc -c)" \
	"[]" "$GUEST/initramfs.cpio"
# With an entropy device (virtio-rng).
python3 - "$TMP/l1.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["entropy"] = {}
json.dump(c, open(sys.argv[1], "w"))
PY
start=$(date +%s.%N)
run_vmm "$t_boot" "$TMP/l1.out" --no-api --boot-timer --config-file "$TMP/l1.json"
echo "  boot took $(echo "$(date +%s.%N) - $start" | bc) s"
expect "VMM exit status 0 (got $rc)" test "$rc" -eq 0
expect "kernel executed /init" grep -q "Run /init as init process" "$TMP/l1.out"
expect "the RNG seed was credited (crng init done before /init)" \
	awk '/crng init done/ {c=1} /Run \/init/ {exit !c}' "$TMP/l1.out"
expect "both vCPUs came up" grep -q "Brought up 1 node, 2 CPUs" "$TMP/l1.out"
expect "the serial console driver took over (8250 on ttyS0)" grep -q "ttyS0 at I/O 0x3f8" "$TMP/l1.out"
expect "exits by reason logged" grep -q "VM exits by reason" "$TMP/l1.out"
if [ "$kind" != nested-pvm ]; then
	# With 2 vCPUs kernel lines may interleave with init's; these lines are written last.
	expect "the command saw 2 CPUs" grep -q "cpus=2 " "$TMP/l1.out"
	expect "the guest reads random bytes from the virtio-rng device" \
		grep -q "hwrng=virtio_rng.0 hwrng_bytes=64" "$TMP/l1.out"
	expect "the command's exit status was reported" grep -q "vmm-init: exit status 0" "$TMP/l1.out"
	expect "boot timer signalled by the init" grep -q "Guest-boot-time" "$TMP/l1.out"
fi

echo "2. bzImage + ext4 root on virtio-blk, read-write"
cp "$ROOT/build/guest/rootfs.ext4" "$TMP/root.ext4"
write_config "$TMP/l2.json" "$GUEST/bzImage" 128 1 \
	"-- echo written-by-guest > /from-guest; sync" \
	"[{\"drive_id\": \"rootfs\", \"path_on_host\": \"$TMP/root.ext4\", \"is_root_device\": true, \"is_read_only\": false, \"io_engine\": \"Async\", \"cache_type\": \"Writeback\"}]"
run_vmm "$t_boot" "$TMP/l2.out" --no-api --boot-timer --config-file "$TMP/l2.json"
expect "VMM exit status 0 (got $rc)" test "$rc" -eq 0
expect "the kernel found the virtio-mmio drive as vda" grep -q "virtio_blk virtio0: \\[vda\\]" "$TMP/l2.out"
expect "ext4 root mounted from /dev/vda" grep -q "VFS: Mounted root (ext4 filesystem)" "$TMP/l2.out"
expect "kernel executed /sbin/init from the drive" grep -q "Run /sbin/init as init process" "$TMP/l2.out"
expect "the image is clean afterwards (e2fsck -fn)" e2fsck -fn "$TMP/root.ext4" >/dev/null 2>&1
if [ "$kind" != nested-pvm ]; then
	user_space_checks "$TMP/l2.out"
	expect "the guest's file is in the image" \
		sh -c "debugfs -R 'cat /from-guest' '$TMP/root.ext4' 2>/dev/null | grep -q written-by-guest"
fi

echo "3. through the API only: configure, start, pause, resume, Ctrl-Alt-Del"
if ! command -v curl >/dev/null; then
	echo "  SKIP: no curl"
	finish
fi
sock="$TMP/api.sock"
"$VMM" --api-sock "$sock" --boot-timer </dev/null >"$TMP/l3.out" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
api() { # METHOD PATH [BODY] -> prints the status code
	curl -s -o "$TMP/api.body" -w '%{http_code}' --unix-socket "$sock" -X "$1" \
		-H 'Content-Type: application/json' ${3:+-d "$3"} "http://localhost$2"
}
cmd="-- sleep 600"
[ "$kind" = nested-pvm ] && cmd=""
expect "PUT /boot-source" test "$(api PUT /boot-source "{\"kernel_image_path\": \"$GUEST/vmlinux\", \"initrd_path\": \"$GUEST/initramfs.cpio\", \"boot_args\": \"$cmd\"}")" = 204
expect "PUT /machine-config" test "$(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}')" = 204
expect "InstanceStart" test "$(api PUT /actions '{"action_type": "InstanceStart"}')" = 204
expect "GET / says Running" sh -c "test \"\$(curl -s --unix-socket '$sock' http://localhost/)\" != '' && curl -s --unix-socket '$sock' http://localhost/ | grep -q '\"Running\"'"
ready="vmm-init: started"
[ "$kind" = nested-pvm ] && ready="Run /init as init process"
for _ in $(seq $((t_boot * 10))); do
	grep -q "$ready" "$TMP/l3.out" && break
	kill -0 "$pid" 2>/dev/null || break # the VMM ended: no point waiting
	sleep 0.1
done
expect "the guest booted ($ready)" grep -q "$ready" "$TMP/l3.out"
if ! grep -q "$ready" "$TMP/l3.out"; then
	echo "    last console and log lines:"
	tail -n 40 "$TMP/l3.out" | sed 's/^/      /'
fi
if [ "$kind" != nested-pvm ]; then
	expect "PATCH /vm Paused" test "$(api PATCH /vm '{"state": "Paused"}')" = 204
	expect "GET / says Paused" sh -c "curl -s --unix-socket '$sock' http://localhost/ | grep -q '\"Paused\"'"
	expect "PATCH /vm Resumed" test "$(api PATCH /vm '{"state": "Resumed"}')" = 204
	expect "boot-source is refused after start" test "$(api PUT /boot-source "{\"kernel_image_path\": \"$GUEST/vmlinux\"}")" = 400
	expect "SendCtrlAltDel" test "$(api PUT /actions '{"action_type": "SendCtrlAltDel"}')" = 204
	# The guest kernel reboots on Ctrl-Alt-Del (init did not disable it): the VMM exits 0.
	for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		fail "the VMM did not exit after Ctrl-Alt-Del"
		kill -KILL "$pid"
	fi
	wait "$pid"
	rc=$?
	expect "Ctrl-Alt-Del rebooted the guest and the VMM exited 0 (got $rc)" test "$rc" -eq 0
	expect "the socket file is gone" test ! -e "$sock"
else
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
fi
finish
