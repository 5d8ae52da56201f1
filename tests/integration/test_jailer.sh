#!/usr/bin/env bash
# Integration test for the jailer (needs root): jails tests/jailer/probe (static) and
# checks identity, capabilities, no_new_privs, seccomp, cgroups, rlimits, PID
# namespace, daemonizing, the jail's contents, and that every bad argument fails
# cleanly, leaving nothing behind. Exit 0 pass, 1 fail, 77 skip.
# Usage: O=build/release tests/integration/test_jailer.sh   (or: make test-jailer)
set -u
O=${O:-build/release}
JAILER=$O/bin/jailer
PROBE=$O/tests/jailer/probe
if [ "$(id -u)" != 0 ]; then echo "SKIP: test_jailer needs root"; exit 77; fi
for f in "$JAILER" "$PROBE"; do
	[ -x "$f" ] || { echo "FAIL: $f not built (make $JAILER $PROBE)"; exit 1; }
done

BASE=$(mktemp -d /tmp/jailer-test.XXXXXX)
PARENT=jailer-test-$$	# our own cgroup parent: the only cgroups this test touches
NETNS=jailer-test-$$
UIDN=12345 GIDN=23456
fails=0 passes=0
BG_PIDS=()

cleanup() {
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	# Probes still in our cgroups were started by this test: stop them so rmdir works.
	for c in cpu memory; do
		[ -d /sys/fs/cgroup/$c/$PARENT ] &&
			find /sys/fs/cgroup/$c/$PARENT -name cgroup.procs -exec cat {} + |
			xargs -r kill -9 2>/dev/null
	done
	sleep 0.2
	for c in cpu memory; do
		d=/sys/fs/cgroup/$c/$PARENT
		[ -d "$d" ] || continue
		find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
		rmdir "$d" 2>/dev/null
	done
	ip netns del "$NETNS" 2>/dev/null
	rm -rf "$BASE"
}
trap cleanup EXIT

ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { fails=$((fails + 1)); echo "FAIL $*"; }
expect_eq() { # what got want
	if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}
field() { sed -n "s/^$1=//p" "$2" | head -n1; }
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
wait_ready() { # file: wait for the probe's "ready" line
	for _ in $(seq 100); do grep -q '^ready$' "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
# Common arguments; the jailer is run directly (not through a function) so that $! is its PID.
JA=(--uid $UIDN --gid $GIDN --chroot-base-dir "$BASE" --exec-file "$PROBE")

# --- 1. A full jail: identity, capabilities, filters, limits, contents ----------
exec 5</dev/null	# an inherited fd the jailer must close
OUT=$BASE/out1 ERR=$BASE/err1
FOO=bar "$JAILER" "${JA[@]}" --id one --parent-cgroup "$PARENT" \
	--cgroup cpu.shares=512 --cgroup memory.limit_in_bytes=67108864 \
	--resource-limit fsize=1048576 --resource-limit no-file=128 >"$OUT" 2>"$ERR"
rc=$?
exec 5<&-
expect_eq "jail runs the probe" "$rc" 0
[ $rc -eq 0 ] || cat "$ERR"
expect_eq "uid" "$(field uid "$OUT")" "$UIDN,$UIDN,$UIDN"
expect_eq "gid" "$(field gid "$OUT")" "$GIDN,$GIDN,$GIDN"
expect_eq "no supplementary groups" "$(field groups "$OUT")" 0
for s in eff prm inh; do
	expect_eq "cap_$s empty" "$(field cap_$s "$OUT")" 0000000000000000
done
expect_eq "bounding set empty" "$(field cap_bnd "$OUT")" 0000000000000000
expect_eq "ambient set empty" "$(field cap_amb "$OUT")" 0000000000000000
expect_eq "no_new_privs" "$(field no_new_privs "$OUT")" 1
expect_eq "seccomp filter mode" "$(field seccomp "$OUT")" 2
expect_eq "rlimit no-file" "$(field rlimit_nofile "$OUT")" 128
expect_eq "rlimit fsize" "$(field rlimit_fsize "$OUT")" 1048576
expect_eq "inherited fds closed" "$(field open_fds "$OUT")" 0
expect_eq "environment cleared" "$(field env_count "$OUT")" 0
expect_eq "root holds only the exec file and /dev" \
	"$(field root "$OUT" | tr ' ' '\n' | sort | xargs)" "dev probe"
want_dev="kvm net urandom"
[ -e /sys/class/misc/userfaultfd/dev ] || grep -qw userfaultfd /proc/misc && want_dev="$want_dev userfaultfd"
[ -e /dev/vhost-net ] && want_dev="$want_dev vhost-net"
[ -e /dev/vhost-vsock ] && want_dev="$want_dev vhost-vsock"
expect_eq "/dev contents" "$(field dev "$OUT" | tr ' ' '\n' | sort | xargs)" \
	"$(echo $want_dev | tr ' ' '\n' | sort | xargs)"
J=$BASE/probe/one/root
expect_eq "jail root owned by uid:gid" "$(stat -c %u:%g "$J")" "$UIDN:$GIDN"
expect_eq "exec file is a copy" "$(stat -c %h:%u "$J/probe")" "1:0"
cmp -s "$J/probe" "$PROBE" && ok "exec file content" || bad "exec file content"
expect_eq "/dev/kvm node" "$(stat -c '%F %t:%T %u:%g %a' "$J/dev/kvm")" \
	"character special file a:e8 $UIDN:$GIDN 600"
expect_eq "/dev/net/tun node" "$(stat -c '%t:%T %u:%g %a' "$J/dev/net/tun")" \
	"a:c8 $UIDN:$GIDN 600"
expect_eq "/dev/urandom node" "$(stat -c '%t:%T %u:%g' "$J/dev/urandom")" "1:9 $UIDN:$GIDN"
expect_eq "cgroup cpu.shares" "$(cat /sys/fs/cgroup/cpu/$PARENT/one/cpu.shares)" 512
expect_eq "cgroup memory limit" \
	"$(cat /sys/fs/cgroup/memory/$PARENT/one/memory.limit_in_bytes)" 67108864

# --- 2. A waiting probe, inspected from the host through /proc ------------------
OUT=$BASE/out2
"$JAILER" "${JA[@]}" --id two --parent-cgroup "$PARENT" --cgroup cpu.shares=256 -- wait >"$OUT" 2>&1 &
P=$!
BG_PIDS+=("$P")
if wait_ready "$OUT"; then
	expect_eq "/proc Uid" "$(status_field $P Uid | xargs)" "$UIDN $UIDN $UIDN $UIDN"
	expect_eq "/proc Gid" "$(status_field $P Gid | xargs)" "$GIDN $GIDN $GIDN $GIDN"
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		expect_eq "/proc $c" "$(status_field $P $c)" 0000000000000000
	done
	expect_eq "/proc NoNewPrivs" "$(status_field $P NoNewPrivs)" 1
	expect_eq "/proc Seccomp" "$(status_field $P Seccomp)" 2
	expect_eq "cgroup membership (cpu)" \
		"$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3 }' /proc/$P/cgroup)" "/$PARENT/two"
	grep -qx "$P" /sys/fs/cgroup/cpu/$PARENT/two/cgroup.procs && ok "listed in cgroup.procs" ||
		bad "not in cgroup.procs"
	expect_eq "sees only its jail" "$(ls /proc/$P/root | sort | xargs)" "dev probe"
	expect_eq "own mount namespace" \
		"$([ "$(readlink /proc/$P/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] && echo yes)" yes
else
	bad "waiting probe never reported: $(cat "$OUT")"
fi
kill -9 "$P" 2>/dev/null; wait "$P" 2>/dev/null

# --- 3. --new-pid-ns: PID 1 inside, the pid file outside -------------------------
OUT=$BASE/out3
"$JAILER" "${JA[@]}" --id three --new-pid-ns -- wait >"$OUT" 2>&1
expect_eq "new-pid-ns: jailer parent exits 0 once the probe runs" "$?" 0
wait_ready "$OUT" || bad "pid-ns probe never reported"
expect_eq "PID 1 in the new namespace" "$(field pid "$OUT")" 1
HP=$(cat "$BASE/probe/three/root/probe.pid" 2>/dev/null)
BG_PIDS+=("$HP")
if [ -n "$HP" ] && [ -d "/proc/$HP" ]; then
	expect_eq "NSpid (host, namespace)" "$(status_field "$HP" NSpid | xargs)" "$HP 1"
	expect_eq "pid-ns probe is unprivileged" "$(status_field "$HP" CapBnd)" 0000000000000000
else
	bad "no live process behind probe.pid ('$HP')"
fi
[ -n "$HP" ] && kill -9 "$HP" 2>/dev/null

# --- 4. --daemonize with --new-pid-ns: new session, stdio on /dev/null ----------
"$JAILER" "${JA[@]}" --id four --daemonize --new-pid-ns -- wait >"$BASE/out4" 2>&1
expect_eq "daemonized jailer exits 0" "$?" 0
HP=$(cat "$BASE/probe/four/root/probe.pid" 2>/dev/null)
BG_PIDS+=("$HP")
if [ -n "$HP" ] && [ -d "/proc/$HP" ]; then
	expect_eq "stdio on /dev/null" \
		"$(readlink /proc/$HP/fd/0 /proc/$HP/fd/1 /proc/$HP/fd/2 | sort -u | xargs)" \
		"/dev/null"
	expect_eq "own session" "$([ "$(ps -o sid= -p "$HP" | xargs)" != "$(ps -o sid= -p $$ | xargs)" ] && echo yes)" yes
else
	bad "no daemonized probe ('$HP')"
fi
[ -s "$BASE/out4" ] && bad "daemonized probe wrote to the caller's stdout" || ok "nothing on stdout"
[ -n "$HP" ] && kill -9 "$HP" 2>/dev/null

# --- 5. Arguments after -- ------------------------------------------------------
OUT=$BASE/out5
"$JAILER" "${JA[@]}" --id five -- args a "b c" >"$OUT" 2>&1
expect_eq "argv[0]" "$(field arg0 "$OUT")" /probe
expect_eq "argv passes through" "$(field arg2 "$OUT")|$(field arg3 "$OUT")" "a|b c"

# --- 6. --netns ---------------------------------------------------------------------
if command -v ip >/dev/null && ip netns add "$NETNS" 2>/dev/null; then
	OUT=$BASE/out6
	"$JAILER" "${JA[@]}" --id six --netns "/run/netns/$NETNS" -- wait >"$OUT" 2>&1 &
	P=$!
	BG_PIDS+=("$P")
	wait_ready "$OUT" || bad "netns probe never reported"
	expect_eq "joined the network namespace" "$(stat -L -c %i /proc/$P/ns/net)" \
		"$(stat -L -c %i /run/netns/$NETNS)"
	kill -9 "$P" 2>/dev/null; wait "$P" 2>/dev/null
else
	echo "skip netns check: cannot create a network namespace (ip netns add)"
fi

# --- 7. Bad arguments: clear message, non-zero exit, nothing left behind ---------
snapshot() {
	find "$BASE/probe" "$BASE/true" "$BASE/notexec" 2>/dev/null | sort
	find /sys/fs/cgroup/cpu/$PARENT /sys/fs/cgroup/memory/$PARENT -type d 2>/dev/null | sort
}
refuse() { # name expected-message-regex args...
	local name=$1 msg=$2 before after rc
	shift 2
	before=$(snapshot)
	"$JAILER" "$@" >"$BASE/bad.out" 2>"$BASE/bad.err"
	rc=$?
	after=$(snapshot)
	if [ $rc -eq 0 ]; then
		bad "$name: exit 0"
	elif ! grep -Eq "^jailer: .*($msg)" "$BASE/bad.err"; then
		bad "$name: message '$(cat "$BASE/bad.err")' does not match '$msg'"
	elif [ "$before" != "$after" ]; then
		bad "$name: left something behind: $(diff <(echo "$before") <(echo "$after") | grep '^>')"
	else
		ok "$name: $(head -n1 "$BASE/bad.err")"
	fi
}
C=(--uid $UIDN --gid $GIDN --chroot-base-dir "$BASE")
refuse "missing id" "missing --id" "${C[@]}" --exec-file "$PROBE"
refuse "invalid id" "invalid --id" "${C[@]}" --exec-file "$PROBE" --id "a/../b"
refuse "id too long" "invalid --id" "${C[@]}" --exec-file "$PROBE" --id "$(printf 'x%.0s' $(seq 65))"
refuse "missing exec file" "--exec-file.*No such file" "${C[@]}" --id m1 --exec-file /nonexistent/vmm
mkdir -p "$BASE/files"; printf 'data' >"$BASE/files/notexec"; chmod 0644 "$BASE/files/notexec"
refuse "exec file not executable" "not an executable" "${C[@]}" --id m2 --exec-file "$BASE/files/notexec"
chmod 0755 "$BASE/files/notexec"
refuse "exec file not a program (fails inside the jail)" "not an ELF" "${C[@]}" --id m2 \
	--exec-file "$BASE/files/notexec"
refuse "existing jail" "already exists" "${C[@]}" --id one --exec-file "$PROBE"
[ -x "$BASE/probe/one/root/probe" ] && ok "existing jail left intact" || bad "existing jail damaged"
refuse "missing cgroup controller" "controller 'nosuch' is not mounted" "${C[@]}" --id m3 \
	--exec-file "$PROBE" --parent-cgroup "$PARENT" --cgroup nosuch.limit=1
refuse "bad cgroup file (after creating the jail and cgroup)" "cannot write" "${C[@]}" \
	--id m4 --exec-file "$PROBE" --parent-cgroup "$PARENT" --cgroup cpu.shares=256 \
	--cgroup cpu.no_such_file=1
refuse "existing cgroup" "cgroup .* already exists" "${C[@]}" --id two --exec-file "$PROBE" \
	--chroot-base-dir "$BASE/other" --parent-cgroup "$PARENT" --cgroup cpu.shares=256
rmdir "$BASE/other/probe" "$BASE/other" 2>/dev/null
[ -e "$BASE/other" ] && bad "existing cgroup case left $BASE/other"
refuse "cgroup v2 not usable here" "cgroup v2" "${C[@]}" --id m5 --exec-file "$PROBE" \
	--cgroup-version 2 --cgroup pids.max=10
refuse "bad uid" "--uid" --uid -5 --gid 1 --chroot-base-dir "$BASE" --id m6 --exec-file "$PROBE"
refuse "uid out of range" "--uid" --uid 4294967295 --gid 1 --chroot-base-dir "$BASE" --id m6 --exec-file "$PROBE"
refuse "bad gid" "--gid" --uid 1 --gid x --chroot-base-dir "$BASE" --id m6 --exec-file "$PROBE"
refuse "bad rlimit resource" "unknown resource" "${C[@]}" --id m7 --exec-file "$PROBE" --resource-limit cpu=1
refuse "bad rlimit value" "bad value" "${C[@]}" --id m7 --exec-file "$PROBE" --resource-limit no-file=lots
refuse "rlimit above the kernel's maximum (after creating the jail)" "no-file" "${C[@]}" \
	--id m8 --exec-file "$PROBE" --resource-limit no-file=999999999999
refuse "unknown flag" "unknown option '--frobnicate'" "${C[@]}" --id m9 --exec-file "$PROBE" --frobnicate
refuse "missing netns" "--netns" "${C[@]}" --id m10 --exec-file "$PROBE" --netns /nonexistent/ns
refuse "dynamic exec file (fails inside the jail)" "dynamically linked" "${C[@]}" --id m11 \
	--exec-file /bin/true
[ -e "$BASE/true" ] && bad "dynamic exec case left $BASE/true" || ok "exec dir of a failed run removed"

echo "test_jailer: $passes passed, $fails failed"
[ $fails -eq 0 ]
