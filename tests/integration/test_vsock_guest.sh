#!/usr/bin/env bash
# virtio-vsock with the test guest (guest.test=vsock) over the VMM's Unix-socket backend,
# Firecracker's hybrid protocol, seccomp filters on. Host side in python3 (stdlib only):
#   - guest-initiated: the guest connects to CID 2 port 5000 (our listener on
#     <uds_path>_5000), sends 100 KiB and shuts down; we check it and answer 200 KiB; its
#     connection to port 5001 (nobody listens) must get RST (the guest checks);
#   - host-initiated: "CONNECT 1234\n" -> "OK <port>\n", then a multi-MiB echo with
#     SHA-256 compared, 32 concurrent echo connections, CONNECT to a port with no guest
#     listener (closed without OK), a malformed and a never-finished CONNECT line (only
#     that socket closes, the VM keeps serving), a client that closes mid-transfer
#     (peer close / reset), then a connection to port 9999 that ends the guest.
# Also: the uds_path socket is removed when the VMM exits. Run on a KVM host or inside
# tests/kvmhost/run.sh. VSOCK_ASAN=0 skips the second run under the ASAN VMM.
#
# Where /dev/vhost-vsock exists (tests/kvmhost's L1 loads vhost_vsock) the same guest
# runs again with `--vsock-backend vhost`: the guest's connection to CID 2 port 5000 then
# reaches an AF_VSOCK listener (port 5001 has none: the host kernel answers RST), the
# host-initiated checks above go through the VMM's uds_path bridge (CONNECT/OK), a
# large echo also goes straight over AF_VSOCK to (guest_cid, 1234), and a second VMM
# asking for the same guest_cid fails InstanceStart with a config error.
set -u
. "$(dirname "$0")/lib.sh"

need_kvm
echo "host kind: $(kvm_kind)"
command -v python3 >/dev/null || skip "no python3 for the host side"
[ -f "$TESTGUEST" ] || skip "no $TESTGUEST (make testguest)"

cat >"$TMP/host.py" <<'PY'
import hashlib, os, socket, sys, threading, time

sys.path.insert(0, os.environ["VSOCK_HOST_LIB"])
from vsock_host import pat_host, recv_all

uds, serial, big_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
vhost = len(sys.argv) > 4 and sys.argv[4] == "vhost"
GUEST_CID = 7
results = []
lock = threading.Lock()


def report(ok, what):
    with lock:
        results.append((ok, what))
        print(("PASS " if ok else "FAIL ") + what, flush=True)


def pat_guest(k):
    return (k * 7 + 3 + (k >> 12)) & 0xFF


# --- guest-initiated: listener on <uds>_5000 (vhost: AF_VSOCK port 5000), up before the
# guest boots ---
if vhost:
    lst = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((socket.VMADDR_CID_ANY, 5000))
    where = "AF_VSOCK port 5000"
else:
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(uds + "_5000")
    where = uds + "_5000"
lst.listen(4)


def guest_client():
    lst.settimeout(90)
    try:
        c, _ = lst.accept()
    except OSError as e:
        report(False, "guest-initiated: no connection on %s (%s)" % (where, e))
        return
    if vhost:
        report(_[0] == GUEST_CID, "guest-initiated over AF_VSOCK from CID %d" % _[0])
    c.settimeout(60)
    data = recv_all(c)
    want = bytes(pat_guest(k) for k in range(100 * 1024))
    report(data == want, "guest-initiated: 100 KiB from the guest intact, then EOF (got %d)" % len(data))
    c.sendall(bytes(pat_host(k) for k in range(200 * 1024)))
    c.close()


gt = threading.Thread(target=guest_client)
gt.start()
open(uds + ".ready", "w").close()

# --- wait for the guest to serve ---
deadline = time.time() + 120
while time.time() < deadline:
    try:
        if b"guest: vsock ready" in open(serial, "rb").read():
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    report(False, "guest never said 'vsock ready'")
    sys.exit(1)
gt.join(10)


def connect(port, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n") and len(line) < 64:
        b = s.recv(1)
        if not b:
            break
        line += b
    return s, line


def echo(payload, what, half_close=True, direct=False):
    if direct:
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect((GUEST_CID, 1234))
    else:
        s, line = connect(1234)
        if not line.startswith(b"OK "):
            report(False, "%s: CONNECT answered %r" % (what, line))
            return False
    got = []
    r = threading.Thread(target=lambda: got.append(recv_all(s)))
    r.start()
    s.sendall(payload)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    r.join(120)
    s.close()
    data = got[0] if got else b""
    ok = hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
    report(ok, "%s: %d bytes echoed back intact, then EOF (got %d)" % (what, len(payload), len(data)))
    return ok


# host-initiated, OK line
s, line = connect(1234)
port = int(line.split()[1]) if line.startswith(b"OK ") and line.endswith(b"\n") else -1
report(port >= (1 if vhost else 1 << 30), "CONNECT 1234 answered 'OK <host port>' (%r)" % line)
s.close()

t0 = time.time()
echo(os.urandom(big_mib << 20), "large echo")
print("  large echo: %d MiB in %.1f s" % (big_mib, time.time() - t0), flush=True)
if vhost:
    t0 = time.time()
    echo(os.urandom(big_mib << 20), "large echo straight over AF_VSOCK", direct=True)
    print("  AF_VSOCK echo: %d MiB in %.1f s" % (big_mib, time.time() - t0), flush=True)
    # The CID is taken: a second VMM asking for it must fail InstanceStart cleanly.
    import json, subprocess
    cfg = json.load(open(os.environ["VSOCK_VM_JSON"]))
    cfg["vsock"]["uds_path"] = uds + ".second"
    open(uds + ".second.json", "w").write(json.dumps(cfg))
    p = subprocess.run([os.environ["VSOCK_VMM"], "--no-api", "--vsock-backend", "vhost",
                        "--config-file", uds + ".second.json"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    ok = p.returncode != 0 and "already used by another VM" in out
    report(ok, "second VMM with guest_cid 7 in use: refused to start (exit %d): %s" %
           (p.returncode, "config error logged" if ok else "no config error"))
    if not ok:
        print(out[-2000:])

# 32 concurrent connections
oks = []
def one(i):
    oks.append(echo(bytes([i]) * 1000 + os.urandom(63 * 1024), "concurrent %d" % i))
ths = [threading.Thread(target=one, args=(i,)) for i in range(32)]
for t in ths:
    t.start()
for t in ths:
    t.join(120)
report(len(oks) == 32 and all(oks), "32 concurrent echo connections all intact")

# no listener in the guest
s, line = connect(4321)
report(line == b"", "CONNECT to a port with no guest listener: closed without OK (%r)" % line)
s.close()

# malformed line, and a line that never ends: only those sockets close
bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
bad.settimeout(10)
bad.connect(uds)
slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
slow.settimeout(20)
slow.connect(uds)
slow.sendall(b"CONNECT 12")
bad.sendall(b"CONNECT one\n")
report(bad.recv(16) == b"", "malformed CONNECT line: that socket closed")
bad.close()
echo(b"still serving" * 1000, "echo while a CONNECT line is pending")
t0 = time.time()
try:
    r = slow.recv(16)
except OSError:
    r = b"timeout"
report(r == b"" and time.time() - t0 < 15, "unfinished CONNECT line: closed after the timeout")
slow.close()

# peer close mid-transfer, in both directions
s, line = connect(1234)
s.sendall(os.urandom(512 * 1024)[: 256 * 1024])
s.close()
s, line = connect(1234)
s.sendall(os.urandom(64 * 1024))
s.recv(1000)
s.close()
time.sleep(0.5)
echo(os.urandom(1 << 20), "echo after clients closed mid-transfer")

# end of test
s, line = connect(9999)
report(line == b"", "CONNECT 9999 (the guest's stop signal) refused with RST")
s.close()
sys.exit(0 if all(ok for ok, _ in results) else 1)
PY

# run_suite NAME VMM_BINARY BIG_MIB [vhost]
run_suite() {
	local name=$1 vmm=$2 big=$3 mode=${4:-uds} dir host rcs extra=""
	dir=$(mktemp -d "$TMP/vs.XXXX")
	cat >"$dir/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TESTGUEST", "boot_args": "guest.test=vsock guest.cid=7"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "vsock": {"guest_cid": 7, "uds_path": "$dir/v.sock"}
}
JSON
	# A stale socket file where the VMM will listen: it must be replaced.
	python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$dir/v.sock"
	[ "$mode" = vhost ] && extra="--vsock-backend vhost"
	VSOCK_HOST_LIB=$(cd "$(dirname "$0")" && pwd) VSOCK_VMM=$vmm VSOCK_VM_JSON=$dir/vm.json python3 "$TMP/host.py" "$dir/v.sock" \
		"$dir/vm.out" "$big" "$mode" >"$dir/host.out" 2>&1 &
	host=$!
	for _ in $(seq 300); do [ -e "$dir/v.sock.ready" ] && break; sleep 0.1; done
	VMM=$vmm run_vmm ${VSOCK_TEST_TIMEOUT:-150} "$dir/vm.out" --no-api --level Info \
		$extra --config-file "$dir/vm.json"
	wait $host
	rcs=$?
	sed 's/^/    /' "$dir/host.out"
	if grep -q '^FAIL' "$dir/host.out" || [ $rcs -ne 0 ]; then
		fail "$name: host side (exit $rcs)"
	else
		pass "$name: host side, $(grep -c '^PASS' "$dir/host.out") checks"
	fi
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$dir/vm.out"; then
		pass "$name: guest $(grep -o 'guest: RESULT.*' "$dir/vm.out")"
	else
		fail "$name: guest: VMM exit $rc"
		grep -E "guest: (FAIL|RESULT)|error|seccomp" "$dir/vm.out" | head -20 | sed 's/^/      /'
		tail -15 "$dir/vm.out" | sed 's/^/      /'
	fi
	if [ "$mode" = vhost ]; then
		expect "$name: the VMM logged the vhost-vsock backend" \
			grep -q "vsock: guest CID 7, vhost-vsock backend" "$dir/vm.out"
	else
		expect "$name: the VMM logged the userspace backend" \
			grep -q "vsock: guest CID 7, host socket $dir/v.sock, userspace backend" \
			"$dir/vm.out"
	fi
	expect "$name: uds_path removed at exit" test ! -e "$dir/v.sock"
}

run_suite "release VMM, seccomp on" "$VMM" "${VSOCK_BIG_MIB:-4}"
ASAN_VMM=$ROOT/build/asan/bin/vmm
if [ "${VSOCK_ASAN:-1}" != 0 ] && [ -x "$ASAN_VMM" ]; then
	run_suite "ASAN VMM, seccomp on" "$ASAN_VMM" 1
else
	echo "  SKIP ASAN run: no $ASAN_VMM (make BUILD=asan) or VSOCK_ASAN=0"
fi
if [ -c /dev/vhost-vsock ]; then
	run_suite "vhost-vsock backend, release VMM, seccomp on" "$VMM" "${VSOCK_BIG_MIB:-4}" vhost
else
	echo "  SKIP vhost-vsock half: no /dev/vhost-vsock on this host (modprobe vhost_vsock;"
	echo "       tests/kvmhost's L1 has it): --vsock-backend vhost untested here"
fi
finish
