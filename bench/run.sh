#!/usr/bin/env bash
# `make bench`: figures, not pass/fail. The KVM figures (start-up, VM exits, boot times,
# memory overhead, QEMU microvm as a peer, virtio-blk throughput from the test guest) come
# from bench/kvm_bench.py, run directly where /dev/kvm works and otherwise inside
# tests/kvmhost/run.sh's L1 (nested KVM under QEMU TCG: one L1 boot for all of them);
# virtio-vsock throughput with both backends from tests/integration/bench_vsock.sh, the
# same way (its own L1 boot).
# Then the figures that need no guest: virtio-blk through the fake-guest path, virtio-net
# frame rates (fake guest, real TAP: userspace backend here, and vhost-net beside it in the
# L1 when only the L1 has /dev/vhost-net), the API and the jailer.
#
# Knobs (environment): BENCH_RUNS (start-up runs, default 10), BENCH_BOOT_RUNS (Linux
# boots per side for the QEMU comparison, default 1), BENCH_BLK_MIB (test guest
# bench_mib, default 4), BENCH_ONLY (comma list of start,linux,qemu,blk),
# BENCH_NESTED=1 (use the L1 even when /dev/kvm works here), BENCH_SKIP_HOST=1 (skip the
# guest-less figures), BENCH_NET=0 / BENCH_VSOCK=0 (skip the virtio-net / virtio-vsock
# figures). Rerun: make bench, or O=build/release bench/run.sh.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
O=${O:-build/release}
. tests/integration/lib.sh

args=(--vmm "$ROOT/$O/bin/vmm" --testguest "$ROOT/$O/tests/guest/testguest.elf"
	--guest-dir "$ROOT/build/guest" --hostio "$ROOT/$O/bench/hostio"
	--runs "${BENCH_RUNS:-10}" --boot-runs "${BENCH_BOOT_RUNS:-1}"
	--blk-mib "${BENCH_BLK_MIB:-4}" --only "${BENCH_ONLY:-start,linux,qemu,blk}")
NET_BENCH=$ROOT/$O/tests/unit/test_net_bench
for f in "$O/bin/vmm" "$O/tests/guest/testguest.elf" "$O/bench/hostio" "$NET_BENCH" build/guest/vmlinux \
	build/guest/bzImage build/guest/initramfs.cpio; do
	[ -e "$f" ] || { echo "bench: $f missing (make bench builds it)"; exit 1; }
done

# net_figures: test_net_bench's output (stdin) without its log and test lines, then the
# vhost/userspace ratio of each TX/RX size that both backends measured in this run.
net_figures() {
	awk '
		/^virtio-net [a-z-]+ backend, / { b = $2 }
		/^virtio-net / || /^FAIL|CHECK\(|skip:/ { print "    " $0; next }
		b && $1 ~ /^(TX|RX)$/ && $4 == "device" {
			print "  " $0
			k = sprintf("%s %5s", $1, $2)
			if (!((b, k) in fps) && !(k in seen)) { seen[k] = 1; keys[++n] = k }
			fps[b, k] = $5
		}
		END {
			for (i = 1; i <= n; i++) {
				k = keys[i]
				if (fps["userspace", k] > 0 && fps["vhost", k] > 0) {
					if (!hdr++)
						print "    vhost-net against the userspace backend, same host, same run (>1: vhost faster):"
					printf "      %s B: vhost/userspace frames/s %.2f\n", k, fps["vhost", k] / fps["userspace", k]
				}
			}
		}'
}

# net_bench: the virtio-net figures here (needs root: a TAP in a fresh network namespace).
net_bench() {
	if [ "$(id -u)" != 0 ] || ! [ -c /dev/net/tun ]; then
		echo "    skipped: needs root and /dev/net/tun (a TAP in a fresh network namespace)"
		return
	fi
	local st
	"$NET_BENCH" bench 2>&1 | net_figures
	st=${PIPESTATUS[0]}
	[ "$st" = 0 ] || echo "    (test_net_bench failed: status $st)"
}

# vsock_figures: tests/integration/bench_vsock.sh's output (stdin): its figures, then each
# vhost-vsock figure against the userspace backend's in the same direction and run.
vsock_figures() {
	awk '
		/^vsock-bench / {
			print "    " $0
			mb[$2 " " $3 " " $4] = $9
			if ($2 == "vhost")
				v[++n] = $3 " " $4
			next
		}
		/FAIL|SKIP/ { print "    " $0 }
		END {
			for (i = 1; i <= n; i++) {
				split(v[i], p, " ")
				u = mb["userspace uds_path " p[2]]
				if (u > 0) {
					if (!hdr++)
						print "    vhost-vsock against the userspace backend, same run (>1: vhost faster):"
					printf "      %-8s %s: vhost/userspace MB/s %.2f\n", p[1], p[2], mb["vhost " v[i]] / u
				}
			}
		}'
}

# Inside tests/kvmhost's L1 (see below): the virtio-net figures only.
if [ -n "${BENCH_NET_ONLY:-}" ]; then
	net_bench
	exit 0
fi

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

if [ "${BENCH_VSOCK:-1}" != 0 ]; then
	echo
	echo "### virtio-vsock throughput with the test guest, both backends (rerun: make bench-vsock)"
	if [ -z "$why" ] && [ -z "${BENCH_NESTED:-}" ]; then
		O="$ROOT/$O" tests/integration/bench_vsock.sh 2>&1 | vsock_figures
	else
		echo "    nested KVM (tests/kvmhost's L1 under QEMU TCG): compare the ratios, not the rates"
		tests/kvmhost/run.sh --timeout 300 -- env O="$ROOT/$O" "$ROOT/tests/integration/bench_vsock.sh" 2>&1 |
			vsock_figures
	fi
fi

if [ -z "${BENCH_SKIP_HOST:-}" ]; then
	echo
	echo "### Figures without a guest, measured directly on this host"
	echo "## virtio-blk through the fake-guest path (no vCPU, no exits: the VMM's own per-request cost; rerun: make bench-blk)"
	"$O/bench/blk_bench" || echo "    (blk_bench failed: $?)"
	if [ "${BENCH_NET:-1}" != 0 ]; then
		echo "## virtio-net frames/s through the fake-guest path and a real TAP (no vCPU; rerun: make bench-net)"
		net_bench
		if [ ! -c /dev/vhost-net ]; then
			echo "    vhost-net: no /dev/vhost-net here; both backends measured inside tests/kvmhost's L1"
			echo "    (QEMU TCG: absolute rates are deflated, compare the two backends by their ratio;"
			echo "    no vCPU and no VM exits on either side, so vhost's saved exits are not in it):"
			tests/kvmhost/run.sh --timeout 240 -- env O="$O" BENCH_NET_ONLY=1 "$ROOT/bench/run.sh" 2>&1 |
				grep -v -e '^KVMHOST-' -e '^\[ *[0-9.]*\] reboot: Power down'
			net_rc=${PIPESTATUS[0]}
			[ "$net_rc" = 0 ] || echo "    (the L1 run ended with status $net_rc)"
		fi
	fi
	echo "## API (rerun: make bench-api)"
	"$O/bench/api_latency" "$O/bin/vmm" || echo "    (api_latency failed: $?)"
	echo "## jailer start-up (rerun: make bench-jailer)"
	O=$O bench/jailer_bench.sh 50 || echo "    (jailer bench: status $?)"
fi
exit 0
