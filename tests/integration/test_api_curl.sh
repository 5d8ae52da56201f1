#!/usr/bin/env bash
# End-to-end API test with a real client: starts the vmm binary with --api-sock and drives
# every pre-boot endpoint with `curl --unix-socket`, success and failure, plus the socket
# file handling (stale file replaced, live socket refused, removed on exit).
# Needs no KVM: nothing here boots a guest (InstanceStart is only checked for a clean
# refusal). Exit 0 pass, 1 fail, 77 skip.
set -u
cd "$(dirname "$0")/../.."
VMM=${VMM:-build/release/bin/vmm}
[ -x "$VMM" ] || VMM=build/release/vmm
if ! command -v curl >/dev/null; then echo "SKIP: curl not installed"; exit 77; fi
if [ ! -x "$VMM" ] || [ -d "$VMM" ]; then echo "SKIP: no vmm binary (make first)"; exit 77; fi

TMP=$(mktemp -d /tmp/test_api_curl.XXXXXX)
SOCK=$TMP/api.sock
VMM_PID=
passed=0 failed=0
cleanup() {
	[ -n "$VMM_PID" ] && kill "$VMM_PID" 2>/dev/null && wait "$VMM_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

start_vmm() {
	"$VMM" --api-sock "$SOCK" --id curl_test "$@" >"$TMP/vmm.log" 2>&1 &
	VMM_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$VMM_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "vmm did not create its socket:"; cat "$TMP/vmm.log"; exit 1
}

# api METHOD PATH [BODY] -> sets CODE and BODY
api() {
	local args=(-s -o "$TMP/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1"
		"http://localhost$2")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	CODE=$(curl "${args[@]}")
	BODY=$(cat "$TMP/body")
}

# expect METHOD PATH BODY|- CODE [substring of the response]
expect() {
	if [ "$3" = - ]; then api "$1" "$2"; else api "$1" "$2" "$3"; fi
	if [ "$CODE" = "$4" ] && { [ $# -lt 5 ] || [[ "$BODY" == *"$5"* ]]; }; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $1 $2 $3 -> $CODE $BODY (want $4 ${5:-})"
	fi
}

check() { # check NAME COMMAND...
	local name=$1; shift
	if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}

# A stale socket file from a dead process is replaced.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$SOCK" 2>/dev/null ||
	: >"$SOCK.unused"
start_vmm

expect GET / - 200 '"state":"Not started"'
expect GET / - 200 '"id":"curl_test"'
expect GET /version - 200 firecracker_version
expect GET /machine-config - 200 '"vcpu_count":1'
expect GET /vm/config - 200 '"machine-config"'

# boot-source
expect PUT /boot-source '{"kernel_image_path": "/nonexistent/vmlinux", "boot_args": "console=ttyS0"}' 204
expect PUT /boot-source '{}' 400 'boot-source.kernel_image_path: missing required field'
expect PUT /boot-source '{"kernel_image_path": 1}' 400 'must be a string'
expect PUT /boot-source '{"kernel_image_path": "/k", "extra": 1}' 400 'boot-source.extra: unknown field'
expect PUT /boot-source '{"kernel_image_path": "/k"' 400 'invalid JSON'
expect GET /boot-source - 405 fault_message

# machine-config
expect PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}' 204
expect PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 256}' 400 'machine-config.vcpu_count: must be between 1 and 32'
expect PUT /machine-config '{"vcpu_count": 3, "mem_size_mib": 256, "smt": true}' 400 'even'
expect PUT /machine-config '{"vcpu_count": 2}' 400 'mem_size_mib: missing required field'
expect PATCH /machine-config '{"mem_size_mib": 512}' 204
expect PATCH /machine-config '{"mem_size_mib": "lots"}' 400 'must be an integer'
expect GET /machine-config - 200 '"mem_size_mib":512'

# drives
expect PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/r.ext4", "is_root_device": true, "is_read_only": false}' 204
expect PUT /drives/data '{"drive_id": "data", "path_on_host": "/d.img", "is_root_device": false, "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 1000}}}' 204
expect PUT /drives/other '{"drive_id": "data", "path_on_host": "/d.img", "is_root_device": false}' 400 'does not match'
expect PUT /drives/second_root '{"drive_id": "second_root", "path_on_host": "/d", "is_root_device": true}' 400 'already the root device'
expect PUT /drives/bad-id '{"drive_id": "bad-id", "path_on_host": "/d", "is_root_device": false}' 400 'drive_id in the path'
expect PUT /drives/x '{"drive_id": "x", "path_on_host": "", "is_root_device": false}' 400 'must not be empty'
expect PATCH /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/new"}' 400 'only allowed after the microVM has started'

# network interfaces
expect PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}' 204
expect PUT /network-interfaces/eth1 '{"iface_id": "eth1", "host_dev_name": "tap1", "guest_mac": "06:00:ac:10:00:02"}' 400 'guest_mac: already used'
expect PUT /network-interfaces/eth1 '{"iface_id": "eth1", "host_dev_name": "tap1", "guest_mac": "not-a-mac"}' 400 'guest_mac: must be a MAC address'
expect PATCH /network-interfaces/eth0 '{"iface_id": "eth0"}' 400 'only allowed after'

# vsock, entropy
expect PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$TMP/v.sock\"}" 204
expect PUT /vsock '{"guest_cid": 2, "uds_path": "/v"}' 400 'vsock.guest_cid'
expect PUT /entropy '{}' 204
expect PUT /entropy '{"rate_limiter": {"ops": {"size": 10}}}' 400 'refill_time: missing required field'

# serial: opened at InstanceStart, so any path is accepted here
expect PUT /serial '{}' 204
expect PUT /serial "{\"serial_out_path\": \"$TMP/console\", \"rate_limiter\": {\"size\": 100, \"refill_time\": 1000}}" 204
expect PUT /serial '{"serial_out_path": 5}' 400 'serial.serial_out_path: must be a string'
expect PUT /serial '{"serial_out_path": ""}' 400 'serial.serial_out_path: must not be empty'
expect PUT /serial '{"out_path": "/x"}' 400 'serial.out_path: unknown field'
expect PUT /serial '{"rate_limiter": {"size": 10}}' 400 'serial.rate_limiter.refill_time: missing required field'
expect PUT /serial '{"rate_limiter": {"size": -1, "refill_time": 10}}' 400 'serial.rate_limiter.size: must be between'
expect PUT /serial '{"rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}}' 400 'serial.rate_limiter.bandwidth: unknown field'
expect PUT /serial '[]' 400 'serial: must be a JSON object'
expect GET /serial - 405 fault_message

# logger, metrics
expect PUT /logger "{\"log_path\": \"$TMP/log\", \"level\": \"Debug\", \"show_level\": true}" 204
expect PUT /logger '{"level": "Verbose"}' 400 'logger.level'
expect PUT /metrics '{"metrics_path": "/nonexistent/dir/m"}' 400 'cannot open'
expect PUT /actions '{"action_type": "FlushMetrics"}' 400 'not initialized'
expect PUT /metrics "{\"metrics_path\": \"$TMP/metrics\"}" 204
expect PUT /metrics "{\"metrics_path\": \"$TMP/metrics\"}" 400 'already initialized'
expect PUT /actions '{"action_type": "FlushMetrics"}' 204
check "metrics line written" grep -q '"api_server"' "$TMP/metrics"

# actions and vm state before boot
expect PUT /actions '{"action_type": "SendCtrlAltDel"}' 400 'only allowed after'
expect PUT /actions '{"action_type": "Reboot"}' 400 'actions.action_type'
expect PATCH /vm '{"state": "Paused"}' 400 'not started'
expect PATCH /vm '{"state": "Sleeping"}' 400 'vm.state'
# InstanceStart with a kernel that does not exist: refused cleanly, the VMM keeps serving.
expect PUT /actions '{"action_type": "InstanceStart"}' 400 fault_message
expect GET / - 200 '"state":"Not started"'

expect GET /vm/config - 200 '"drive_id":"rootfs"'
check "vm/config has the vsock" grep -q '"guest_cid":3' "$TMP/body"
# the refused PUTs after the good one left it in place
check "vm/config has the serial console" grep -qF "\"serial\":{\"serial_out_path\":\"$TMP/console\",\"rate_limiter\":{\"size\":100,\"one_time_burst\":0,\"refill_time\":1000}}" "$TMP/body"
check "nothing opened serial_out_path before InstanceStart" [ ! -e "$TMP/console" ]

# unsupported and unknown
for ep in /balloon /balloon/statistics /mmds /mmds/config /snapshot/create /snapshot/load \
	/cpu-config /pmem/p0 /hotplug/memory; do
	expect PUT "$ep" '{}' 400 'is not supported'
done
expect GET /no/such/thing - 404 fault_message
expect DELETE /machine-config - 405 fault_message

# HTTP-level refusals
head -c 100000 /dev/zero | tr '\0' ' ' >"$TMP/big"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
	--data-binary @"$TMP/big" -H 'Expect:' http://localhost/boot-source)
check "huge body -> 413 ($CODE)" [ "$CODE" = 413 ]
CODE=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
	-H 'Transfer-Encoding: chunked' --data-binary '{}' http://localhost/boot-source)
check "chunked -> 411 ($CODE)" [ "$CODE" = 411 ]
# keep-alive: curl reuses one connection for several URLs.
curl -sv --unix-socket "$SOCK" http://localhost/ http://localhost/version http://localhost/ \
	>/dev/null 2>"$TMP/ka"
check "keep-alive reuse" grep -q 'Re-using existing connection' "$TMP/ka"

# 100 concurrent clients
for i in $(seq 100); do
	curl -s -o /dev/null -w '%{http_code}\n' --unix-socket "$SOCK" http://localhost/machine-config &
done >"$TMP/conc"
wait $(jobs -p | grep -v "^$VMM_PID\$") 2>/dev/null
check "100 concurrent clients all 200" [ "$(grep -c '^200$' "$TMP/conc")" = 100 ]

# 100 keep-alive clients x 20 configuration requests each, then all hang up: the API
# thread allocates and frees their buffers (this once made glibc open a /proc file from
# the API thread, which its seccomp filter kills: see the exit status below).
python3 - "$SOCK" <<'PY' >"$TMP/ka100" 2>&1
import socket, sys
conns = []
for _ in range(100):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
body = b'{"vcpu_count": 2, "mem_size_mib": 256}'
req = b"PUT /machine-config HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
ok = 0
for _ in range(20):
    for s in conns:
        s.sendall(req)
    for s in conns:
        s.settimeout(10)
        ok += s.recv(4096).startswith(b"HTTP/1.1 204")
for s in conns:
    s.close()
print("answered", ok)
PY
check "100 keep-alive clients x 20 PUTs all 204 ($(cat "$TMP/ka100"))" grep -qx 'answered 2000' "$TMP/ka100"

# A live socket is not stolen by a second instance.
"$VMM" --api-sock "$SOCK" --id second >"$TMP/second.log" 2>&1
check "second instance refused" [ $? -ne 0 ]
expect GET / - 200 curl_test

# Clean exit removes the socket file.
kill -TERM "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
rc=$?
VMM_PID=
check "socket removed on exit" [ ! -e "$SOCK" ]
check "clean exit on SIGTERM after all that (status $rc; 148: a seccomp kill)" [ "$rc" = 143 ]
if grep -q 'seccomp violation' "$TMP/vmm.log"; then
	failed=$((failed + 1)); echo "FAIL: $(grep 'seccomp violation' "$TMP/vmm.log")"
fi

echo "test_api_curl: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
