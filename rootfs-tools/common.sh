# Shared helpers for the rootfs-tools scripts. Sourced, not executed.

# Repository root and output directory (GUEST may be overridden by make).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST=${GUEST:-build/guest}
case "$GUEST" in
/*) ;;
*) GUEST="$ROOT/$GUEST" ;;
esac

KSRC_TAR=${KSRC_TAR:-/usr/src/linux-source-6.1.tar.xz}
KSRC_PKG=${KSRC_PKG:-linux-source-6.1}
KSRC="$GUEST/linux-src"

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

say() {
	echo "$PROG: $*"
}

# Version of the Debian source package: part of every cache key so a
# package upgrade rebuilds the kernel and the tools taken from its tree.
ksrc_version() {
	dpkg-query -W -f='${Version}' "$KSRC_PKG" 2>/dev/null ||
		stat -c '%s-%Y' "$KSRC_TAR"
}

# Extract the kernel source once into $KSRC. Serialised with a lock because the
# kernel and rootfs builds both need the tree and may run at the same time.
ksrc_extract() {
	local ver stamp tmp
	[ -r "$KSRC_TAR" ] || die "$KSRC_TAR not found: install $KSRC_PKG (make deps)"
	ver=$(ksrc_version)
	stamp="$KSRC/.vmm-extracted"
	mkdir -p "$GUEST"
	exec 9>"$GUEST/.linux-src.lock"
	flock 9
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
		flock -u 9
		return 0
	fi
	say "extracting $KSRC_TAR ($ver) into $KSRC"
	rm -rf "$KSRC" "$KSRC.tmp"
	tmp="$KSRC.tmp"
	mkdir -p "$tmp"
	tar -xJf "$KSRC_TAR" -C "$tmp" --strip-components=1 ||
		die "extracting $KSRC_TAR failed"
	mv "$tmp" "$KSRC"
	echo "$ver" >"$stamp"
	flock -u 9
}

# Hash of the given files plus extra strings, for cache stamps.
cache_key() {
	local extra=$1
	shift
	{
		echo "$extra"
		cat "$@"
	} | sha256sum | cut -d' ' -f1
}
