#!/bin/bash
# Run a command inside an L1 Linux guest that has a real /dev/kvm: QEMU TCG emulates AMD SVM
# with nested paging, the guest loads kvm + kvm_amd, and the command sees the host's /usr and
# /etc plus the shared directories over read-only virtio-9p at their host paths, and a tmpfs
# /tmp.  The L1 console streams to stdout.
#
# usage: run.sh [--timeout S] [--files DIR]... [--rw] [--cpu MODEL] [--smp N] [--mem MIB]
#               [--kvm-params P] [--kvm-amd-params P] [--no-hold] -- CMD [ARG...]
#
# --no-hold: do not keep the idle VM of kvm-hold.c alive in L1 (it works around TCG
# soft lockups when VMs are created and destroyed back to back).
#
# Exit status: CMD's; 77 when L1 has no usable /dev/kvm (reason printed); 124 on timeout;
# 125 when the harness itself failed (reason printed).
set -euo pipefail
shopt -s lastpipe

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

timeout_s=600
files=()
share_mode=ro
cpu=max
smp=2
mem=2048
kvm_params=
kvm_amd_params=
hold=1
usage() {
	sed -n "s/^# //; /^usage:/,/--/p" "${BASH_SOURCE[0]}" >&2
	exit 125
}
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout_s=$2; shift 2 ;;
	--files) files+=("$(realpath -e "$2")"); shift 2 ;;
	--rw) share_mode=rw; shift ;;
	--cpu) cpu=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--kvm-params) kvm_params=$2; shift 2 ;;
	--kvm-amd-params) kvm_amd_params=$2; shift 2 ;;
	--no-hold) hold=; shift ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage
case $timeout_s in '' | *[!0-9]*) usage ;; esac
[ ${#files[@]} -gt 0 ] || files=("$ROOT")

say() { echo "kvmhost: $*" >&2; }

rc=0
cache=$("$HERE/prepare.sh" | tail -n1) || rc=$?
if [ "$rc" != 0 ]; then
	say "prepare.sh failed ($rc)"
	[ "$rc" = 77 ] && exit 77
	exit 125
fi

ctl=$(mktemp -d "${TMPDIR:-/tmp}/kvmhost.XXXXXX")
trap 'rm -rf "$ctl"' EXIT
nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')

# The command as a shell script of single-quoted words: no interpretation inside L1.
{
	printf 'exec'
	for a in "$@"; do
		printf " '%s'" "${a//\'/\'\\\'\'}"
	done
	printf '\n'
} >"$ctl/cmd"
[ -n "$kvm_params" ] && printf '%s\n' "$kvm_params" >"$ctl/params.kvm"
[ -n "$kvm_amd_params" ] && printf '%s\n' "$kvm_amd_params" >"$ctl/params.kvm-amd"
[ -n "$hold" ] || : >"$ctl/no-hold"

virtfs=(-virtfs "local,path=$ctl,mount_tag=kvmctl,security_model=none,readonly=on"
	-virtfs "local,path=/usr,mount_tag=kvmusr,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=/etc,mount_tag=kvmetc,security_model=none,readonly=on,multidevs=remap")
cwd=${files[0]}
: >"$ctl/shares"
i=0
for d in "${files[@]}"; do
	case $d in
	/ | /usr | /usr/* | /etc | /etc/* | /proc* | /sys* | /dev*)
		say "cannot share $d (it is, or is inside, a path L1 provides itself)"
		exit 125 ;;
	*,* | *$'\n'*) say "cannot share a path with a comma or newline: $d"; exit 125 ;;
	esac
	ro=,readonly=on
	[ "$share_mode" = rw ] && ro=
	virtfs+=(-virtfs "local,path=$d,mount_tag=kvmf$i,security_model=none$ro,multidevs=remap")
	echo "kvmf$i $share_mode $d" >>"$ctl/shares"
	case $PWD/ in "$d"/*) cwd=$PWD ;; esac
	i=$((i + 1))
done
echo "$cwd" >"$ctl/cwd"

kernel=${KVMHOST_KERNEL:-$(cat "$cache/kernel-image")}
append="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off kvmhost.nonce=$nonce ${KVMHOST_APPEND:-}"
t0=$EPOCHREALTIME
t_start=
status=
qrc=
{
	timeout -k 5 "$timeout_s" qemu-system-x86_64 \
		-accel tcg -cpu "$cpu" -smp "$smp" -m "$mem" \
		-nodefaults -nographic -no-reboot -serial stdio -monitor none -nic none \
		-fw_cfg name=etc/sercon-port,string=0 \
		-kernel "$cache/$kernel" -initrd "$cache/initramfs.cpio" -append "$append" \
		"${virtfs[@]}" </dev/null 2>&1 || echo "KVMHOST-QEMU-RC $?"
} | while IFS= read -r line || [ -n "$line" ]; do
	line=${line//$'\r'/}
	case $line in
	*"KVMHOST-START $nonce "*) t_start=$EPOCHREALTIME ;;
	*"KVMHOST-EXIT $nonce "*)
		status=${line##*"KVMHOST-EXIT $nonce "}
		status=${status%% *} ;;
	"KVMHOST-QEMU-RC "*) qrc=${line#KVMHOST-QEMU-RC }; continue ;;
	# SeaBIOS reads this name; QEMU's advice about "opt/" does not apply.
	*"etc/sercon-port"*"should be prefixed with"*) continue ;;
	esac
	printf '%s\n' "$line"
done
t1=$EPOCHREALTIME

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
case $status in
'' | *[!0-9]*)
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		say "timeout after ${timeout_s}s"
		exit 124
	fi
	say "L1 ended without reporting a status (qemu status ${qrc:-0})"
	exit 125 ;;
esac
if [ -n "$t_start" ]; then
	say "L1 boot to command $(secs "$t0" "$t_start")s, command $(secs "$t_start" "$t1")s" \
		"(incl. poweroff), total $(secs "$t0" "$t1")s, status $status"
else
	say "total $(secs "$t0" "$t1")s, status $status"
fi
exit "$status"
