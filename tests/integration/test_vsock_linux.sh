#!/usr/bin/env bash
# virtio-vsock with the Linux guest kernel's own driver (CONFIG_VIRTIO_VSOCKETS): it must
# bind to the device, and answer the host's CONNECT to a port nobody listens on in the
# guest with RST (the host socket closes without "OK"), which proves it parsed our
# REQUEST (CIDs, ports, type) and we parsed its answer. One boot of vmlinux + initramfs.
set -u
. "$(dirname "$0")/lib.sh"

for f in vmlinux initramfs.cpio; do
	[ -f "$GUEST/$f" ] || skip "missing $GUEST/$f: run 'make guest'"
	cp "$GUEST/$f" "$TMP/$f"
done
need_kvm
[ "$(kvm_kind)" = hardware ] || skip "nested-PVM host: guest user space cannot run the check"
command -v python3 >/dev/null || skip "no python3"

drv=/sys/bus/virtio/drivers/vmw_vsock_virtio_transport
cat >"$TMP/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TMP/vmlinux", "initrd_path": "$TMP/initramfs.cpio",
                  "boot_args": "-- echo vsock-driver: \$(ls $drv | grep -c virtio); sleep 8"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
  "vsock": {"guest_cid": 9, "uds_path": "$TMP/v.sock"}
}
JSON
python3 - "$TMP/v.sock" "$TMP/vm.out" >"$TMP/host.out" 2>&1 <<'PY' &
import socket, sys, time
uds, out = sys.argv[1:3]
deadline = time.time() + 200
while time.time() < deadline:
    try:
        # The line the init prints, not the command line echoed in the boot log: a
        # connection made before the driver's probe is torn down by its device reset.
        if b"\nvsock-driver: 1" in open(out, "rb").read():
            break
    except OSError:
        pass
    time.sleep(0.1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(uds)
s.sendall(b"CONNECT 1234\n")
t0 = time.time()
try:
    r = s.recv(64)
except OSError as e:
    r = repr(e).encode()
# The VMM's own timeout (5 s) would also close it: only a quick close is Linux's RST.
print("answer=%r quick=%d after %.2f s" % (r, time.time() - t0 < 4, time.time() - t0))
PY
host=$!
run_vmm 240 "$TMP/vm.out" --no-api --level ${VSOCK_LOG_LEVEL:-Info} --config-file "$TMP/vm.json"
wait $host
expect "VMM exit 0 (rc $rc)" test "$rc" -eq 0
expect "the Linux virtio-vsock driver bound to the device" grep -q "vsock-driver: 1" "$TMP/vm.out"
expect "Linux answered CONNECT to an unused port with RST: host socket closed without OK" \
	grep -q "answer=b'' quick=1" "$TMP/host.out"
[ "$failures" -eq 0 ] || { cat "$TMP/host.out"; grep -i -E "vsock|vmm-init" "$TMP/vm.out" | tail; }
finish
