#!/usr/bin/env bash
# Time from exec of the jailer to the jailed program running to completion, against
# running the same static program directly. Prints mean and median (microseconds)
# and the ratio. Needs root. Usage: O=build/release bench/jailer_bench.sh [iterations]
# (make bench-jailer). The VMM's API-socket-ready time needs KVM; this measures the
# jailer's own cost with tests/jailer/probe as the payload.
set -u
O=${O:-build/release}
N=${1:-200}
JAILER=$O/jailer PROBE=$O/tests/jailer/probe
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
echo "$d_line"
echo "$j_line"
awk -v d="$d_mean" -v j="$j_mean" 'BEGIN { printf "ratio jailed/direct (mean) = %.1fx, added = %.0f us\n", j / d, j - d }'
