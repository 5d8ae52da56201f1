#!/.kh/busybox sh
# PID 1 of the L1 guest booted by tests/kvmhost/run.sh.  Loads the 9p and kvm modules,
# mounts the host's /usr, /etc and the shared directories read-only from 9p, checks /dev/kvm,
# runs the command from the control share and prints
#	KVMHOST-EXIT <nonce> <status>
# on the console, then powers off.  Status 77 means no usable /dev/kvm, 125 a harness failure.
BB=/.kh/busybox
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=linux KVMHOST=1

$BB mount -t devtmpfs devtmpfs /dev
# The initramfs has no /dev/console node, so the kernel could not give us stdio.
exec </dev/console >/dev/console 2>&1
$BB mount -t proc proc /proc
$BB mount -t sysfs sysfs /sys
$BB mount -t tmpfs -o mode=1777 tmpfs /tmp
$BB mount -t tmpfs -o mode=0755 tmpfs /run
$BB mkdir -p /dev/pts /dev/shm
$BB mount -t devpts devpts /dev/pts
$BB mount -t tmpfs -o mode=1777 tmpfs /dev/shm
$BB mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null

nonce=none
for a in $($BB cat /proc/cmdline); do
	case $a in
	kvmhost.nonce=*) nonce=${a#kvmhost.nonce=} ;;
	esac
done

finish() {	# finish STATUS [REASON]
	[ -n "$2" ] && echo "kvmhost: $2"
	echo "KVMHOST-EXIT $nonce $1"
	$BB sync
	$BB poweroff -f
	# Not reached unless poweroff failed; -no-reboot turns the panic into an exit.
	echo o >/proc/sysrq-trigger
	$BB sleep 5
	exit "$1"
}

params() {	# params MODULE.ko: extra insmod arguments from the control share
	f=/.kh/ctl/params.${1%.ko}
	[ -r "$f" ] && $BB cat "$f"
}

load() {	# load PHASE: 1 = channel modules, 2 = kvm and what it needs
	while read -r m; do
		case $m in
		kvm*.ko | irqbypass.ko | ccp.ko) [ "$1" = 2 ] || continue ;;
		*) [ "$1" = 1 ] || continue ;;
		esac
		# shellcheck disable=SC2046 # params are words by design
		$BB insmod /.kh/mod/"$m" $(params "$m") || echo "kvmhost: insmod $m failed"
	done </.kh/modules
}

load 1
$BB mkdir -p /.kh/ctl
$BB mount -t 9p -o trans=virtio,version=9p2000.L,ro kvmctl /.kh/ctl ||
	finish 125 "cannot mount the control share (9p)"
opts=trans=virtio,version=9p2000.L,msize=262144,cache=loose
$BB mount -t 9p -o "$opts,ro" kvmusr /usr || finish 125 "cannot mount /usr"
$BB mount -t 9p -o "$opts,ro" kvmetc /etc || finish 125 "cannot mount /etc"
# Shared directories: lines of "TAG MODE PATH".
while read -r tag mode path; do
	[ -n "$tag" ] || continue
	$BB mkdir -p "$path" 2>/dev/null
	$BB mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$mode" "$tag" "$path" ||
		finish 125 "cannot mount $path"
done </.kh/ctl/shares

load 2
if [ ! -c /dev/kvm ]; then
	echo "kvmhost: no /dev/kvm in L1; cpu flags:"
	$BB grep -m1 '^flags' /proc/cpuinfo | $BB tr ' ' '\n' | $BB grep -E '^(svm|npt|nrip_save|vmcb_clean|avic)$' | $BB tr '\n' ' '
	echo
	$BB dmesg | $BB grep -iE 'kvm|svm|ccp' | $BB tail -n 20
	finish 77 "no usable /dev/kvm in L1 (see above)"
fi

# Keep one VM alive so the tests' VMs never flip KVM's static keys (see kvm-hold.c).
if [ ! -e /.kh/ctl/no-hold ]; then
	/.kh/kvm-hold </dev/null >/tmp/kvm-hold.log 2>&1 &
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		$BB grep -q ready /tmp/kvm-hold.log && break
		$BB sleep 0.2
	done
	$BB grep -q ready /tmp/kvm-hold.log || { echo "kvmhost: kvm-hold did not start:"; $BB cat /tmp/kvm-hold.log; }
fi

cd "$($BB cat /.kh/ctl/cwd)" 2>/dev/null || cd /
read -r up _ </proc/uptime
echo "KVMHOST-START $nonce $up"
$BB sh /.kh/ctl/cmd </dev/null
rc=$?
read -r up _ </proc/uptime
echo "KVMHOST-DONE $nonce $up"
finish "$rc"
