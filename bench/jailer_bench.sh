#!/usr/bin/env bash
# 1. Time from exec of the jailer to the jailed program running to completion, against
#    running the same static program directly (tests/jailer/probe): the jailer's cost.
# 2. The issue's figure: exec of the jailer to the real VMM's API socket ready (the
#    socket exists in the jail), against starting the VMM directly. Serving the API
#    needs no KVM. The socket is polled with the shell's [ -S ] builtin (no fork).
# Prints mean and median (microseconds) and the ratio. Needs root.
# Usage: O=build/release bench/jailer_bench.sh [iterations]   (make bench-jailer)
set -u
O=${O:-build/release}
N=${1:-200}
JAILER=$O/bin/jailer PROBE=$O/tests/jailer/probe
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$JAILER" ] && [ -x "$PROBE" ] || { echo "build $JAILER and $PROBE first"; exit 1; }
BASE=$(mktemp -d /tmp/jailer-bench.XXXXXX)
trap 'rm -rf "$BASE"' EXIT

# $EPOCHREALTIME (bash 5) costs no fork, unlike $(date): microseconds as an integer.
stats() { # label, then values: mean and median
	sort -n | awk -v l="$1" '{ v[NR] = $1; s += $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		      printf "%-8s n=%d mean=%.0f us median=%.0f us\n", l, NR, s / NR, m;
		      print s / NR > "/dev/stderr" }'
}

direct=() jailed=()
for i in $(seq "$N"); do
	t0=${EPOCHREALTIME/./}; "$PROBE" args >/dev/null; t1=${EPOCHREALTIME/./}
	direct+=($((t1 - t0)))
	t0=${EPOCHREALTIME/./}
	"$JAILER" --id "b$i" --exec-file "$PROBE" --uid 12345 --gid 12345 \
		--chroot-base-dir "$BASE" -- args >/dev/null || { echo "jailer failed"; exit 1; }
	t1=${EPOCHREALTIME/./}
	jailed+=($((t1 - t0)))
	rm -rf "$BASE/probe/b$i"
done
d_line=$(printf '%s\n' "${direct[@]}" | stats direct 2>/dev/null)
j_line=$(printf '%s\n' "${jailed[@]}" | stats jailed 2>/dev/null)
d_mean=$(printf '%s\n' "${direct[@]}" | stats direct 2>&1 >/dev/null)
j_mean=$(printf '%s\n' "${jailed[@]}" | stats jailed 2>&1 >/dev/null)
echo "probe: jailer exec to the payload's exit"
echo "$d_line"
echo "$j_line"
awk -v d="$d_mean" -v j="$j_mean" 'BEGIN { printf "ratio jailed/direct (mean) = %.1fx, added = %.0f us\n", j / d, j - d }'

VMM=$O/bin/vmm
if [ ! -x "$VMM" ] || ! file -L "$VMM" | grep -q static; then
	echo "vmm: SKIP (needs a static $VMM: make)"
	exit 0
fi
wait_sock() { # path: poll up to ~5 s; 0 when it is a socket
	local i
	for ((i = 0; i < 500000; i++)); do [ -S "$1" ] && return 0; done
	return 1
}
stop_vmm() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
direct=() jailed=()
NV=$(( N < 50 ? N : 50 ))
for i in $(seq "$NV"); do
	sock=$BASE/direct.sock
	rm -f "$sock"
	t0=${EPOCHREALTIME/./}
	"$VMM" --api-sock "$sock" --id "d$i" >/dev/null 2>&1 &
	pid=$!
	wait_sock "$sock" || { echo "vmm: no API socket"; stop_vmm $pid; exit 1; }
	t1=${EPOCHREALTIME/./}
	direct+=($((t1 - t0)))
	stop_vmm $pid

	sock=$BASE/vmm/v$i/root/api.sock
	t0=${EPOCHREALTIME/./}
	"$JAILER" --id "v$i" --exec-file "$VMM" --uid 12345 --gid 12345 \
		--chroot-base-dir "$BASE" -- --api-sock /api.sock --id "v$i" >/dev/null 2>&1 &
	pid=$!
	wait_sock "$sock" || { echo "jailed vmm: no API socket"; stop_vmm $pid; exit 1; }
	t1=${EPOCHREALTIME/./}
	jailed+=($((t1 - t0)))
	stop_vmm $pid
	rm -rf "$BASE/vmm/v$i"
done
d_line=$(printf '%s\n' "${direct[@]}" | stats direct 2>/dev/null)
j_line=$(printf '%s\n' "${jailed[@]}" | stats jailed 2>/dev/null)
d_mean=$(printf '%s\n' "${direct[@]}" | stats direct 2>&1 >/dev/null)
j_mean=$(printf '%s\n' "${jailed[@]}" | stats jailed 2>&1 >/dev/null)
echo "vmm: exec to API socket ready ($(du -k "$VMM" | cut -f1) KiB static exec file copied per jail)"
echo "$d_line"
echo "$j_line"
awk -v d="$d_mean" -v j="$j_mean" 'BEGIN { printf "ratio jailed/direct (mean) = %.1fx, added = %.0f us\n", j / d, j - d }'
