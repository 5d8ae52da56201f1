#!/usr/bin/env bash
# virtio-vsock with the Linux guest kernel's own driver (CONFIG_VIRTIO_VSOCKETS) and a real
# guest program (/bin/vsock-tool from rootfs-tools/init/vsock-tool.c), one boot of
# vmlinux + initramfs:
#  - the driver binds, and answers the host's CONNECT to a port nobody listens on with RST
#    (the host socket closes without "OK"): it parsed our REQUEST and we parsed its answer;
#  - IOCTL_VM_SOCKETS_GET_LOCAL_CID gives the configured guest_cid;
#  - guest -> host: the guest connects to CID 2 port 5000 (the VMM's <uds_path>_5000),
#    sends a known pattern, shuts down writing; the host checks every byte and answers
#    with its own pattern, which the guest sums (length + Adler-32) to EOF;
#  - host -> guest: "CONNECT 1234" to the guest's listener, "OK <port>", then an echo of
#    a few hundred KiB both ways at once, compared by the host and summed by the guest.
set -u
. "$(dirname "$0")/lib.sh"
GUEST_CONSOLES="$TMP/vm.out"

for f in vmlinux initramfs.cpio; do
	[ -f "$GUEST/$f" ] || skip "missing $GUEST/$f: run 'make guest'"
	cp "$GUEST/$f" "$TMP/$f"
done
need_kvm
[ "$(kvm_kind)" = hardware ] || skip "nested-PVM host: guest user space cannot run the check"
command -v python3 >/dev/null || skip "no python3"

CID=9
GUEST_BYTES=$((256 * 1024)) # guest -> host on port 5000
drv=/sys/bus/virtio/drivers/vmw_vsock_virtio_transport
# The kernel hands at most 32 words to init: the script travels base64-encoded (which
# also keeps the console's command-line echo from matching the result lines).
script="echo vsock-driver: \$(ls $drv | grep -c virtio); vsock-tool cid; vsock-tool serve 1234 & sp=\$!; vsock-tool connect 5000 $GUEST_BYTES; echo connect-status=\$?; wait \$sp; echo serve-status=\$?"
cat >"$TMP/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TMP/vmlinux", "initrd_path": "$TMP/initramfs.cpio",
                  "boot_args": "-- eval \$(echo $(printf %s "$script" | base64 -w0) | base64 -d)"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
  "vsock": {"guest_cid": $CID, "uds_path": "$TMP/v.sock"}
}
JSON
cat >"$TMP/host.py" <<'PY'
import os, socket, sys, threading, time, zlib
uds, out, ready, lib, gbytes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sys.path.insert(0, lib)
from vsock_host import connect, pat_host, recv_all, wait_serial

HOST_BYTES = 200 * 1024  # host -> guest answer on port 5000
ECHO_BYTES = 384 * 1024  # host -> guest -> host on port 1234


def pat_guest(n):
    # vsock-tool.c's pat_guest()
    return bytes((k * 7 + 3 + (k >> 12)) & 0xFF for k in range(n))


def say(*a):
    print(*a, flush=True)


answer = bytes(pat_host(k) for k in range(HOST_BYTES))
say("expect-connect-line=vsock-tool: connect port=5000 sent=%d received=%d adler32=%08x"
    % (gbytes, HOST_BYTES, zlib.adler32(answer)))

# guest -> host: the VMM connects the guest's CID 2 port 5000 to <uds>_5000.
lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lst.bind(uds + "_5000")
lst.listen(1)
lst.settimeout(120)


def serve_5000():
    try:
        c, _ = lst.accept()
        c.settimeout(60)
        got = recv_all(c, gbytes + 1)
        ok = got == pat_guest(gbytes)
        say("guest-bytes len=%d match=%d" % (len(got), ok))
        c.sendall(answer)
        c.close()
        say("answered=%d" % len(answer))
    except OSError as e:
        say("port5000-error=%r" % e)


t5000 = threading.Thread(target=serve_5000)
t5000.start()
open(ready, "w").close()

# The line the init's shell prints: a connection made before the driver's probe is
# torn down by its device reset.
if not wait_serial(out, b"\nvsock-driver: 1", 120):
    say("driver-line-missing")
    sys.exit(1)
t0 = time.time()
try:
    s, line = connect(uds, 4321, 10)
    r = line + s.recv(64)
    s.close()
except OSError as e:
    r = repr(e).encode()
# The VMM's own timeout (5 s) would also close it: only a quick close is Linux's RST.
say("answer=%r quick=%d after %.2f s" % (r, time.time() - t0 < 4, time.time() - t0))

# host -> guest: CONNECT to vsock-tool serve 1234, then echo.
if not wait_serial(out, b"vsock-tool: listening on port 1234", 60):
    say("listen-line-missing")
    sys.exit(1)
try:
    s, line = connect(uds, 1234, 60)
    say("connect-answer=%r" % line)
    data = os.urandom(ECHO_BYTES)

    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            say("echo-send-error=%r" % e)

    ts = threading.Thread(target=send)
    t0 = time.time()
    ts.start()
    echo = recv_all(s, ECHO_BYTES + 1)
    ts.join()
    s.close()
    say("echo len=%d match=%d in %.2f s" % (len(echo), echo == data, time.time() - t0))
    say("expect-serve-line=vsock-tool: served cid=2 port=1234 echoed=%d adler32=%08x"
        % (ECHO_BYTES, zlib.adler32(data)))
except OSError as e:
    say("echo-error=%r" % e)
t5000.join()
PY
timeout -k 5 ${VSOCK_LINUX_TIMEOUT:-240} python3 "$TMP/host.py" "$TMP/v.sock" "$TMP/vm.out" "$TMP/host.ready" "$ROOT/tests/integration" \
	$GUEST_BYTES >"$TMP/host.out" 2>&1 &
host=$!
for _ in $(seq 300); do [ -e "$TMP/host.ready" ] && break; sleep 0.1; done
[ -e "$TMP/host.ready" ] || fail "host side did not start"
run_vmm ${VSOCK_LINUX_TIMEOUT:-240} "$TMP/vm.out" --no-api --level ${VSOCK_LOG_LEVEL:-Info} \
	--config-file "$TMP/vm.json"
wait $host
# Strip the console's CRs so whole-line matches work.
tr -d '\r' <"$TMP/vm.out" >"$TMP/vm.txt"
connect_line=$(sed -n 's/^expect-connect-line=//p' "$TMP/host.out")
serve_line=$(sed -n 's/^expect-serve-line=//p' "$TMP/host.out")
expect "VMM exit 0 (rc $rc)" test "$rc" -eq 0
expect "the Linux virtio-vsock driver bound to the device" grep -q "^vsock-driver: 1" "$TMP/vm.txt"
expect "Linux answered CONNECT to an unused port with RST: host socket closed without OK" \
	grep -q "answer=b'' quick=1" "$TMP/host.out"
expect "IOCTL_VM_SOCKETS_GET_LOCAL_CID in the guest gives guest_cid $CID" \
	grep -qx "vsock-tool: cid $CID" "$TMP/vm.txt"
expect "guest -> host port 5000: the host got all $GUEST_BYTES bytes of the guest's pattern" \
	grep -qx "guest-bytes len=$GUEST_BYTES match=1" "$TMP/host.out"
expect "guest -> host port 5000: the guest read the host's answer to EOF, length and Adler-32 match" \
	grep -qxF "${connect_line:-no expected line}" "$TMP/vm.txt"
expect "guest connect exited 0" grep -qx "connect-status=0" "$TMP/vm.txt"
expect "host -> guest port 1234: CONNECT answered OK <port>" \
	grep -qE "^connect-answer=b'OK [0-9]+\\\\n'$" "$TMP/host.out"
expect "host -> guest port 1234: the echo came back whole" \
	grep -qE "^echo len=$((384 * 1024)) match=1 " "$TMP/host.out"
expect "host -> guest port 1234: the guest echoed every byte (length and Adler-32)" \
	grep -qxF "${serve_line:-no expected line}" "$TMP/vm.txt"
expect "guest serve exited 0" grep -qx "serve-status=0" "$TMP/vm.txt"
grep -E "^echo len=" "$TMP/host.out"
[ "$failures" -eq 0 ] || { cat "$TMP/host.out"; grep -i -E "vsock|vmm-init|status=" "$TMP/vm.txt" | tail -20; }
finish
