#!/usr/bin/env bash
# virtio-blk driven by the test guest: reads and writes against known image contents,
# flush, get-id, read-only enforcement, out-of-range sectors, two drives, both engines,
# and a hostile driver (bad descriptors, loops, bad register use). The host checks the
# images afterwards.
set -u
. "$(dirname "$0")/lib.sh"

need_kvm
echo "host kind: $(kvm_kind)"

SECTORS=16384 # 8 MiB
python3 - "$TMP/pattern.img" $SECTORS <<'PY'
import struct, sys
n = int(sys.argv[2]) * 512 // 8
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<%dQ" % n, *range(0, n * 8, 8)))
PY
# What the guest writes at sector 2048: byte i of 4 KiB is 0xa5 ^ (i & 0xff).
python3 -c "
import sys
sys.stdout.buffer.write(bytes((0xa5 ^ (i & 0xff)) for i in range(4096)))" >"$TMP/written.bin"

drives() { # drives ENGINE CACHE
	printf '[{"drive_id": "data0", "path_on_host": "%s", "is_root_device": false, "is_read_only": false, "io_engine": "%s", "cache_type": "%s"},' \
		"$TMP/d0.img" "$1" "$2"
	printf ' {"drive_id": "ro1", "path_on_host": "%s", "is_root_device": false, "is_read_only": true, "io_engine": "%s"}]' \
		"$TMP/d1.img" "$1"
}

for engine in Sync Async; do
	cp "$TMP/pattern.img" "$TMP/d0.img"
	cp "$TMP/pattern.img" "$TMP/d1.img"
	chmod 0444 "$TMP/d1.img"
	write_config "$TMP/blk.json" "$TESTGUEST" 64 1 \
		"guest.test=blk guest.sectors0=$SECTORS guest.sectors1=$SECTORS guest.id0=data0" \
		"$(drives "$engine" Writeback)"
	run_vmm 120 "$TMP/blk-$engine.out" --no-api --config-file "$TMP/blk.json"
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/blk-$engine.out"; then
		pass "$engine: $(grep -o 'guest: RESULT.*' "$TMP/blk-$engine.out")"
	else
		fail "$engine: exit $rc"; grep -E 'FAIL|ERROR|RESULT' "$TMP/blk-$engine.out" | sed 's/^/      /'
	fi
	expect "$engine: the guest's write landed at sector 2048, the rest of drive 0 is untouched" \
		python3 - "$TMP/d0.img" "$TMP/pattern.img" "$TMP/written.bin" <<'PY'
import sys
img, orig, written = (open(p, "rb").read() for p in sys.argv[1:4])
at = 2048 * 512
ok = (img[at:at + 4096] == written and img[:at] == orig[:at]
      and img[at + 4096:] == orig[at + 4096:])
sys.exit(0 if ok else 1)
PY
	expect "$engine: the read-only drive is unchanged" cmp -s "$TMP/d1.img" "$TMP/pattern.img"
	# A one-byte QueueNotify write kicks only through an any-length ioeventfd (KVM's
	# fast MMIO path), which the VMM registers unless it logs that KVM lacks it.
	served=$(grep -o '1-byte kick served: [a-z]*' "$TMP/blk-$engine.out" | awk '{ print $NF }')
	want=yes
	grep -q 'lacks KVM_CAP_IOEVENTFD_ANY_LENGTH' "$TMP/blk-$engine.out" && want=no
	expect "$engine: a 1-byte kick is served: '$served', want '$want'" test "$served" = "$want"
	chmod 0644 "$TMP/d1.img"
	if [ "$engine" = Async ]; then
		# The VMM's own thread owns the ring: DEFER_TASKRUN wherever the kernel has it.
		mode=$(grep -o 'io_uring ready in [0-9]* us ([^)]*)' "$TMP/blk-$engine.out" | head -1)
		want="DEFER_TASKRUN"
		kv=$(uname -r | awk -F. '{ printf "%d", $1 * 1000 + $2 }')
		[ "$kv" -lt 6001 ] && want="this kernel refuses DEFER_TASKRUN"
		expect "Async: ring mode logged: '$mode' (kernel $(uname -r))" \
			sh -c "printf '%s' '$mode' | grep -q '($want)'"
	fi
done

for t in blk-hostile mmio-hostile; do
	for engine in Sync Async; do
		cp "$TMP/pattern.img" "$TMP/d0.img"
		write_config "$TMP/h.json" "$TESTGUEST" 64 1 "guest.test=$t guest.mem_mib=64 guest.sectors0=$SECTORS" \
			"[{\"drive_id\": \"d0\", \"path_on_host\": \"$TMP/d0.img\", \"is_root_device\": false, \"is_read_only\": false, \"io_engine\": \"$engine\"}]"
		run_vmm 120 "$TMP/$t.out" --no-api --config-file "$TMP/h.json"
		if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/$t.out"; then
			pass "$t ($engine): VMM survived, $(grep -o 'guest: RESULT.*' "$TMP/$t.out")"
		else
			fail "$t ($engine): exit $rc"; grep -E 'FAIL|ERROR|WARN|RESULT' "$TMP/$t.out" | sed 's/^/      /'
		fi
		expect "$t ($engine): the image is unchanged" cmp -s "$TMP/d0.img" "$TMP/pattern.img"
	done
done
finish
