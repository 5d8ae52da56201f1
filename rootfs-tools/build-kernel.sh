#!/bin/bash
# Build the guest kernel from Debian's linux-source-6.1 with the project's
# config fragment (rootfs-tools/kernel/microvm.config) merged over allnoconfig.
#
# Outputs in $GUEST (default build/guest): vmlinux, bzImage, kernel.config,
# System.map. Cached: the stamp holds a hash of the fragment, this script and
# the source package version; a matching stamp makes this a no-op.
#
# Environment: GUEST (output dir), JOBS (parallel jobs, default nproc),
# FORCE=1 (rebuild even if the stamp matches).
set -euo pipefail
PROG=build-kernel
. "$(dirname "$0")/common.sh"

FRAGMENT="$ROOT/rootfs-tools/kernel/microvm.config"
JOBS=${JOBS:-$(nproc)}
STAMP="$GUEST/.kernel.stamp"
OUTPUTS=(vmlinux bzImage kernel.config System.map)

[ -r "$FRAGMENT" ] || die "missing config fragment $FRAGMENT"

key=$(cache_key "$(ksrc_version)" "$FRAGMENT" "$0" "$ROOT/rootfs-tools/common.sh")

up_to_date() {
	local f
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] || return 1
	for f in "${OUTPUTS[@]}"; do
		[ -s "$GUEST/$f" ] || return 1
	done
}

# One build at a time per output dir (make -j, a test and a user may race).
mkdir -p "$GUEST"
exec 8>"$GUEST/.kernel.lock"
flock 8

if [ "${FORCE:-0}" != 1 ] && up_to_date; then
	say "guest kernel up to date ($GUEST/vmlinux)"
	exit 0
fi

# Check that every option the fragment sets survived kconfig: an option whose
# dependencies are unmet is silently dropped, which must not go unnoticed.
verify_config() {
	local config=$1 line opt val bad=0
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			opt=${BASH_REMATCH[1]}
			val=${BASH_REMATCH[2]}
			if ! grep -qxF "$opt=$val" "$config"; then
				echo "$PROG: error: $opt=$val from the fragment is not in .config" \
					"(have: $(grep -E "^(# )?$opt[= ]" "$config" || echo absent))" >&2
				bad=1
			fi
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			opt=${BASH_REMATCH[1]}
			# Absent (dependencies unmet) also counts as not set.
			if grep -qE "^$opt=" "$config"; then
				echo "$PROG: error: $opt must be off but .config has" \
					"$(grep -E "^$opt=" "$config")" >&2
				bad=1
			fi
		fi
	done <"$FRAGMENT"
	return $bad
}

ksrc_extract

# Not a sub-make of ours: do not inherit the caller's jobserver or variables.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

start=$(date +%s)
say "configuring: allnoconfig + $(basename "$FRAGMENT")"
make -C "$KSRC" -s ARCH=x86_64 KCONFIG_ALLCONFIG="$FRAGMENT" allnoconfig
verify_config "$KSRC/.config" || die "config fragment not applied (see above)"
say "config verified: every fragment option is in .config"

say "building vmlinux and bzImage with -j$JOBS"
make -C "$KSRC" ARCH=x86_64 -j"$JOBS" vmlinux bzImage ||
	die "kernel build failed"

rm -f "$STAMP"
install -m 0644 "$KSRC/vmlinux" "$GUEST/vmlinux.tmp"
mv -f "$GUEST/vmlinux.tmp" "$GUEST/vmlinux"
install -m 0644 "$KSRC/arch/x86/boot/bzImage" "$GUEST/bzImage.tmp"
mv -f "$GUEST/bzImage.tmp" "$GUEST/bzImage"
install -m 0644 "$KSRC/.config" "$GUEST/kernel.config"
install -m 0644 "$KSRC/System.map" "$GUEST/System.map"
echo "$key" >"$STAMP"

end=$(date +%s)
say "built in $((end - start)) s: vmlinux $(stat -c %s "$GUEST/vmlinux") bytes," \
	"bzImage $(stat -c %s "$GUEST/bzImage") bytes"
