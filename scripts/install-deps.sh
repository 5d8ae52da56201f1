#!/bin/bash
# Install the Debian 12 packages the project needs to build, test and boot a
# guest. Idempotent: installed packages are checked with dpkg-query and apt is
# only run (once) when something is missing.
set -euo pipefail

command -v dpkg-query >/dev/null ||
	{ echo "install-deps: error: dpkg-query not found (Debian 12 expected)" >&2; exit 1; }

PACKAGES=(
	gcc libc6-dev make pkg-config
	liburing-dev libseccomp-dev libcap-ng-dev libjansson-dev
	busybox-static e2fsprogs cpio xz-utils lz4
	linux-source-6.1 flex bison libelf-dev bc libssl-dev
	curl qemu-system-x86 clang llvm lld libclang-rt-14-dev
	dnsmasq-base iproute2 python3
)

installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
	[ "$status" = installed ]
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages installed"
	exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: error: not root; install them with:" >&2
	echo "  sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: apt-get update"
apt-get update -q || {
	echo "install-deps: error: apt-get update failed" >&2
	exit 1
}
echo "install-deps: installing: ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	"${missing[@]}" || {
	echo "install-deps: error: apt-get install failed" >&2
	exit 1
}

still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
	echo "install-deps: error: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "install-deps: done"
