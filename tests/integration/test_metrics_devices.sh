#!/usr/bin/env bash
# Device metrics against what the test guest did: --metrics-path's last line (written at
# exit) must carry "net", "net_eth0" and "vsock" with counters that match the traffic.
#   net (guest.test=net on a TAP in a fresh network namespace, a raw-socket peer that
#   answers the guest's frame): userspace backend: exactly one good frame of 78 bytes
#   sent, the two hostile TX chains counted as malformed, the peer's answer received,
#   "net" equal to "net_eth0"; vhost-net backend (where /dev/vhost-net exists): the
#   frames move in the kernel (no userspace frame counted), the ring error vhost reported
#   is counted.
#   vsock (guest.test=vsock, host side over the Unix socket): the guest's 100 KiB to
#   port 5000 and our 200 KiB answer, 3 echo connections of 64 KiB (bytes both ways and
#   connections opened counted exactly), the guest's refused connection to port 5001;
#   with vhost-vsock (where /dev/vhost-vsock exists) the kernel carries the guest's own
#   connection and the counters are the uds_path bridge's: the echo connections only.
# Seccomp on (the default). Run on a KVM host as root, or inside tests/kvmhost/run.sh.
set -u
if [ -z "${METRICS_TEST_IN_NETNS:-}" ] && unshare -n true 2>/dev/null; then
	# The namespace, and the TAP in it, vanish with this process.
	exec unshare -n env METRICS_TEST_IN_NETNS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

need_kvm
echo "host kind: $(kvm_kind)"
command -v python3 >/dev/null || skip "no python3"
[ -f "$TESTGUEST" ] || skip "no $TESTGUEST (make testguest)"

# flatten FILE: the last metrics line of FILE as "group.counter value" lines in FILE.flat
# (one python start: under TCG each costs about a second).
flatten() {
	python3 - "$1" >"$1.flat" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for g, o in (json.loads(lines[-1]) if lines else {}).items():
    for k, v in (o.items() if isinstance(o, dict) else ()):
        print("%s.%s %s" % (g, k, v))
PY
}

# check_metric FILE GROUP KEY OP VALUE: OP is a test(1) comparison (-eq, -ge, ...).
check_metric() {
	local v
	v=$(awk -v k="$2.$3" '$1 == k { print $2 }' "$1.flat" 2>/dev/null)
	expect "$2.$3 = ${v:-none} ($4 $5)" test "${v:--1}" "$4" "$5"
}

# --- virtio-net ---
IP=$(command -v ip || echo /usr/sbin/ip)
if [ -z "${METRICS_TEST_IN_NETNS:-}" ]; then
	echo "  SKIP net part: cannot create a network namespace (needs CAP_SYS_ADMIN)"
elif [ ! -c /dev/net/tun ] || [ ! -x "$IP" ]; then
	echo "  SKIP net part: no /dev/net/tun or ip(8)"
else
	TAP=vmtap0 MAC=06:00:ac:10:00:02
	"$IP" link set lo up
	"$IP" tuntap add dev $TAP mode tap
	echo 1 >/proc/sys/net/ipv6/conf/$TAP/disable_ipv6 2>/dev/null || true
	"$IP" link set $TAP up
	# The peer answers each frame of the guest's (ethertype 0x88b5, not its own answers)
	# until told to stop: one python start for both runs (each costs seconds under TCG).
	cat >"$TMP/peer.py" <<'PY'
import os, socket, sys, time
tap, stop, ready = sys.argv[1:4]
PEER = b"\x02\x11\x22\x33\x44\x55"
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((tap, 0))
s.settimeout(0.2)
open(ready, "w").close()
deadline = time.time() + 240
while time.time() < deadline and not os.path.exists(stop):
    try:
        f = s.recv(65536)
    except socket.timeout:
        continue
    if len(f) >= 14 and f[12:14] == b"\x88\xb5" and f[6:12] != PEER:
        body = b"host-to-guest " + f[14:].rstrip(b"\0")
        s.send(f[6:12] + PEER + b"\x88\xb5" + body.ljust(46, b"\0"))
PY
	# net_run BACKEND VHOST: one guest.test=net run; metrics in $TMP/net-BACKEND.m.
	net_run() {
		local backend=$1 vh=$2 m=$TMP/net-$1.m
		cat >"$TMP/net.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TESTGUEST", "boot_args": "guest.test=net guest.mac=$((0x${MAC//:/})) guest.netslot=0 guest.netvhost=$vh"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "$TAP", "guest_mac": "$MAC"}]
}
JSON
		run_vmm 60 "$TMP/net.out" --no-api --config-file "$TMP/net.json" \
			--net-backend "$backend" --metrics-path "$m"
		guest_result "net $backend" "$TMP/net.out"
		expect "net $backend: one metrics line, written at exit" test "$(wc -l <"$m" 2>/dev/null)" = 1
	}
	python3 "$TMP/peer.py" $TAP "$TMP/stop" "$TMP/ready" &
	peer=$!
	for _ in $(seq 300); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
	net_run userspace 0
	m=$TMP/net-userspace.m
	flatten "$m"
	check_metric "$m" net_eth0 tx_packets_count -eq 1
	check_metric "$m" net_eth0 tx_bytes_count -eq 78
	check_metric "$m" net_eth0 tx_malformed_frames -eq 2
	check_metric "$m" net_eth0 rx_packets_count -ge 1
	check_metric "$m" net_eth0 rx_bytes_count -ge 60
	check_metric "$m" net_eth0 vhost -eq 0
	expect "net userspace: \"net\" equals \"net_eth0\" (one interface, 15 counters)" \
		test "$(sed -n 's/^net\.//p' "$m.flat" | sort)" = "$(sed -n 's/^net_eth0\.//p' "$m.flat" | sort)" -a \
		"$(grep -c '^net\.' "$m.flat")" = 15
	if [ -c /dev/vhost-net ]; then
		net_run vhost 1
		m=$TMP/net-vhost.m
		flatten "$m"
		check_metric "$m" net_eth0 vhost_ring_errors -ge 1
		check_metric "$m" net_eth0 tx_packets_count -eq 0
	else
		echo "  SKIP vhost-net run: no /dev/vhost-net here (tests/kvmhost/run.sh's L1 has one)"
	fi
	touch "$TMP/stop"
	wait $peer
fi

echo "  (net part: ${SECONDS} s)"
# --- virtio-vsock ---
cat >"$TMP/vs_host.py" <<'PY'
import socket, sys, threading
sys.path.insert(0, sys.argv[4])
from vsock_host import connect, pat_host, recv_all, wait_serial
uds, serial, out, _, mode = sys.argv[1:6]
# Bytes each way: "gi" the guest's own connection to port 5000, "echo" ours to port 1234.
got = {"gi_from": 0, "gi_to": 0, "echo_from": 0, "echo_to": 0, "echo_conns": 0}
if mode == "vhost":  # the guest's connection to CID 2 reaches the host kernel
    lst = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((socket.VMADDR_CID_ANY, 5000))
else:
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(uds + "_5000")
lst.listen(1)


def guest_client():  # the guest sends 100 KiB, then wants 200 KiB of pat_host
    lst.settimeout(60)
    c, _ = lst.accept()
    c.settimeout(30)
    got["gi_from"] += len(recv_all(c))
    c.sendall(bytes(pat_host(k) for k in range(200 * 1024)))
    got["gi_to"] += 200 * 1024
    c.close()


t = threading.Thread(target=guest_client)
t.start()
open(uds + ".ready", "w").close()
wait_serial(serial, b"guest: vsock ready", 60)
t.join(30)
for i in range(3):  # echo connections to port 1234
    s, line = connect(uds, 1234)
    if line.startswith(b"OK "):
        s.sendall(bytes([i]) * 65536)
        got["echo_to"] += 65536
        s.shutdown(socket.SHUT_WR)
        got["echo_from"] += len(recv_all(s))
        got["echo_conns"] += 1
    s.close()
connect(uds, 9999)[0].close()  # ends the guest
with open(out, "w") as f:
    for k, v in got.items():
        f.write("%s=%d\n" % (k, v))
PY
# vsock_run BACKEND: one guest.test=vsock run with --vsock-backend BACKEND; the host's
# byte counts in $d/host, the metrics in $d/m (flattened).
vsock_run() {
	d=$TMP/vs-$1
	mkdir -p "$d"
	cat >"$d/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TESTGUEST", "boot_args": "guest.test=vsock guest.cid=7"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "vsock": {"guest_cid": 7, "uds_path": "$d/v.sock"}
}
JSON
	python3 "$TMP/vs_host.py" "$d/v.sock" "$d/vm.out" "$d/host" "$ROOT/tests/integration" "$1" \
		>"$d/py.out" 2>&1 &
	host=$!
	for _ in $(seq 300); do [ -e "$d/v.sock.ready" ] && break; sleep 0.1; done
	run_vmm 90 "$d/vm.out" --no-api --config-file "$d/vm.json" --metrics-path "$d/m" \
		--vsock-backend "$1"
	wait $host
	expect "vsock $1: host side finished (3 echo connections)" grep -q "^echo_conns=3$" "$d/host"
	guest_result "vsock $1" "$d/vm.out"
	grep -q "^echo_conns=3$" "$d/host" 2>/dev/null || sed 's/^/      host: /' "$d/py.out"
	flatten "$d/m"
}
# host_bytes KEY...: the sum of the host's counts.
host_bytes() {
	local k n=0
	for k; do n=$((n + $(sed -n "s/^$k=//p" "$d/host" 2>/dev/null || echo 0))); done
	echo $n
}

vsock_run userspace
check_metric "$d/m" vsock tx_bytes_count -eq "$(host_bytes gi_from echo_from)"
check_metric "$d/m" vsock rx_bytes_count -eq "$(host_bytes gi_to echo_to)"
check_metric "$d/m" vsock conns_added -eq 4
check_metric "$d/m" vsock conns_removed -ge 4
check_metric "$d/m" vsock conns_refused -ge 1
check_metric "$d/m" vsock tx_packets_count -ge 4
check_metric "$d/m" vsock bad_packets -eq 0
check_metric "$d/m" vsock vhost -eq 0
echo "  vsock userspace metrics:" $(sed -n 's/^vsock\.//p' "$d/m.flat")
if [ -c /dev/vhost-vsock ]; then
	# The kernel moves the guest's own connection; the counters are the uds_path bridge's.
	vsock_run vhost
	check_metric "$d/m" vsock tx_bytes_count -eq "$(host_bytes echo_from)"
	check_metric "$d/m" vsock rx_bytes_count -eq "$(host_bytes echo_to)"
	check_metric "$d/m" vsock conns_added -eq 3
	check_metric "$d/m" vsock vhost_ring_errors -eq 0
	echo "  vsock vhost metrics:" $(sed -n 's/^vsock\.//p' "$d/m.flat")
else
	echo "  SKIP vhost-vsock run: no /dev/vhost-vsock here (tests/kvmhost/run.sh's L1 has one)"
fi
echo "  (total: ${SECONDS} s)"
finish
