#!/usr/bin/env bash
# virtio-net driven by the test guest over a real TAP: the script enters a fresh network
# namespace, creates the TAP there, and a raw AF_PACKET peer on the TAP's host end
# receives the guest's frame and answers it. Checks: the guest probes the device and
# reads its MAC, its frame arrives intact (and the hostile chains it sent first do not
# arrive at all), the host's answer reaches the guest, the VMM exits cleanly with the
# seccomp filters on, and it logs its backend choice. Run on a KVM host as root, or
# inside tests/kvmhost/run.sh.
set -u
if [ -z "${NET_TEST_IN_NETNS:-}" ] && unshare -n true 2>/dev/null; then
	# The namespace, and the TAP in it, vanish with this process: nothing to clean up.
	exec unshare -n env NET_TEST_IN_NETNS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

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
python3 "$TMP/peer.py" $TAP "$TMP/peer.out" "$TMP/stop" "$TMP/ready" &
peer=$!
# Python starts slowly under TCG: the guest's frame must find the peer listening.
for _ in $(seq 300); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
[ -e "$TMP/ready" ] || { fail "the raw-socket peer did not start"; finish; }

cat >"$TMP/net.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$TESTGUEST", "boot_args": "guest.test=net guest.mac=$((0x0600ac100002)) guest.netslot=0"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "drives": [],
  "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "$TAP", "guest_mac": "$MAC"}]
}
JSON
run_vmm ${NET_TEST_TIMEOUT:-120} "$TMP/net.out" --no-api --level Info --config-file "$TMP/net.json"
touch "$TMP/stop"
wait $peer

if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/net.out"; then
	pass "guest: $(grep -o 'guest: RESULT.*' "$TMP/net.out")"
else
	fail "guest: exit $rc"
	tail -25 "$TMP/net.out" | sed 's/^/      /'
fi
expect "the host received exactly one frame from the guest (the hostile chains were dropped)" \
	test "$(head -1 "$TMP/peer.out" 2>/dev/null)" = 1
expect "the guest's frame is intact: broadcast, from $MAC, payload 'guest-to-host 42'" \
	python3 - "$TMP/peer.out" "$MAC" <<'PY'
import sys
lines = open(sys.argv[1]).read().split()
f = bytes.fromhex(lines[1])
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
sys.exit(0 if f[:6] == b"\xff" * 6 and f[6:12] == mac and f[14:30] == b"guest-to-host 42"
         and len(f) == 78 else 1)
PY
expect "the VMM logged its backend choice" grep -q "userspace backend: /dev/vhost-net" "$TMP/net.out"

# A TAP that does not exist: the VMM refuses the configuration, and says which TAP.
sed "s/\"$TAP\"/\"nosuchtap9\"/" "$TMP/net.json" >"$TMP/bad.json"
run_vmm 30 "$TMP/bad.out" --no-api --config-file "$TMP/bad.json"
expect "a missing TAP is a configuration error naming it (exit $rc)" \
	bash -c "[ $rc -ne 0 ] && grep -q nosuchtap9 '$TMP/bad.out'"
finish
