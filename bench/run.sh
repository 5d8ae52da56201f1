#!/usr/bin/env bash
# `make bench`: figures, not pass/fail. The KVM figures (start-up, VM exits, boot times,
# memory overhead, QEMU microvm as a peer, virtio-blk throughput from the test guest) come
# from bench/kvm_bench.py, run directly where /dev/kvm works and otherwise inside
# tests/kvmhost/run.sh's L1 (nested KVM under QEMU TCG: one L1 boot for all of them).
# Then the figures that need no guest: virtio-blk through the fake-guest path, the API
# and the jailer.
#
# Knobs (environment): BENCH_RUNS (start-up runs, default 10), BENCH_BOOT_RUNS (Linux
# boots per side for the QEMU comparison, default 1), BENCH_BLK_MIB (test guest
# bench_mib, default 4), BENCH_ONLY (comma list of start,linux,qemu,blk),
# BENCH_NESTED=1 (use the L1 even when /dev/kvm works here), BENCH_SKIP_HOST=1 (skip the
# guest-less figures). Rerun: make bench, or O=build/release bench/run.sh.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
O=${O:-build/release}
. tests/integration/lib.sh

args=(--vmm "$ROOT/$O/bin/vmm" --testguest "$ROOT/$O/tests/guest/testguest.elf"
	--guest-dir "$ROOT/build/guest" --hostio "$ROOT/$O/bench/hostio"
	--runs "${BENCH_RUNS:-10}" --boot-runs "${BENCH_BOOT_RUNS:-1}"
	--blk-mib "${BENCH_BLK_MIB:-4}" --only "${BENCH_ONLY:-start,linux,qemu,blk}")
for f in "$O/bin/vmm" "$O/tests/guest/testguest.elf" "$O/bench/hostio" build/guest/vmlinux \
	build/guest/bzImage build/guest/initramfs.cpio; do
	[ -e "$f" ] || { echo "bench: $f missing (make bench builds it)"; exit 1; }
done

echo "##### make bench ($(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
why=$(kvm_unusable_reason)
kvm_rc=0
if [ -z "$why" ] && [ -z "${BENCH_NESTED:-}" ]; then
	echo "### KVM figures: measured DIRECTLY on this host's /dev/kvm ($(kvm_kind))"
	[ "$(kvm_kind)" = nested-pvm ] &&
		echo "    (nested-PVM host: guest kernel code is emulated, Linux boots are slow and the init cannot run)"
	python3 bench/kvm_bench.py "${args[@]}" --boot-timeout 300 || kvm_rc=$?
else
	echo "### KVM figures: measured under NESTED KVM (${why:-BENCH_NESTED set})"
	echo "    They run inside tests/kvmhost/run.sh: an L1 Debian kernel under QEMU TCG (emulated"
	echo "    AMD SVM) whose /dev/kvm runs our VMM and QEMU. Every instruction of L1 and the L2"
	echo "    guests is emulated, so absolute times are inflated by one to two orders of magnitude;"
	echo "    compare ratios (vmm/qemu, guest/host I/O measured in the same L1), not absolutes."
	echo "    Counts (VM exits, memory) do not depend on the speed."
	tests/kvmhost/run.sh --timeout 560 -- python3 "$ROOT/bench/kvm_bench.py" "${args[@]}" \
		--boot-timeout 150 2>&1 |
		grep -v -e '^KVMHOST-' -e '^\[ *[0-9.]*\] reboot: Power down'
	kvm_rc=${PIPESTATUS[0]}
	[ "$kvm_rc" = 0 ] || echo "    (the nested run ended with status $kvm_rc; 77 = no usable /dev/kvm in L1)"
fi
echo "    rerun: make bench (or O=$O bench/run.sh; BENCH_ONLY=start,linux,qemu,blk picks parts)"

if [ -z "${BENCH_SKIP_HOST:-}" ]; then
	echo
	echo "### Figures without a guest, measured directly on this host"
	echo "## virtio-blk through the fake-guest path (no vCPU, no exits: the VMM's own per-request cost; rerun: make bench-blk)"
	"$O/bench/blk_bench" || echo "    (blk_bench failed: $?)"
	echo "## API (rerun: make bench-api)"
	"$O/bench/api_latency" "$O/bin/vmm" || echo "    (api_latency failed: $?)"
	echo "## jailer start-up (rerun: make bench-jailer)"
	O=$O bench/jailer_bench.sh 50 || echo "    (jailer bench: status $?)"
fi
exit 0
