#!/bin/bash
# Self-test of the nested-KVM harness: kvm-smoke passes inside L1, the command's status and
# arguments come through untouched, /tmp is writable and the shared tree is not, a CPU without
# SVM gives 77, and a hang ends at the timeout with 124.  Takes about a minute.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=$HERE/run.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT
pass=0
fail=0

check() {	# check NAME EXPECTED_STATUS GREP_PATTERN -- run.sh args...
	local name=$1 want=$2 pat=$3 rc=0
	shift 3
	"$RUN" "$@" >"$out" 2>&1 || rc=$?
	if [ "$rc" = 125 ] && [ "$want" != 125 ]; then
		sed 's/^/    /' "$out"
		echo "FAIL $name: harness failure (125)"
		fail=$((fail + 1))
	elif [ "$rc" != "$want" ]; then
		sed 's/^/    /' "$out"
		echo "FAIL $name: status $rc, want $want"
		fail=$((fail + 1))
	elif [ -n "$pat" ] && ! grep -qE -- "$pat" "$out"; then
		sed 's/^/    /' "$out"
		echo "FAIL $name: output lacks /$pat/"
		fail=$((fail + 1))
	else
		grep -E '^(kvmhost:|long: ring-0|irqchip: 100|real:)' "$out" | sed 's/^/    /'
		echo "PASS $name"
		pass=$((pass + 1))
	fi
}

rc=0
"$HERE/prepare.sh" >/dev/null || rc=$?
if [ "$rc" != 0 ]; then
	echo "SKIP: tests/kvmhost/prepare.sh failed ($rc)"
	[ "$rc" = 77 ] && exit 77
	exit 1
fi
cache=$(cd "$HERE/../.." && pwd)/build/kvmhost

check kvm-smoke 0 'kvm-smoke: PASS' -- "$cache/kvm-smoke"
check status-and-args 3 '^\[a b\]\[it'"'"'s\]\[\$HOME\]\["q"\]ok-tmp ro-share$' -- \
	sh -c 'printf "[%s]" "$@"; echo x >/tmp/x && printf ok-tmp; \
		touch "$0/.kvmhost-probe" 2>/dev/null || echo " ro-share"; exit 3' \
	"$(cd "$HERE/../.." && pwd)" "a b" "it's" '$HOME' '"q"'
check no-svm 77 'no usable /dev/kvm' --cpu EPYC,-svm -- true
check timeout 124 'timeout after 3s' --timeout 3 -- sleep 100

echo "kvmhost selftest: $pass passed, $fail failed"
[ "$fail" = 0 ]
