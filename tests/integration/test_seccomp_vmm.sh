#!/usr/bin/env bash
# Seccomp through the real VMM. A forbidden syscall from each thread kind (vCPU, VMM
# event loop, API) must end the VMM with status 148 and a log line naming the thread
# and the syscall; vmm-testhooks (make vmm-testhooks: the release vmm has no trigger)
# makes one acct(2) call on the chosen thread right after its filter goes on, while the
# test guest spins, so only the violation can end the run. Then, with the filters on
# and no trigger, the test guest's boot and virtio-blk checks must pass: nothing the
# VMM needs is missing from a policy.
set -u
. "$(dirname "$0")/lib.sh"

TH=${VMM_TESTHOOKS:-$O/bin/vmm-testhooks}
[ -x "$VMM" ] || { echo "build $VMM first"; exit 1; }
[ -x "$TH" ] || { echo "build $TH first (make vmm-testhooks)"; exit 1; }
[ -f "$TESTGUEST" ] || { echo "build $TESTGUEST first (make testguest)"; exit 1; }

echo "the release vmm has no trigger"
run_vmm 5 "$TMP/flag.out" --test-seccomp-trigger vcpu
expect "release vmm rejects --test-seccomp-trigger (exit $rc)" test "$rc" -eq 2
expect "release vmm binary holds no trigger code" \
	sh -c "! grep -q 'vmm-seccomp-test-trigger' '$VMM'"
VMM=$TH run_vmm 5 "$TMP/badkind.out" --test-seccomp-trigger jailer
expect "vmm-testhooks rejects an unknown thread kind (exit $rc)" test "$rc" -eq 2

need_kvm
echo "host kind: $(kvm_kind)"

echo "a forbidden syscall on each thread kind"
write_config "$TMP/spin.json" "$TESTGUEST" 64 2 "guest.test=spin"
for kind in vcpu vmm api; do
	rm -f "$TMP/api.sock" "$TMP/$kind.metrics"
	: >"$TMP/$kind.metrics"
	VMM=$TH run_vmm 60 "$TMP/$kind.out" --api-sock "$TMP/api.sock" --id "trig-$kind" \
		--metrics-path "$TMP/$kind.metrics" --config-file "$TMP/spin.json" \
		--test-seccomp-trigger "$kind"
	line=$(grep "seccomp violation" "$TMP/$kind.out" | head -1)
	if [ "$rc" -eq 148 ]; then
		pass "$kind: VMM exits with status 148 (bad syscall)"
	else
		fail "$kind: exit $rc, expected 148"; tail -20 "$TMP/$kind.out" | sed 's/^/      /'
	fi
	if echo "$line" | grep -q "\[trig-$kind:$kind\] ERROR seccomp violation: $kind thread made forbidden syscall 163 (acct)"; then
		pass "$kind: log line: ${line#* }"
	else
		fail "$kind: no log line naming the $kind thread and acct (got '$line')"
	fi
	expect "$kind: metrics line with seccomp.num_faults" \
		grep -q "\"seccomp\": {\"num_faults\": 1, \"syscall\": 163, \"thread\": \"$kind\"}" \
		"$TMP/$kind.metrics"
done

echo "the same trigger with --no-seccomp does nothing harmful: the guest keeps spinning"
VMM=$TH run_vmm 8 "$TMP/off.out" --no-api --no-seccomp --config-file "$TMP/spin.json" \
	--test-seccomp-trigger vcpu
expect "no filter: still running after 8 s, killed by the timeout (exit $rc)" test "$rc" -eq 124
expect "no filter: no violation reported" sh -c "! grep -q 'seccomp violation' '$TMP/off.out'"

echo "filters on, no trigger: the test guest runs normally"
for shape in "1 128" "2 256"; do
	set -- $shape
	write_config "$TMP/boot$1.json" "$TESTGUEST" "$2" "$1" \
		"guest.test=boot guest.cpus=$1 guest.mem_mib=$2"
	rm -f "$TMP/api.sock"
	run_vmm 120 "$TMP/boot$1.out" --api-sock "$TMP/api.sock" --config-file "$TMP/boot$1.json"
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/boot$1.out"; then
		pass "boot, $1 vCPU: $(grep -o 'guest: RESULT.*' "$TMP/boot$1.out")"
	else
		fail "boot, $1 vCPU: exit $rc"; tail -30 "$TMP/boot$1.out" | sed 's/^/      /'
	fi
done

SECTORS=16384
python3 - "$TMP/pattern.img" $SECTORS <<'PY'
import struct, sys
n = int(sys.argv[2]) * 512 // 8
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<%dQ" % n, *range(0, n * 8, 8)))
PY
for engine in Sync Async; do
	cp "$TMP/pattern.img" "$TMP/d0.img"
	cp "$TMP/pattern.img" "$TMP/d1.img"
	drives=$(printf '[{"drive_id": "data0", "path_on_host": "%s", "is_root_device": false, "is_read_only": false, "io_engine": "%s"}, {"drive_id": "ro1", "path_on_host": "%s", "is_root_device": false, "is_read_only": true, "io_engine": "%s"}]' \
		"$TMP/d0.img" "$engine" "$TMP/d1.img" "$engine")
	write_config "$TMP/blk.json" "$TESTGUEST" 64 1 \
		"guest.test=blk guest.sectors0=$SECTORS guest.sectors1=$SECTORS guest.id0=data0" "$drives"
	rm -f "$TMP/api.sock"
	run_vmm 120 "$TMP/blk-$engine.out" --api-sock "$TMP/api.sock" --config-file "$TMP/blk.json"
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/blk-$engine.out"; then
		pass "blk $engine: $(grep -o 'guest: RESULT.*' "$TMP/blk-$engine.out")"
	else
		fail "blk $engine: exit $rc"; grep -E 'FAIL|ERROR|RESULT' "$TMP/blk-$engine.out" | sed 's/^/      /'
	fi
done
if grep -l "seccomp violation" "$TMP"/boot*.out "$TMP"/blk-*.out >"$TMP/viol"; then
	fail "violations reported in: $(xargs -n1 basename <"$TMP/viol" | tr '\n' ' ')"
else
	pass "no violation reported in any run with the filters on (API socket removed at exit too)"
fi
expect "API socket removed at exit under the VMM thread's filter" test ! -e "$TMP/api.sock"

finish
