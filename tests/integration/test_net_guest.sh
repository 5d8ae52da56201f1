#!/usr/bin/env bash
# virtio-net driven by the test guest over a real TAP: the script enters a fresh network
# namespace, creates the TAP there, and a raw AF_PACKET peer on the TAP's host end
# receives the guest's frame and answers it. Checks: the guest probes the device and
# reads its MAC, its frame arrives intact (and the hostile chains it sent first do not
# arrive at all), the host's answer reaches the guest, the VMM exits cleanly with the
# seccomp filters on, and it logs its backend choice. The guest frame tests run once per
# backend: forced userspace, and forced vhost-net when /dev/vhost-net exists (inside
# tests/kvmhost's L1 it does; elsewhere that half is skipped, loudly). Run on a KVM host
# as root, or inside tests/kvmhost/run.sh.
set -u
if [ -z "${NET_TEST_IN_NETNS:-}" ] && unshare -n true 2>/dev/null; then
	# The namespace, and the TAP in it, vanish with this process: nothing to clean up.
	exec unshare -n env NET_TEST_IN_NETNS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
GUEST_CONSOLES="$TMP/linux.out"

[ -n "${NET_TEST_IN_NETNS:-}" ] || skip "cannot create a network namespace (needs CAP_SYS_ADMIN)"
need_kvm
echo "host kind: $(kvm_kind)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
IP=$(command -v ip || echo /usr/sbin/ip)
[ -x "$IP" ] || skip "no ip(8) to create the TAP"

TAP=vmtap0
MAC=06:00:ac:10:00:02
"$IP" link set lo up
"$IP" tuntap add dev $TAP mode tap || skip "ip tuntap add failed"
echo 1 >/proc/sys/net/ipv6/conf/$TAP/disable_ipv6 2>/dev/null || true
"$IP" link set $TAP up

cat >"$TMP/peer.py" <<'PY'
import os, socket, sys, time
tap, result, stop, ready = sys.argv[1:5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((tap, 0))
s.settimeout(0.2)
open(ready, "w").close()
frames, replied, deadline = [], False, time.time() + 180
while time.time() < deadline and not os.path.exists(stop):
    try:
        f = s.recv(65536)
    except socket.timeout:
        continue
    if len(f) < 14 or f[12:14] != b"\x88\xb5":
        continue
    frames.append(f)
    if not replied:
        # To the sender's MAC, from a made-up one; the payload echoes the guest's.
        body = b"host-to-guest " + f[14:].rstrip(b"\0")
        s.send(f[6:12] + b"\x02\x11\x22\x33\x44\x55" + b"\x88\xb5" + body.ljust(46, b"\0"))
        replied = True
with open(result, "w") as out:
    out.write("%d\n" % len(frames))
    for f in frames:
        out.write(f.hex() + "\n")
PY
# guest_run NAME TAP SLOT MAC NETS_JSON BACKEND [VHOST]: the test guest on virtio-mmio slot
# SLOT, whose interface has MAC and sits on TAP, with a raw-socket peer on TAP; the VMM
# runs with --net-backend BACKEND. VHOST (0/1) tells the guest whether vhost-net runs the
# device; by default, for auto, whether /dev/vhost-net exists.
guest_run() {
	local name=$1 tap=$2 slot=$3 mac=$4 nets=$5 backend=$6 vh=${7:-} peer
	if [ -z "$vh" ]; then
		vh=0
		case $backend in
		vhost) vh=1 ;;
		auto) [ -c /dev/vhost-net ] && vh=1 ;;
		esac
	fi
	rm -f "$TMP/stop" "$TMP/ready" "$TMP/peer.out"
	python3 "$TMP/peer.py" "$tap" "$TMP/peer.out" "$TMP/stop" "$TMP/ready" &
	peer=$!
	# Python starts slowly under TCG: the guest's frame must find the peer listening.
	for _ in $(seq 300); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
	[ -e "$TMP/ready" ] || { fail "$name: the raw-socket peer did not start"; return; }
	cat >"$TMP/net.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TESTGUEST", "boot_args": "guest.test=net guest.mac=$((0x${mac//:/})) guest.netslot=$slot guest.netvhost=$vh"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "drives": [],
  "network-interfaces": $nets
}
JSON
	run_vmm ${NET_TEST_TIMEOUT:-120} "$TMP/net.out" --no-api --level Info --config-file "$TMP/net.json" \
		--net-backend "$backend"
	touch "$TMP/stop"
	wait $peer
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/net.out"; then
		pass "$name: guest $(grep -o 'guest: RESULT.*' "$TMP/net.out")"
	else
		fail "$name: guest: exit $rc"
		tail -25 "$TMP/net.out" | sed 's/^/      /'
	fi
	expect "$name: the host received exactly one frame from the guest (the hostile chains were dropped)" \
		test "$(head -1 "$TMP/peer.out" 2>/dev/null)" = 1
	expect "$name: the guest's frame is intact: broadcast, from $mac, payload 'guest-to-host 42'" \
		python3 - "$TMP/peer.out" "$mac" <<'PY'
import sys
lines = open(sys.argv[1]).read().split()
f = bytes.fromhex(lines[1])
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
sys.exit(0 if f[:6] == b"\xff" * 6 and f[6:12] == mac and f[14:30] == b"guest-to-host 42"
         and len(f) == 78 else 1)
PY
}

ONE="[{\"iface_id\": \"eth0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"$MAC\"}]"
guest_run "userspace backend, one interface" $TAP 0 $MAC "$ONE" userspace
expect "userspace: the VMM logged its backend and why" \
	grep -q "eth0: TAP $TAP, userspace backend: /dev/vhost-net: not used (--net-backend userspace)" \
	"$TMP/net.out"
if [ -c /dev/vhost-net ]; then
	guest_run "vhost-net backend, one interface" $TAP 0 $MAC "$ONE" vhost
	expect "vhost: the VMM logged its backend" grep -q "eth0: vhost-net backend (TAP $TAP)" "$TMP/net.out"
	expect "vhost: the writable TX descriptor was reported by vhost (device reset)" \
		grep -q "vhost-net refused a ring or descriptor" "$TMP/net.out"
	# A rate limiter keeps auto on the userspace backend, and the log says why.
	RL='"tx_rate_limiter": {"bandwidth": {"size": 10000000, "refill_time": 100}}'
	guest_run "auto with a rate limiter, one interface" $TAP 0 $MAC \
		"[{\"iface_id\": \"eth0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"$MAC\", $RL}]" auto 0
	expect "auto with a rate limiter: userspace backend, and the log says why" \
		grep -q "userspace backend: /dev/vhost-net: not used (rate limiters need the userspace backend)" \
		"$TMP/net.out"
else
	echo "  SKIP vhost-net half: no /dev/vhost-net on this host (tests/kvmhost/run.sh's L1 has one)"
fi
# Two interfaces: the guest drives the second (slot 1) on its own TAP.
"$IP" tuntap add dev vmtap1 mode tap
echo 1 >/proc/sys/net/ipv6/conf/vmtap1/disable_ipv6 2>/dev/null || true
"$IP" link set vmtap1 up
guest_run "two interfaces, the second (backend auto)" vmtap1 1 06:00:ac:10:00:03 \
	"[{\"iface_id\": \"eth0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"$MAC\"}, {\"iface_id\": \"eth1\", \"host_dev_name\": \"vmtap1\", \"guest_mac\": \"06:00:ac:10:00:03\"}]" auto
if [ -c /dev/vhost-net ]; then
	expect "auto: vhost-net chosen for eth1" grep -q "eth1: vhost-net backend" "$TMP/net.out"
else
	expect "auto: userspace chosen, and why" \
		grep -q "eth1: TAP vmtap1, userspace backend: /dev/vhost-net: No such file" "$TMP/net.out"
fi

# A TAP that does not exist: the VMM refuses the configuration, and says which TAP.
sed "s/\"vmtap1\"/\"nosuchtap9\"/" "$TMP/net.json" >"$TMP/bad.json"
run_vmm 30 "$TMP/bad.out" --no-api --config-file "$TMP/bad.json"
expect "a missing TAP is a configuration error naming it (exit $rc)" \
	bash -c "[ $rc -ne 0 ] && grep -q nosuchtap9 '$TMP/bad.out'"
# --- Linux: the real virtio-net driver gets its address by DHCP over the TAP ---
if [ ! -f "$GUEST/vmlinux" ] || [ ! -f "$GUEST/initramfs.cpio" ]; then
	echo "  SKIP Linux part: no $GUEST/vmlinux or initramfs.cpio (make guest)"
elif ! command -v dnsmasq >/dev/null; then
	echo "  SKIP Linux part: no dnsmasq"
elif [ "$(kvm_kind)" = nested-pvm ]; then
	echo "  SKIP Linux part: nested PVM (guest user space cannot make system calls)"
else
	HOSTIP=192.168.100.1 GUESTIP=192.168.100.15 BLOB=$((8 << 20)) SINK=$((8 << 20))
	"$IP" addr add $HOSTIP/24 dev $TAP
	dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --port=0 \
		--interface=$TAP --bind-interfaces --dhcp-range=192.168.100.10,192.168.100.20,1h \
		--dhcp-host=$MAC,$GUESTIP --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" \
		--user=root --log-dhcp --log-facility="$TMP/dnsmasq.log" &
	dnsmasq_pid=$!
	# HTTP source (host to guest) and TCP sink (guest to host), with timings.
	cat >"$TMP/tcp.py" <<'PY'
import hashlib, http.server, os, socket, sys, threading, time
blob_len, sink_len, result, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
blob = bytes((i * 7 + (i >> 12)) & 0xff for i in range(65536)) * (blob_len // 65536)
out = {"md5": hashlib.md5(blob).hexdigest()}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        t0 = time.time()
        self.wfile.write(blob)
        out["tx_s"] = time.time() - t0
    def log_message(self, *a):
        pass
httpd = http.server.HTTPServer(("0.0.0.0", 8000), H)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", 9000))
ls.listen(1)
open(ready, "w").close()
ls.settimeout(600)
c, _ = ls.accept()
n, t0 = 0, None
while n < sink_len:
    d = c.recv(1 << 20)
    if not d:
        break
    if t0 is None:
        t0 = time.time()
    n += len(d)
out["rx_bytes"], out["rx_s"] = n, time.time() - (t0 or time.time())
c.close()
with open(result, "w") as f:
    for k, v in out.items():
        f.write("%s=%s\n" % (k, v))
PY
	python3 "$TMP/tcp.py" $BLOB $SINK "$TMP/tcp.out" "$TMP/tcp.ready" &
	tcp_pid=$!
	for _ in $(seq 300); do [ -e "$TMP/tcp.ready" ] && break; sleep 0.1; done
	# The kernel hands at most 32 words to init: the script travels base64-encoded.
	script="echo eth0 mac=\$(cat /sys/class/net/eth0/address) features=\$(cat /sys/class/net/eth0/device/features); cat /proc/net/pnp; ping -c 3 -W 5 $HOSTIP && echo PING-OK-\$((6*7)); time wget -q -O - http://$HOSTIP:8000/blob | md5sum; time sh -c 'dd if=/dev/zero bs=65536 count=$((SINK / 65536)) 2>/dev/null | nc $HOSTIP 9000'"
	write_config "$TMP/linux.json" "$GUEST/vmlinux" 256 1 \
		"ip=dhcp -- eval \$(echo $(printf %s "$script" | base64 -w0) | base64 -d)" \
		"[]" "$GUEST/initramfs.cpio"
	python3 - "$TMP/linux.json" "$TAP" "$MAC" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["network-interfaces"] = [{"iface_id": "eth0", "host_dev_name": sys.argv[2], "guest_mac": sys.argv[3]}]
json.dump(c, open(sys.argv[1], "w"))
PY
	before=$failures
	run_vmm ${NET_TEST_LINUX_TIMEOUT:-400} "$TMP/linux.out" --no-api --config-file "$TMP/linux.json"
	kill $dnsmasq_pid $tcp_pid 2>/dev/null
	wait $dnsmasq_pid $tcp_pid 2>/dev/null
	expect "Linux: VMM exit status 0 (got $rc)" test "$rc" -eq 0
	expect "Linux: the virtio-net driver probed eth0 with the configured MAC" \
		grep -q "eth0 mac=$MAC" "$TMP/linux.out"
	feat=$(sed -n 's/.*eth0 mac=.* features=\([01]*\).*/\1/p' "$TMP/linux.out" | head -1)
	# Bits 0 CSUM, 1 GUEST_CSUM, 7/8 GUEST_TSO4/6, 11/12 HOST_TSO4/6 (the TAP follows them).
	expect "Linux: checksum and TSO offloads negotiated both ways (features $feat)" \
		python3 -c "import sys; f=sys.argv[1]; sys.exit(0 if len(f) > 12 and all(f[b] == '1' for b in (0, 1, 7, 8, 11, 12)) else 1)" "${feat:-0}"
	expect "Linux: ip=dhcp got $GUESTIP from dnsmasq on the host end of the TAP" \
		grep -q "IP-Config: Complete" "$TMP/linux.out"
	expect "Linux: dnsmasq leased $GUESTIP to $MAC" grep -q "$GUESTIP" "$TMP/leases"
	expect "Linux: ping to the host" grep -q "PING-OK-42" "$TMP/linux.out"
	md5=$(sed -n 's/^md5=//p' "$TMP/tcp.out" 2>/dev/null)
	expect "Linux: 8 MiB over HTTP host to guest, md5 matches" \
		grep -q "^${md5:-none}" "$TMP/linux.out"
	expect "Linux: 8 MiB over TCP guest to host arrived" grep -q "^rx_bytes=$SINK\$" "$TMP/tcp.out"
	expect "Linux: the command finished" grep -q "vmm-init: exit status 0" "$TMP/linux.out"
	echo "  figures (nested KVM under TCG: compare only with peers measured in the same L1):"
	sed 's/^/    host: /' "$TMP/tcp.out" 2>/dev/null | grep -v md5
	grep -E "^real|IP-Config: Complete|eth0 mac=" "$TMP/linux.out" | sed 's/^/    guest: /'
	[ "$failures" -eq "$before" ] || tail -60 "$TMP/linux.out" | sed 's/^/      /'
fi
finish
