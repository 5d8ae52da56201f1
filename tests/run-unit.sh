#!/usr/bin/env bash
# Runs unit-test binaries and prints one closing line: "N passed, N failed, N skipped".
set -u
passed=0 failed=0 skipped=0 bad=()
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	line=$(printf '%s\n' "$out" | grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n1)
	if [ -z "$line" ]; then
		echo "    $t: exited $rc without a summary line"
		failed=$((failed + 1)); bad+=("$t"); continue
	fi
	read -r p f s < <(printf '%s\n' "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$f" -eq 0 ]; then
		echo "    $t: exited $rc"; failed=$((failed + 1)); bad+=("$t")
	fi
done
[ ${#bad[@]} -gt 0 ] && echo "failing: ${bad[*]}"
echo "unit: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
