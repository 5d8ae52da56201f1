#!/usr/bin/env bash
# The VMM core end to end: bad input on any host; with KVM, the test guest checks the
# boot protocol from inside (zero page, e820, RNG seed, MP table, CPUID), and the VMM's
# exit paths (guest reset, triple fault, SIGTERM) give their documented status.
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$VMM" ] || { echo "build $VMM first"; exit 1; }

echo "bad input (no KVM needed: the kernel is loaded before KVM is opened)"
good_cfg() { write_config "$TMP/$1.json" "$2" "${3:-128}" 1 "" "[]" "${4:-}"; }
bad() { # bad NAME EXPECTED_MESSAGE CONFIG_FILE
	run_vmm 60 "$TMP/$1.out" --no-api --no-seccomp --config-file "$3"
	if [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] && grep -q -- "$2" "$TMP/$1.out"; then
		pass "$1: exit $rc, '$2'"
	else
		fail "$1: exit $rc, expected '$2'"; sed 's/^/      /' "$TMP/$1.out"
	fi
}
good_cfg missing /nonexistent/vmlinux
bad missing-kernel "cannot open /nonexistent/vmlinux" "$TMP/missing.json"
head -c 100000 /dev/urandom >"$TMP/random.bin"
good_cfg random "$TMP/random.bin"
bad not-a-kernel "not an ELF vmlinux nor a bzImage" "$TMP/random.json"
mkdir -p "$TMP/dir"
good_cfg dir "$TMP/dir"
bad kernel-is-directory "not a regular file" "$TMP/dir.json"
head -c 3000 "$TESTGUEST" >"$TMP/trunc.elf"
good_cfg trunc "$TMP/trunc.elf"
bad truncated-elf "beyond end of file" "$TMP/trunc.json"
if [ -f "$GUEST/vmlinux" ]; then
	# A local copy: the checkout may be on a slow shared filesystem (tests/kvmhost's 9p).
	cp "$GUEST/vmlinux" "$TMP/vmlinux"
	good_cfg small "$TMP/vmlinux" 8
	bad memory-too-small "memory too small for the kernel" "$TMP/small.json"
	head -c 200M /dev/zero >"$TMP/big.initrd"
	good_cfg bigrd "$TMP/vmlinux" 128 "$TMP/big.initrd"
	bad initrd-too-big "does not fit" "$TMP/bigrd.json"
fi
echo '{"boot-source": {"kernel_image_path": "x"' >"$TMP/badjson.json"
bad bad-json "badjson.json" "$TMP/badjson.json"
echo '{"boot-source": {"kernel_image_path": "x"}, "machine-config": {"vcpu_count": 64, "mem_size_mib": 128}}' >"$TMP/vcpus.json"
bad vcpu-count-out-of-range "vcpu_count" "$TMP/vcpus.json"
echo '{"boot-source": {"kernel_image_path": "x", "bogus": 1}}' >"$TMP/unknown.json"
bad unknown-field "bogus" "$TMP/unknown.json"
run_vmm 5 "$TMP/usage.out" --no-api
expect "--no-api without --config-file is a usage error (exit 2)" test "$rc" -eq 2

# with_serial IN OUT SERIAL_JSON: a copy of config IN with a "serial" section.
with_serial() {
	python3 - "$@" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["serial"] = json.loads(sys.argv[3])
json.dump(cfg, open(sys.argv[2], "w"))
PY
}
echo "serial_out_path checked at start (before KVM: the same on any host)"
mkfifo "$TMP/noreader.fifo"
good_cfg fifo "$TESTGUEST" 64
with_serial "$TMP/fifo.json" "$TMP/fifo-serial.json" "{\"serial_out_path\": \"$TMP/noreader.fifo\"}"
bad serial-fifo-without-reader "serial.serial_out_path: cannot open \"$TMP/noreader.fifo\": No such device or address (a named pipe needs a reader first)" "$TMP/fifo-serial.json"
with_serial "$TMP/fifo.json" "$TMP/dir-serial.json" "{\"serial_out_path\": \"$TMP/dir\"}"
bad serial-path-is-directory "serial.serial_out_path: cannot open \"$TMP/dir\": Is a directory" "$TMP/dir-serial.json"

echo "a failed InstanceStart leaks nothing and leaves the API serving"
if command -v curl >/dev/null; then
	sock="$TMP/api.sock"
	"$VMM" --api-sock "$sock" </dev/null >"$TMP/api.out" 2>&1 &
	apipid=$!
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	curl -s --unix-socket "$sock" -X PUT http://localhost/boot-source \
		-d "{\"kernel_image_path\": \"$TMP/random.bin\"}" >/dev/null
	curl -s --unix-socket "$sock" -X PUT http://localhost/actions -d '{"action_type": "InstanceStart"}' >/dev/null
	fds_before=$(ls /proc/$apipid/fd | wc -l)
	maps_before=$(wc -l </proc/$apipid/maps)
	for _ in $(seq 5); do
		code=$(curl -s -o "$TMP/start.body" -w '%{http_code}' --unix-socket "$sock" -X PUT \
			http://localhost/actions -d '{"action_type": "InstanceStart"}')
	done
	expect "InstanceStart with a bad kernel: 400 naming the problem" \
		sh -c "[ '$code' = 400 ] && grep -q 'not an ELF vmlinux nor a bzImage' '$TMP/start.body'"
	expect "5 failed starts: fds $fds_before -> $(ls /proc/$apipid/fd | wc -l)" \
		test "$(ls /proc/$apipid/fd | wc -l)" -eq "$fds_before"
	expect "5 failed starts: mappings $maps_before -> $(wc -l </proc/$apipid/maps)" \
		test "$(wc -l </proc/$apipid/maps)" -eq "$maps_before"
	# Then a start that fails late: valid kernel, missing drive (after KVM and the legacy
	# devices exist where /dev/kvm works; at opening /dev/kvm elsewhere).
	curl -s --unix-socket "$sock" -X PUT http://localhost/boot-source \
		-d "{\"kernel_image_path\": \"$TESTGUEST\"}" >/dev/null
	# A FIFO nobody reads: InstanceStart says so at once instead of hanging.
	curl -s --unix-socket "$sock" -X PUT http://localhost/serial \
		-d "{\"serial_out_path\": \"$TMP/noreader.fifo\"}" >/dev/null
	code=$(timeout 10 curl -s -o "$TMP/start.body" -w '%{http_code}' --unix-socket "$sock" -X PUT \
		http://localhost/actions -d '{"action_type": "InstanceStart"}')
	expect "InstanceStart with serial_out_path a FIFO without reader: 400 ($(cat "$TMP/start.body"))" \
		sh -c "[ '$code' = 400 ] && grep -q 'serial.serial_out_path: cannot open.*needs a reader' '$TMP/start.body'"
	# The late failures below also open the console file: each must close it again.
	curl -s --unix-socket "$sock" -X PUT http://localhost/serial \
		-d "{\"serial_out_path\": \"$TMP/late.console\"}" >/dev/null
	curl -s --unix-socket "$sock" -X PUT http://localhost/drives/gone \
		-d '{"drive_id": "gone", "path_on_host": "/nonexistent.img", "is_root_device": false, "is_read_only": false}' >/dev/null
	curl -s --unix-socket "$sock" -X PUT http://localhost/actions -d '{"action_type": "InstanceStart"}' >/dev/null
	fds_before=$(ls /proc/$apipid/fd | wc -l)
	maps_before=$(wc -l </proc/$apipid/maps)
	for _ in $(seq 5); do
		code=$(curl -s -o "$TMP/start.body" -w '%{http_code}' --unix-socket "$sock" -X PUT \
			http://localhost/actions -d '{"action_type": "InstanceStart"}')
	done
	expect "late failure: 400 ($(cat "$TMP/start.body"))" test "$code" = 400
	expect "late failure: serial_out_path was opened (created) at InstanceStart" test -f "$TMP/late.console"
	expect "5 late failures: fds $fds_before -> $(ls /proc/$apipid/fd | wc -l)" \
		test "$(ls /proc/$apipid/fd | wc -l)" -eq "$fds_before"
	expect "5 late failures: mappings $maps_before -> $(wc -l </proc/$apipid/maps)" \
		test "$(wc -l </proc/$apipid/maps)" -eq "$maps_before"
	expect "the API still answers" sh -c "curl -s --unix-socket '$sock' http://localhost/ | grep -q 'Not started'"
	kill -TERM $apipid
	wait $apipid
fi

echo "the config file's logger and metrics sections (as PUT /logger and PUT /metrics)"
python3 - "$TMP/missing.json" "$TMP/logmet.json" "$TMP/cfg.log" "$TMP/cfg.metrics" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["logger"] = {"log_path": sys.argv[3], "level": "Info", "show_level": True, "show_log_origin": True}
cfg["metrics"] = {"metrics_path": sys.argv[4]}
json.dump(cfg, open(sys.argv[2], "w"))
PY
run_vmm 60 "$TMP/logmet.out" --no-api --config-file "$TMP/logmet.json"
expect "config-file logger: the start failure is in its log_path, with level and origin" \
	grep -q 'ERROR vmm/main.c:[0-9]* cannot start the microVM: kernel: cannot open /nonexistent/vmlinux' "$TMP/cfg.log"
expect "config-file metrics: a line at exit in its metrics_path" \
	grep -q '"seccomp":{"num_faults":0}' "$TMP/cfg.metrics"
run_vmm 5 "$TMP/logmet2.out" --no-api --config-file "$TMP/logmet.json" --log-path "$TMP/other.log"
expect "--log-path and logger.log_path together: usage error ($rc)" \
	sh -c "[ $rc -eq 2 ] && grep -q 'exclude each other' '$TMP/logmet2.out'"
run_vmm 5 "$TMP/logmet3.out" --no-api --config-file "$TMP/logmet.json" --metrics-path "$TMP/other.m"
expect "--metrics-path and a metrics section together: usage error ($rc)" \
	sh -c "[ $rc -eq 2 ] && grep -q 'exclude each other' '$TMP/logmet3.out'"

why=$(kvm_unusable_reason)
if [ -n "$why" ]; then
	echo "  SKIP guest boots: $why"
finish
fi
echo "host kind: $(kvm_kind)"

echo "test guest: boot protocol from inside the guest"
for shape in "1 128" "4 256" "2 3328"; do
	set -- $shape
	write_config "$TMP/boot$1.json" "$TESTGUEST" "$2" "$1" \
		"guest.test=boot guest.cpus=$1 guest.mem_mib=$2"
	run_vmm 120 "$TMP/boot$1.out" --no-api --boot-timer --config-file "$TMP/boot$1.json"
	if [ "$rc" -eq 0 ] && grep -q "guest: RESULT [1-9][0-9]* passed, 0 failed" "$TMP/boot$1.out"; then
		pass "$1 vCPU / $2 MiB: $(grep -o 'guest: RESULT.*' "$TMP/boot$1.out")"
	else
		fail "$1 vCPU / $2 MiB: exit $rc"; sed 's/^/      /' "$TMP/boot$1.out" | tail -40
	fi
	expect "$1 vCPU: boot timer logged" grep -q "Guest-boot-time" "$TMP/boot$1.out"
	expect "$1 vCPU: exit counts logged" grep -q "VM exits by reason" "$TMP/boot$1.out"
done
# Ring 3 without IOPL: every port access faults and the guest's #GP handler performs it
# (what the test guest falls back to on hosts that do not honour IOPL in guest ring 3).
write_config "$TMP/iopl0.json" "$TESTGUEST" 128 1 "guest.test=boot guest.cpus=1 guest.mem_mib=128 guest.iopl=0"
run_vmm 120 "$TMP/iopl0.out" --no-api --config-file "$TMP/iopl0.json"
guest_result "ring 3 port I/O through the guest's #GP handler (guest.iopl=0)" "$TMP/iopl0.out"
expect "guest.iopl=0: the fallback announced itself" grep -q "guest: note: ring 3 port I/O faults" "$TMP/iopl0.out"

echo "serial console to a file, and rate-limited"
write_config "$TMP/ser.json" "$TESTGUEST" 128 1 "guest.test=boot guest.cpus=1 guest.mem_mib=128"
with_serial "$TMP/ser.json" "$TMP/ser-file.json" "{\"serial_out_path\": \"$TMP/ser.console\"}"
run_vmm 120 "$TMP/ser-file.out" --no-api --metrics-path "$TMP/ser.metrics" --config-file "$TMP/ser-file.json"
GUEST_CONSOLES="$TMP/ser.console"
guest_result "serial_out_path file" "$TMP/ser.console"
expect "serial_out_path: nothing of the guest's on stdout" sh -c "! grep -q 'guest:' '$TMP/ser-file.out'"
# uart_metric FILE KEY: the value in the last metrics line.
uart_metric() {
	python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["uart"][sys.argv[2]])' "$1" "$2" 2>/dev/null || echo -1
}
wc=$(uart_metric "$TMP/ser.metrics" write_count)
size=$(wc -c <"$TMP/ser.console")
expect "uart.write_count $wc = console file size $size, nothing dropped" \
	sh -c "[ '$wc' -gt 0 ] && [ '$wc' -eq '$size' ] && [ $(uart_metric "$TMP/ser.metrics" rate_limiter_dropped_bytes) -eq 0 ]"
# 64 bytes, refilled over 1000 s: the rest of the guest's output is dropped and counted.
with_serial "$TMP/ser.json" "$TMP/ser-rl.json" \
	"{\"serial_out_path\": \"$TMP/rl.console\", \"rate_limiter\": {\"size\": 64, \"refill_time\": 1000000}}"
run_vmm 120 "$TMP/ser-rl.out" --no-api --metrics-path "$TMP/rl.metrics" --config-file "$TMP/ser-rl.json"
wc=$(uart_metric "$TMP/rl.metrics" write_count)
dropped=$(uart_metric "$TMP/rl.metrics" rate_limiter_dropped_bytes)
size=$(wc -c <"$TMP/rl.console")
expect "rate-limited serial: exit 0 (got $rc)" test "$rc" -eq 0
expect "rate-limited serial: 64 bytes out ($size) = uart.write_count $wc, the rest dropped ($dropped)" \
	sh -c "[ '$size' -eq 64 ] && [ '$wc' -eq 64 ] && [ '$dropped' -gt 0 ]"
expect "rate-limited serial: the guest's first words made it" grep -q "guest: started" "$TMP/rl.console"
GUEST_CONSOLES=

echo "exit paths"
write_config "$TMP/triple.json" "$TESTGUEST" 64 1 "guest.test=triple"
run_vmm 60 "$TMP/triple.out" --no-api --config-file "$TMP/triple.json"
expect "triple fault exits with status 3 (got $rc)" test "$rc" -eq 3

write_config "$TMP/spin.json" "$TESTGUEST" 64 2 "guest.test=none-spin"
# An unknown test reports failure and resets: exit 0 with a FAIL line.
run_vmm 60 "$TMP/spin.out" --no-api --config-file "$TMP/spin.json"
expect "guest reset ends the VMM with status 0 (got $rc)" test "$rc" -eq 0
expect "guest failure is visible on the console" grep -q "guest: FAIL test selection" "$TMP/spin.out"

echo "SIGTERM ends a running VM cleanly"
write_config "$TMP/spin.json" "$TESTGUEST" 64 2 "guest.test=spin"
"$VMM" --no-api --config-file "$TMP/spin.json" </dev/null >"$TMP/term.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "guest: spinning" "$TMP/term.out" && break; sleep 0.1; done
expect "the spinning guest is running" grep -q "guest: spinning" "$TMP/term.out"
threads=$(ls /proc/$pid/task 2>/dev/null | wc -l)
kill -TERM "$pid"
wait "$pid"
rc=$?
expect "SIGTERM: exit status 143 (got $rc)" test "$rc" -eq 143
expect "SIGTERM: logged" grep -q "received signal 15" "$TMP/term.out"
expect "2 vCPU threads + main were running ($threads threads)" test "$threads" -ge 3

echo "console input reaches the guest"
write_config "$TMP/echo.json" "$TESTGUEST" 64 1 "guest.test=echo"
printf 'hello guest\n' | timeout 60 "$VMM" --no-api --config-file "$TMP/echo.json" >"$TMP/echo.out" 2>&1
rc=$?
expect "echo guest: exit 0 (got $rc)" test "$rc" -eq 0
expect "echo guest: the line came back through the UART" grep -q "guest: echo HELLO GUEST" "$TMP/echo.out"

finish
