#!/usr/bin/env bash
# virtio-vsock throughput with the test guest (guest.test=vsock guest.vsockbench=MIB):
# host->guest (the guest's port 1235 discards) and guest->host (port 1236 sends MIB MiB)
# through the userspace backend (uds_path, Firecracker's CONNECT protocol) and, where
# /dev/vhost-vsock exists, through vhost-vsock both via the VMM's uds_path bridge and
# straight over AF_VSOCK. Prints one "vsock-bench" line per figure. Needs KVM: run it
# inside tests/kvmhost (timings there are inflated by TCG: compare only figures from the
# same run):
#   tests/kvmhost/run.sh --timeout 600 -- tests/integration/bench_vsock.sh
# VSOCK_BENCH_MIB (default 32) sets the transfer size.
set -u
. "$(dirname "$0")/lib.sh"

need_kvm
command -v python3 >/dev/null || skip "no python3 for the host side"
[ -f "$TESTGUEST" ] || skip "no $TESTGUEST (make testguest)"
MIB=${VSOCK_BENCH_MIB:-32}

cat >"$TMP/bench.py" <<'PY'
import socket, sys, time

uds, serial, mib, backend = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
CID = 7
deadline = time.time() + 120
while b"guest: vsock ready" not in open(serial, "rb").read():
    if time.time() > deadline:
        print("FAIL guest never said 'vsock ready'")
        sys.exit(1)
    time.sleep(0.1)


def conn(port, path):
    if path == "AF_VSOCK":
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect((CID, port))
        return s
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise OSError("CONNECT %d refused" % port)
        line += b
    return s


def run(path):
    total = mib << 20
    buf = bytes(1 << 16)
    s = conn(1235, path)
    t0 = time.time()
    sent = 0
    while sent < total:
        sent += s.send(buf[: min(len(buf), total - sent)])
    s.shutdown(socket.SHUT_WR)
    while s.recv(1 << 16):
        pass
    dt = time.time() - t0
    s.close()
    print("vsock-bench %s %s host->guest %d MiB %.2f s %.1f MB/s" %
          (backend, path, mib, dt, total / dt / 1e6), flush=True)
    s = conn(1236, path)
    t0 = time.time()
    got = 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got += len(b)
    dt = time.time() - t0
    s.close()
    ok = "" if got == total else " (FAIL: got %d bytes)" % got
    print("vsock-bench %s %s guest->host %d MiB %.2f s %.1f MB/s%s" %
          (backend, path, mib, dt, got / dt / 1e6, ok), flush=True)
    return got == total


ok = run("uds_path")
if backend == "vhost":
    ok = run("AF_VSOCK") and ok
try:
    conn(9999, "uds_path")
except OSError:
    pass
sys.exit(0 if ok else 1)
PY

bench() {
	local backend=$1 dir host
	dir=$(mktemp -d "$TMP/vb.XXXX")
	cat >"$dir/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TESTGUEST",
                  "boot_args": "guest.test=vsock guest.cid=7 guest.vsockbench=$MIB"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "vsock": {"guest_cid": 7, "uds_path": "$dir/v.sock"}
}
JSON
	python3 "$TMP/bench.py" "$dir/v.sock" "$dir/vm.out" "$MIB" "$backend" >"$dir/bench.out" 2>&1 &
	host=$!
	run_vmm 300 "$dir/vm.out" --no-api --vsock-backend "$backend" --config-file "$dir/vm.json"
	wait $host
	local hrc=$?
	cat "$dir/bench.out"
	if [ $hrc -eq 0 ] && [ "$rc" -eq 0 ]; then
		pass "$backend: figures above"
	else
		fail "$backend: host side exit $hrc, VMM exit $rc"
		tail -15 "$dir/vm.out" | sed 's/^/      /'
	fi
}

bench userspace
if [ -c /dev/vhost-vsock ]; then
	bench vhost
else
	echo "  SKIP vhost-vsock figures: no /dev/vhost-vsock on this host"
fi
finish
