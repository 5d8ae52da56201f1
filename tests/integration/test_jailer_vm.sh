#!/usr/bin/env bash
# A microVM under the jailer, end to end (needs root and KVM): the jailer runs the
# static release vmm as an unprivileged uid/gid in a new PID namespace and a cgroup
# with a limit; the kernel (the test guest) and two drive images are copied into the
# jail root; the VM is configured from the host through the API socket inside the
# jail with curl and started. Checks: the guest's RESULT line, the VMM's ids and
# empty capability sets in /proc/<pid>/status, its PID namespace, its cgroup and limit,
# that it sees only its jail, and that it exits 0 when the guest resets. A second jail
# runs vmm-testhooks with a seccomp trigger on the API thread: the jailer's own filter
# (stacked under the VMM's) must not turn the reported violation (148) into a kill.
set -u
. "$(dirname "$0")/lib.sh"

JAILER=${JAILER:-$O/bin/jailer}
TH=${VMM_TESTHOOKS:-$O/bin/vmm-testhooks}
UIDN=12345 GIDN=23456
[ "$(id -u)" = 0 ] || skip "the jailer needs root"
for f in "$JAILER" "$VMM" "$TESTGUEST"; do
	[ -e "$f" ] || { echo "build $f first"; exit 1; }
done
command -v curl >/dev/null || skip "curl not installed"
need_kvm
echo "host kind: $(kvm_kind)"

BASE=$TMP/jail
CG_DIR=
VMM_PID=
cleanup() {
	[ -n "$VMM_PID" ] && kill -9 "$VMM_PID" 2>/dev/null
	sleep 0.2
	[ -n "$CG_DIR" ] && [ -d "$CG_DIR" ] && rmdir "$CG_DIR" "$(dirname "$CG_DIR")" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

expect "the release vmm is statically linked (nothing else is in the jail)" \
	sh -c "file -L '$VMM' | grep -q 'static'"

# The cgroup: v2 if /sys/fs/cgroup is cgroup2, else v1; pids if available, else memory.
PARENT=jailer-vm-test-$$ ID=vm1
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
	CGV=2 CGROOT=/sys/fs/cgroup
	avail=$(cat $CGROOT/cgroup.controllers)
	case " $avail " in
	*" pids "*) CTRL=pids CGFILE=pids.max CGVAL=200 ;;
	*" memory "*) CTRL=memory CGFILE=memory.max CGVAL=1073741824 ;;
	*) skip "cgroup v2 offers neither pids nor memory (have: $avail)" ;;
	esac
	# The jailer delegates below the root but never edits the root itself.
	if ! grep -qw "$CTRL" $CGROOT/cgroup.subtree_control; then
		echo "  (enabling $CTRL in $CGROOT/cgroup.subtree_control)"
		echo "+$CTRL" >$CGROOT/cgroup.subtree_control || skip "cannot enable $CTRL"
	fi
	CG_DIR=$CGROOT/$PARENT/$ID
else
	CGV=1
	if [ -d /sys/fs/cgroup/pids ]; then CTRL=pids CGFILE=pids.max CGVAL=200
	elif [ -d /sys/fs/cgroup/memory ]; then CTRL=memory CGFILE=memory.limit_in_bytes CGVAL=1073741824
	else skip "no cgroup v1 pids or memory hierarchy"; fi
	CG_DIR=/sys/fs/cgroup/$CTRL/$PARENT/$ID
fi
echo "cgroup v$CGV, controller $CTRL: $CGFILE=$CGVAL"

JROOT=$BASE/vmm/$ID/root
"$JAILER" --id $ID --exec-file "$VMM" --uid $UIDN --gid $GIDN --chroot-base-dir "$BASE" \
	--new-pid-ns --cgroup-version $CGV --parent-cgroup "$PARENT" --cgroup "$CGFILE=$CGVAL" \
	-- --api-sock /api.sock --id $ID >"$TMP/console.out" 2>&1 </dev/null
rc=$?
expect "jailer (--new-pid-ns) exits 0 once the VMM runs (got $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || { sed 's/^/      /' "$TMP/console.out"; finish; }
VMM_PID=$(cat "$JROOT/vmm.pid" 2>/dev/null)
expect "pid file $JROOT/vmm.pid names a live process ($VMM_PID)" \
	test -n "$VMM_PID" -a -d "/proc/$VMM_PID"
for _ in $(seq 200); do [ -S "$JROOT/api.sock" ] && break; sleep 0.05; done
expect "API socket appears at $JROOT/api.sock" test -S "$JROOT/api.sock"

st() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^[ \t]+/, ""); print; exit }' "/proc/$VMM_PID/status"; }
expect "Uid is $UIDN (real, effective, saved, fs): $(st Uid)" \
	test "$(st Uid | tr -s ' \t' ' ')" = "$UIDN $UIDN $UIDN $UIDN"
expect "Gid is $GIDN: $(st Gid)" test "$(st Gid | tr -s ' \t' ' ')" = "$GIDN $GIDN $GIDN $GIDN"
expect "no supplementary groups" test -z "$(st Groups)"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	expect "$c empty" test "$(st $c)" = 0000000000000000
done
expect "NoNewPrivs" test "$(st NoNewPrivs)" = 1
expect "seccomp filter on (Seccomp: 2)" test "$(st Seccomp)" = 2
expect "PID 1 of a new PID namespace (NSpid: $(st NSpid))" \
	sh -c "test \"\$(echo '$(st NSpid)' | awk '{print \$NF}')\" = 1"
expect "comm is vmm" test "$(cat /proc/$VMM_PID/comm)" = vmm
expect "root is the jail ($(readlink /proc/$VMM_PID/root))" \
	test "$(readlink /proc/$VMM_PID/root)" = /
expect "the jail's / holds only vmm, dev, api.sock, vmm.pid" \
	test "$(ls "/proc/$VMM_PID/root/" | sort | tr '\n' ' ')" = "api.sock dev vmm vmm.pid "
expect "/dev/kvm in the jail is char 10:232 owned by $UIDN:$GIDN" \
	test "$(stat -c '%t:%T %u:%g' "$JROOT/dev/kvm")" = "a:e8 $UIDN:$GIDN"
if [ $CGV = 2 ]; then
	cg=$(sed -n 's/^0:://p' /proc/$VMM_PID/cgroup)
else
	cg=$(awk -F: -v c=$CTRL '$2 ~ "(^|,)" c "(,|$)" { print $3 }' /proc/$VMM_PID/cgroup)
fi
expect "in cgroup /$PARENT/$ID (got $cg)" test "$cg" = "/$PARENT/$ID"
expect "$CGFILE is $CGVAL" test "$(cat "$CG_DIR/$CGFILE")" = "$CGVAL"
expect "listed in $CG_DIR/cgroup.procs" grep -qx "$VMM_PID" "$CG_DIR/cgroup.procs"

# The guest files go in from the host side; the VMM opens them at its jail's root.
SECTORS=16384
python3 - "$JROOT/d0.img" $SECTORS <<'PY'
import struct, sys
n = int(sys.argv[2]) * 512 // 8
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<%dQ" % n, *range(0, n * 8, 8)))
PY
cp "$JROOT/d0.img" "$JROOT/d1.img"
cp "$TESTGUEST" "$JROOT/kernel.elf"
chown $UIDN:$GIDN "$JROOT/d0.img" "$JROOT/d1.img" "$JROOT/kernel.elf"
chmod 0444 "$JROOT/d1.img" "$JROOT/kernel.elf"

api() { # api METHOD PATH JSON: prints the HTTP status
	curl -s -o "$TMP/resp" -w '%{http_code}' --unix-socket "$JROOT/api.sock" -X "$1" \
		-H 'Content-Type: application/json' -d "$3" "http://localhost$2"
}
put() { # put PATH JSON
	local code
	code=$(api PUT "$1" "$2")
	if [ "$code" = 204 ]; then pass "PUT $1: 204"; else fail "PUT $1: $code $(cat "$TMP/resp")"; fi
}
put /boot-source "{\"kernel_image_path\": \"/kernel.elf\", \"boot_args\": \"guest.test=blk guest.sectors0=$SECTORS guest.sectors1=$SECTORS guest.id0=data0\"}"
put /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
put /drives/data0 '{"drive_id": "data0", "path_on_host": "/d0.img", "is_root_device": false, "is_read_only": false}'
put /drives/ro1 '{"drive_id": "ro1", "path_on_host": "/d1.img", "is_root_device": false, "is_read_only": true}'
put /actions '{"action_type": "InstanceStart"}'

for _ in $(seq 1200); do [ -d "/proc/$VMM_PID" ] || break; sleep 0.1; done
if [ -d "/proc/$VMM_PID" ]; then
	fail "VMM still running 120 s after InstanceStart"
else
	VMM_PID=
	pass "VMM exited after the guest reset"
fi
if grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/console.out"; then
	pass "guest under the jailer: $(grep -o 'guest: RESULT.*' "$TMP/console.out")"
else
	fail "no passing RESULT line"; grep -E 'FAIL|ERROR|RESULT' "$TMP/console.out" | sed 's/^/      /'
fi
expect "VMM logged 'exiting with status 0'" grep -q "exiting with status 0$" "$TMP/console.out"
expect "no seccomp violation" sh -c "! grep -q 'seccomp violation' '$TMP/console.out'"
expect "API socket removed at exit" test ! -e "$JROOT/api.sock"
expect "the guest's writes reached the drive in the jail" \
	sh -c "! cmp -s '$JROOT/d0.img' '$JROOT/d1.img'"
rm -rf "$BASE/vmm/$ID"
[ -d "$CG_DIR" ] && rmdir "$CG_DIR" "$(dirname "$CG_DIR")" 2>/dev/null
expect "cgroup removed after the VMM left" test ! -d "$CG_DIR"

echo "a seccomp violation under the jailer's stacked filter is still reported"
if [ -x "$TH" ]; then
	"$JAILER" --id trig --exec-file "$TH" --uid $UIDN --gid $GIDN --chroot-base-dir "$BASE" \
		-- --api-sock /api.sock --id trig --test-seccomp-trigger api \
		>"$TMP/trig.out" 2>&1 </dev/null
	rc=$?
	expect "jailed vmm-testhooks: status 148 (got $rc)" test "$rc" -eq 148
	expect "jailed vmm-testhooks: log line names the api thread" \
		grep -q "seccomp violation: api thread made forbidden syscall 163 (acct)" "$TMP/trig.out"
	rm -rf "$BASE/vmm-testhooks"
else
	echo "  (no $TH: make vmm-testhooks)"
fi
finish
