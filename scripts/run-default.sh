#!/usr/bin/env bash
# Boots the default microVM: the project's kernel, its ext4 root filesystem on virtio-blk
# (a copy, so the built image stays pristine), 1 vCPU, 128 MiB. The guest's init shows
# the VM it runs in, then powers off, which ends the VMM. Extra arguments go to the
# guest's init as a command, e.g.  make run CMD='cat /proc/cpuinfo'.
# Without /dev/kvm on this host it runs inside tests/kvmhost (nested KVM under QEMU TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
O=${O:-build/release}
GUEST=build/guest
work=build/run
mkdir -p "$work"
cp --sparse=always "$GUEST/rootfs.ext4" "$work/rootfs.ext4"
args=""
[ $# -gt 0 ] && args="-- $*"
cat >"$work/vm-config.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$ROOT/$GUEST/vmlinux",
    "boot_args": "$args"
  },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 128 },
  "drives": [
    { "drive_id": "rootfs", "path_on_host": "$ROOT/$work/rootfs.ext4",
      "is_root_device": true, "is_read_only": false,
      "io_engine": "Async", "cache_type": "Writeback" }
  ]
}
JSON
echo "config: $work/vm-config.json"
cmd=("$ROOT/$O/bin/vmm" --no-api --boot-timer --config-file "$ROOT/$work/vm-config.json")
. tests/integration/lib.sh >/dev/null 2>&1
why=$(kvm_unusable_reason)
if [ -z "$why" ]; then
	exec "${cmd[@]}"
fi
echo "$why"
echo "booting inside a nested KVM under QEMU TCG instead (tests/kvmhost); slower than a real host"
# The copy of the root image must be writable from inside.
exec tests/kvmhost/run.sh --timeout 900 --rw --files "$ROOT" -- "${cmd[@]}"
