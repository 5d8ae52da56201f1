# Shared helpers for the integration tests (sourced). Each test script exits 0 (pass),
# 1 (fail) or 77 (skip, with the reason printed) and prints one line per check.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${O:-$ROOT/build/release}
VMM=${VMM:-$O/bin/vmm}
GUEST=${GUEST:-$ROOT/build/guest}
TESTGUEST=${TESTGUEST:-$O/tests/guest/testguest.elf}
checks=0
failures=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vmmtest.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

pass() {
	checks=$((checks + 1))
	echo "  ok   $*"
}

fail() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "  FAIL $*"
}

expect() { # expect DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

skip() {
	echo "  SKIP: $*"
	exit 77
}

# On failure, the guest-kernel warnings and crash lines of the console files named in
# GUEST_CONSOLES, so a failed boot says why (and tests/run-all.sh can tell a known
# emulator fault from a real one).
guest_diag() {
	local f
	for f in ${GUEST_CONSOLES:-}; do
		[ -f "$f" ] || continue
		grep -a -m 8 -E 'XSAVE consistency problem|Kernel panic|BUG:|WARNING:|triple fault|general protection' "$f" |
			sed "s|^|    $(basename "$f"): |"
	done
}

finish() {
	[ "$failures" -eq 0 ] || guest_diag
	echo "$(basename "$0"): $((checks - failures)) of $checks checks passed"
	[ "$failures" -eq 0 ] || exit 1
	[ "$checks" -gt 0 ] || exit 1
	exit 0
}

# Why this host cannot run a guest, or nothing if it can.
kvm_unusable_reason() {
	if [ ! -e /dev/kvm ]; then
		if [ -d /sys/module/kvm_pvm ] && dmesg 2>/dev/null | grep -q 'kvm-pvm.*not binding'; then
			echo "no /dev/kvm: this host kernel is itself a PVM guest and kvm_pvm does not bind"
		else
			echo "no /dev/kvm on this host"
		fi
		return
	fi
	python3 - <<'PY' 2>/dev/null || echo "/dev/kvm exists but does not work (KVM_GET_API_VERSION failed)"
import fcntl, os, sys
fd = os.open("/dev/kvm", os.O_RDWR)
sys.exit(0 if fcntl.ioctl(fd, 0xAE00) == 12 else 1)
PY
}

# "hardware" or "nested-pvm": how guest kernel code runs on this host.
kvm_kind() {
	if [ -d /sys/module/kvm_pvm ]; then echo nested-pvm; else echo hardware; fi
}

need_kvm() {
	local why
	why=$(kvm_unusable_reason)
	[ -z "$why" ] || skip "$why"
}

# write_config FILE KERNEL MEM_MIB VCPUS BOOT_ARGS [DRIVES_JSON] [INITRD]
write_config() {
	local file=$1 kernel=$2 mem=$3 vcpus=$4 args=$5 drives=${6:-[]} initrd=${7:-}
	{
		printf '{\n  "boot-source": {"kernel_image_path": "%s", "boot_args": "%s"' "$kernel" "$args"
		[ -n "$initrd" ] && printf ', "initrd_path": "%s"' "$initrd"
		printf '},\n  "machine-config": {"vcpu_count": %s, "mem_size_mib": %s},\n' "$vcpus" "$mem"
		printf '  "drives": %s\n}\n' "$drives"
	} >"$file"
}

# guest_result NAME OUT_FILE: after run_vmm with the test guest, one check that the VMM
# exited 0 and the guest reported checks and no failure; on failure, the tail of OUT_FILE.
guest_result() {
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$2"; then
		pass "$1: guest $(grep -o 'guest: RESULT.*' "$2")"
	else
		fail "$1: guest: VMM exit $rc"
		tail -n 15 "$2" | sed 's/^/      /'
	fi
}

# run_vmm TIMEOUT_S OUT_FILE ARGS...: runs the VMM, console and log to OUT_FILE; sets $rc.
run_vmm() {
	local t=$1 out=$2
	shift 2
	timeout -k 5 "$t" "$VMM" ${VMM_EXTRA_ARGS:-} "$@" </dev/null >"$out" 2>&1
	rc=$?
}
