#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The KVM part of `make bench`: runs the VMM (and QEMU as a peer) and prints figures.

Run by bench/run.sh, either directly on a host with a usable /dev/kvm or inside
tests/kvmhost/run.sh's L1 (nested KVM under QEMU TCG). One Python process does every run,
so its start-up cost is paid once. Each child is timed from just before fork to its exit;
every line it prints is timestamped as it arrives (console on stdout, VMM log on stderr),
and its CPU time and peak RSS come from wait4()'s rusage.
"""
import argparse
import glob
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

A = None  # parsed arguments


def say(s=""):
    print(s, flush=True)


class Run:
    """One child process: lines with arrival times (seconds since fork), rusage, memory."""

    def __init__(self, cmd, timeout, sample_mem=False, stop_rx=None, grace=10, sample_kvm=False):
        self.cmd = cmd
        self.lines = []  # (t, stream, text)
        self.mem = {}  # max of each /proc/<pid>/status field sampled while running
        # KVM's counters for the VM (debugfs, root only), last seen while it ran: "exits"
        # includes those KVM handles itself (a kick through an ioeventfd), "irq_exits" are
        # host interrupts, "mmio_exits"/"io_exits" the ones that reached the VMM.
        self.kvm = {}
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        sel = selectors.DefaultSelector()
        partial = {}
        for f, name in ((p.stdout, "out"), (p.stderr, "err")):
            os.set_blocking(f.fileno(), False)
            sel.register(f, selectors.EVENT_READ, name)
            partial[name] = b""
        status_path = "/proc/%d/status" % p.pid
        kvm_glob = "/sys/kernel/debug/kvm/%d-*" % p.pid
        sampling = sample_mem or sample_kvm
        open_pipes = 2
        deadline = t0 + timeout
        self.timed_out = False
        self.stopped = False
        stop = re.compile(stop_rx) if stop_rx else None
        while open_pipes:
            now = time.monotonic()
            if now > deadline:
                self.timed_out = True
                p.kill()
                break
            for key, _ in sel.select(0.002 if sampling else deadline - now):
                data = os.read(key.fileobj.fileno(), 65536)
                t = time.monotonic() - t0
                if not data:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    if partial[key.data]:
                        self.lines.append((t, key.data, partial[key.data].decode("utf-8", "replace")))
                    continue
                buf = partial[key.data] + data
                *whole, partial[key.data] = buf.split(b"\n")
                for w in whole:
                    line = w.decode("utf-8", "replace").rstrip("\r")
                    self.lines.append((t, key.data, line))
                    # A peer that does not exit by itself is stopped once it is done.
                    if stop and not self.stopped and stop.search(line):
                        self.stopped = True
                        deadline = min(deadline, t0 + t + grace)
            if sample_mem:
                self._sample(status_path)
            if sample_kvm:
                self._sample_kvm(kvm_glob)
        _, st, ru = os.wait4(p.pid, 0)
        self.wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(st)
        self.status = p.returncode
        self.cpu = ru.ru_utime + ru.ru_stime
        self.utime, self.stime = ru.ru_utime, ru.ru_stime
        self.maxrss_kib = ru.ru_maxrss

    def _sample(self, path):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            return
        for line in text.splitlines():
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                kib = int(v.split()[0])
                self.mem[k] = max(self.mem.get(k, 0), kib)

    KVM_STATS = ("exits", "irq_exits", "halt_exits", "mmio_exits", "io_exits")

    def _sample_kvm(self, pattern):
        # The VM's directory goes with the VM: the last ~2 ms of its life are not seen.
        for d in glob.glob(pattern):
            for k in self.KVM_STATS:
                try:
                    with open(os.path.join(d, k)) as f:
                        self.kvm[k] = max(self.kvm.get(k, 0), int(f.read().strip()))
                except (OSError, ValueError):
                    pass

    def first(self, pattern):
        """(time, match) of the first line matching pattern, or (None, None)."""
        rx = re.compile(pattern)
        for t, _, text in self.lines:
            m = rx.search(text)
            if m:
                return t, m
        return None, None

    def text(self):
        return "\n".join(l[2] for l in self.lines)


def write_config(path, kernel, args, mem=128, vcpus=1, initrd=None, drives=()):
    boot = {"kernel_image_path": kernel, "boot_args": args}
    if initrd:
        boot["initrd_path"] = initrd
    cfg = {"boot-source": boot,
           "machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem},
           "drives": list(drives)}
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def vmm(cfg, *extra):
    return [A.vmm, "--no-api", "--config-file", cfg, "--level", "Info", *extra]


def med_min(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return "median %s, min %s (n=%d)" % (fmt_us(statistics.median(xs)), fmt_us(min(xs)), len(xs))


def fmt_us(us):
    if us >= 10000:
        return "%.1f ms" % (us / 1000)
    return "%.0f us" % us


def fail_run(what, r):
    say("  %s: FAILED (exit %s%s); last lines:" % (what, r.status, ", timeout" if r.timed_out else ""))
    for _, s, t in r.lines[-15:]:
        say("    [%s] %s" % (s, t))


# 1. Process start to first KVM_RUN with the test guest.
def bench_start():
    say("== 1. Process start to first KVM_RUN (1 vCPU, 128 MiB, test guest guest.test=boot)")
    cfg = write_config(os.path.join(A.work, "start.json"), A.testguest, "guest.test=boot")
    first, setup, to_console, wall, cpu, bt_cpu = [], [], [], [], [], []
    for i in range(A.runs):
        mpath = os.path.join(A.work, "metrics-%d.json" % i)
        r = Run(vmm(cfg, "--boot-timer", "--metrics-path", mpath), 120)
        _, m = r.first(r"first KVM_RUN (\d+) us after process start")
        if r.status != 0 or not m:
            fail_run("run %d" % i, r)
            continue
        first.append(int(m.group(1)))
        try:
            with open(mpath) as f:
                m = re.findall(r'"setup_time_us":\s*(\d+)', f.read())
            setup.append(int(m[-1]) if m else None)
        except OSError:
            setup.append(None)
        t, _ = r.first(r"^guest: ")
        to_console.append(t * 1e6 if t is not None else None)
        _, m = r.first(r"Guest-boot-time = (\d+) us .*, (\d+) CPU us")
        bt_cpu.append(int(m.group(2)) if m else None)
        wall.append(r.wall * 1e6)
        cpu.append(r.cpu * 1e6)
    say("  VMM main() to the BSP's first KVM_RUN (VMM log):      " + med_min(first))
    say("  VMM main() to vCPU threads started (setup_time_us):  " + med_min(setup))
    say("  fork to the guest's first console line (wrapper):    " + med_min(to_console))
    say("  CPU (user+sys) of the VMM up to the guest's boot-timer write: " + med_min(bt_cpu))
    say("  whole run, fork to exit (wall):                      " + med_min(wall))
    say("  whole run CPU user+sys (getrusage of the child):     " + med_min(cpu))
    say("  goal: under 3 ms wall from process start to first KVM_RUN on real hardware")
    return first


def api_call(sock, method, path, body=None):
    """One HTTP/1.1 request on a keep-alive Unix socket; returns the status code."""
    data = json.dumps(body).encode() if body is not None else b""
    sock.sendall(("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("API closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"Content-Length: *(\d+)", head, re.I)
    need = int(m.group(1)) if m else 0
    while len(rest) < need:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return int(head.split()[1])


# 1b. InstanceStart over the API to the guest running.
def bench_api_start():
    say("== 1b. PUT /actions InstanceStart to first guest instruction (API, test guest, 1 vCPU, 128 MiB)")
    vmm_side, answered, to_console = [], [], []
    for i in range(A.runs):
        path = os.path.join(A.work, "api-%d.sock" % i)
        p = subprocess.Popen([A.vmm, "--api-sock", path, "--level", "Info"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        lines = []  # (monotonic time, text) of stdout and stderr

        def reader(f):
            for raw in f:
                lines.append((time.monotonic(), raw.decode("utf-8", "replace")))
        threads = [threading.Thread(target=reader, args=(f,), daemon=True)
                   for f in (p.stdout, p.stderr)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.001)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            st = [api_call(s, "PUT", "/boot-source",
                           {"kernel_image_path": A.testguest, "boot_args": "guest.test=boot"}),
                  api_call(s, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})]
            t_send = time.monotonic()
            st.append(api_call(s, "PUT", "/actions", {"action_type": "InstanceStart"}))
            t_answer = time.monotonic()
            s.close()
            p.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            p.kill()
            p.wait()
            say("  run %d: FAILED (%s)" % (i, e))
            continue
        for t in threads:
            t.join(5)
        if st != [204, 204, 204] or p.returncode != 0:
            say("  run %d: FAILED (answers %s, exit %s)" % (i, st, p.returncode))
            continue
        answered.append((t_answer - t_send) * 1e6)
        tc = [t for t, text in lines if text.startswith("guest: ")]
        to_console.append((min(tc) - t_send) * 1e6 if tc else None)
        m = [re.search(r"first KVM_RUN (\d+) us after InstanceStart", text) for _, text in lines]
        m = [x for x in m if x]
        vmm_side.append(int(m[0].group(1)) if m else None)
    say("  InstanceStart on the VMM thread to the BSP's first KVM_RUN (VMM log): " + med_min(vmm_side))
    say("  request sent to its 204 answer (client):                            " + med_min(answered))
    say("  request sent to the guest's first console line (client, upper bound): " + med_min(to_console))


def linux_boot(kernel, name, sample_mem=False, args="-- true"):
    cfg = write_config(os.path.join(A.work, name + ".json"), kernel, args,
                       initrd=A.initrd)
    return Run(vmm(cfg, "--boot-timer"), A.boot_timeout, sample_mem)


def qemu_boot(kernel, extra=()):
    cmd = [A.qemu, *extra, "-M", "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=off",
           "-enable-kvm", "-cpu", "host", "-m", "128", "-smp", "1", "-nodefaults",
           "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
           "-kernel", kernel, "-initrd", A.initrd,
           "-append", "console=ttyS0 reboot=k panic=1 -- true"]
    return Run(cmd, A.boot_timeout, stop_rx=r"reboot: (machine restart|Restarting system)")


INIT_RX = r"Run /init as init process"
GUEST_INIT_RX = r"\[\s*([0-9.]+)\] Run /init as init process"


def guest_clock_at_init(r):
    _, m = r.first(GUEST_INIT_RX)
    return float(m.group(1)) if m else None


# 2-4. Linux boot: exits, time to /init and to the boot timer, memory overhead.
def bench_linux():
    say("== 2-4. Linux boot to init (build/guest/vmlinux + initramfs.cpio, boot_args \"-- true\")")
    r = linux_boot(A.vmlinux, "linux", sample_mem=True)
    t_init, _ = r.first(INIT_RX)
    _, ex = r.first(r"VM exits by reason: (.*)")
    _, bt = r.first(r"Guest-boot-time = (\d+) us .*, (\d+) CPU us .*since VM start: (\d+) us")
    _, done = r.first(r"vmm-init: exit status (\d+)")
    if r.status != 0 or t_init is None:
        fail_run("Linux boot", r)
        return r
    say("  2. VM exits by reason (whole run, boot to init and reboot): " + (ex.group(1) if ex else "n/a"))
    if ex:
        total = sum(int(x) for x in re.findall(r"\d+", ex.group(1)))
        say("     total %d exits to the VMM" % total)
    say("  3. fork to \"Run /init as init process\" on the console: %s (guest kernel clock then: %s)"
        % (fmt_us(t_init * 1e6), fmt_s(guest_clock_at_init(r))))
    if bt:
        say("     boot-timer signal (init wrote it): %s since process start (%s since VM start), "
            "VMM CPU %s" % (fmt_us(int(bt.group(1))), fmt_us(int(bt.group(3))),
                            fmt_us(int(bt.group(2)))))
    else:
        say("     boot-timer signal: not seen (the guest init did not reach it)")
    say("     init ran the command: %s; whole run %s wall, %s CPU (user %.0f ms, sys %.0f ms), exit %d"
        % ("exit status " + done.group(1) if done else "no", fmt_us(r.wall * 1e6),
           fmt_us(r.cpu * 1e6), r.utime * 1e3, r.stime * 1e3, r.status))
    mem_report(r, "Linux boot, 128 MiB")
    # Most io exits are the 8250 console (an exit per byte and per status poll): the
    # same boot with "quiet" shows what is left.
    q = linux_boot(A.vmlinux, "quiet", args="quiet -- true")
    _, qx = q.first(r"VM exits by reason: (.*)")
    if q.status == 0 and qx:
        say("  2b. the same boot with \"quiet\": %s (total %d)"
            % (qx.group(1), sum(int(x) for x in re.findall(r"\d+", qx.group(1)))))
    return r


def fmt_s(x):
    return "n/a" if x is None else "%.3f s" % x


def mem_report(r, what):
    m = r.mem
    peak = m.get("VmHWM", 0)
    guest = m.get("RssShmem", 0)
    say("  4. VMM memory (%s): peak RSS (VmHWM) %d KiB; guest RAM touched (RssShmem) %d KiB"
        % (what, peak, guest))
    say("     overhead = peak RSS - guest RAM touched = %d KiB (%.2f MiB); of which private "
        "anonymous (RssAnon max) %d KiB, file-backed binary and libraries (RssFile max) %d KiB"
        % (peak - guest, (peak - guest) / 1024, m.get("RssAnon", 0), m.get("RssFile", 0)))


def bench_mem_testguest():
    say("  4. method: /proc/<pid>/status sampled every 2 ms and on every output line until the "
        "VMM exits; peak = VmHWM (per-mm, so not the Python parent's RSS that ru_maxrss "
        "inherits across fork+exec); guest RAM is a MAP_SHARED memfd, so the pages the guest "
        "touched are RssShmem (max sampled; it falls to 0 when the VMM unmaps at exit)")
    cfg = write_config(os.path.join(A.work, "mem.json"), A.testguest, "guest.test=boot")
    r = Run(vmm(cfg), 120, sample_mem=True)
    if r.status != 0:
        fail_run("test guest", r)
        return
    mem_report(r, "test guest, 128 MiB")


# 5. QEMU microvm beside us, same kernel image, same environment.
def bench_qemu():
    say("== 5. QEMU microvm as a peer (same bzImage, initramfs and command line; -enable-kvm)")
    if not A.qemu:
        say("  qemu-system-x86_64 not found: skipped")
        return
    rows = []
    # microvm has no i8042 of its own: add one so reboot=k ends QEMU (-no-reboot) as it
    # ends our VMM.
    for name, run in (("vmm (ours)", lambda: linux_boot(A.bzimage, "bz")),
                      ("qemu microvm", lambda: qemu_boot(A.bzimage, ["-device", "i8042"]))):
        for i in range(A.boot_runs):
            r = run()
            t, _ = r.first(INIT_RX)
            tr, _ = r.first(r"reboot: (machine restart|Restarting system)")
            if t is None or tr is None:
                fail_run(name, r)
                continue
            if r.timed_out:
                say("  note: %s did not exit after the guest rebooted; killed (total is to the kill)"
                    % name)
            rows.append((name, t, tr, r.wall, r.cpu, guest_clock_at_init(r)))
    say("  %-14s %15s %17s %13s %13s %20s" % ("", "fork to /init", "fork to reboot", "total wall",
                                               "total CPU", "guest clock at /init"))
    for name, t, tr, w, c, g in rows:
        say("  %-14s %15s %17s %13s %13s %20s" % (name, fmt_us(t * 1e6), fmt_us(tr * 1e6),
                                                   fmt_us(w * 1e6), fmt_us(c * 1e6), fmt_s(g)))
    ours = [x for x in rows if x[0].startswith("vmm")]
    theirs = [x for x in rows if x[0].startswith("qemu")]
    if ours and theirs:
        for i, label in ((1, "fork to /init"), (2, "fork to guest reboot"), (3, "total wall"),
                         (4, "total CPU")):
            a = statistics.median(x[i] for x in ours)
            b = statistics.median(x[i] for x in theirs)
            say("  ratio vmm/qemu, %s (medians): %.2f" % (label, a / b))


# 6. virtio-blk throughput from the test guest against host I/O on the same file.
PHASES = [("randread-4k", "randread", 4096), ("randwrite-4k", "randwrite", 4096),
          ("seqread-1m", "seqread", 1 << 20), ("seqwrite-1m", "seqwrite", 1 << 20)]


def bench_blk():
    mib = A.blk_mib
    say("== 6. virtio-blk driven by the test guest (guest.test=bench-blk, bench_mib=%d: "
        "%d MiB of 4 KiB random I/O at queue depth 32, %d MiB of 1 MiB sequential I/O at depth 1)"
        % (mib, mib, 4 * mib))
    img = os.path.join(A.work, "blk.img")
    size = A.blk_file_mib << 20
    with open(img, "wb") as f:
        chunk = bytes(range(256)) * 4096
        for _ in range(size // len(chunk)):
            f.write(chunk)
    say("  backing file: %s, %d MiB (%s)" % (img, A.blk_file_mib, fs_type(img)))
    dev = {}
    act = {}
    exits = {}  # KVM's exits for each run's VM
    console = {}  # console-line window / guest TSC window, per run
    # The guest times each phase with its TSC; the host's rate converts it.
    out = subprocess.run([A.hostio, "--tsc-hz"], capture_output=True, text=True)
    m = re.search(r"tsc_hz=(\d+)", out.stdout)
    tsc_hz = int(m.group(1)) if m else None
    # "Async, no poll": the same engine with the event loop's adaptive polling off.
    for engine, extra in (("Sync", []), ("Async", []), ("Async, no poll", ["--poll-max-us", "0"])):
        io_engine = engine.split(",")[0]
        cfg = write_config(os.path.join(A.work, "blk-%s.json" % io_engine), A.testguest,
                           "guest.test=bench-blk guest.sectors0=%d guest.bench_mib=%d"
                           % (size // 512, mib),
                           drives=[{"drive_id": "bench", "path_on_host": img,
                                    "is_root_device": False, "is_read_only": False,
                                    "io_engine": io_engine, "cache_type": "Unsafe"}])
        r = Run([A.vmm, "--no-api", "--config-file", cfg, "--level", "Debug", *extra],
                A.boot_timeout, sample_kvm=True)
        if "exits" in r.kvm:
            exits[engine] = r.kvm
        if r.status != 0 or "0 failed" not in r.text():
            fail_run("bench-blk " + engine, r)
            continue
        _, m = r.first(r"io_uring ready in (\d+) us")
        act[engine] = int(m.group(1)) if m else None
        for ph, _, bs in PHASES:
            tb, _ = r.first(r"guest: BENCH begin %s$" % ph)
            te, m = r.first(r"guest: BENCH end %s ops=(\d+) bytes=(\d+)(?: tsc=(\d+))?" % ph)
            if tb is None or te is None:
                continue
            secs = te - tb
            if m.group(3) and tsc_hz:
                secs = int(m.group(3)) / tsc_hz
                console[(engine, ph)] = (te - tb) / secs
            dev[(engine, ph)] = (int(m.group(1)), int(m.group(2)), secs)
    host = {}
    for ph, pat, bs in PHASES:
        total = (mib << 20) if bs == 4096 else (mib << 22)
        qd = min(32, (1 << 20) // bs)
        for how in ("uring", "sync"):
            # Best of three: the host side is short and noisy (io-wq start-up, load).
            for _ in range(3):
                out = subprocess.run([A.hostio, img, pat, str(bs), str(total), str(qd), how],
                                     capture_output=True, text=True)
                m = re.search(r"ops=(\d+) bytes=(\d+) ns=(\d+)", out.stdout)
                if not m:
                    say("  hostio %s %s failed: %s" % (pat, how, out.stderr.strip()))
                    break
                v = (int(m.group(1)), int(m.group(2)), int(m.group(3)) / 1e9)
                if (how, ph) not in host or v[2] < host[(how, ph)][2]:
                    host[(how, ph)] = v
    say("  %-13s %-23s %10s %9s %14s %14s" % ("pattern", "path", "req/s", "MB/s",
                                             "vs host uring", "vs host pread"))
    for ph, _, _ in PHASES:
        bases = [host.get(("uring", ph)), host.get(("sync", ph))]
        rows = [("guest, Sync engine", dev.get(("Sync", ph))),
                ("guest, Async engine", dev.get(("Async", ph))),
                ("guest, Async, no poll", dev.get(("Async, no poll", ph))),
                ("host io_uring (same QD)", bases[0]),
                ("host pread/pwrite", host.get(("sync", ph)))]
        for label, v in rows:
            if not v:
                say("  %-13s %-23s %10s" % (ph, label, "n/a"))
                continue
            ops, nbytes, secs = v
            ratios = ["%.0f%%" % (100 * (ops / secs) / (b[0] / b[2])) if b else "n/a"
                      for b in bases]
            say("  %-13s %-23s %10.0f %9.1f %14s %14s" % (ph, label, ops / secs,
                                                         nbytes / secs / 1e6, *ratios))
    if console:
        say("  guest-side times: the guest's TSC from its first submission to its last completion "
            "(host TSC rate %.3f GHz); the console lines around each phase took %.2f-%.2fx as long "
            "(serial output included)" % (tsc_hz / 1e9, min(console.values()), max(console.values())))
    else:
        say("  guest-side times run from the console line \"BENCH begin\" to \"BENCH end\" as they "
            "reach the wrapper (serial output latency included)")
    say("  host rows: bench/hostio on the same file, same sizes, offsets and batches (io_uring at the "
        "guest's queue depth, and the same requests one by one with pread/pwrite), best of 3")
    say("  goal: the Async (io_uring) engine within 80% of host direct I/O")
    # The most batches the guest could kick for: 4 KiB phases at depth 32, 1 MiB at depth 1.
    batches = 2 * ((mib << 20) // 4096 // 32) + 2 * (4 * mib)
    if exits:
        # What KVM handled itself and was no host interrupt: mostly the queue kicks.
        say("  KVM exits of each run's VM (debugfs), against %d batches of I/O the guest could "
            "kick for:" % batches)
        for engine, k in exits.items():
            say("    %-15s %s; in KVM, not host interrupts: %d" % (engine, ", ".join(
                "%s %d" % (n, k.get(n, 0)) for n in Run.KVM_STATS),
                k["exits"] - sum(k.get(n, 0) for n in Run.KVM_STATS[1:])))
    else:
        say("  KVM exits per run: n/a (needs root and debugfs mounted at /sys/kernel/debug)")
    say("  drive activation (io_uring setup at DRIVER_OK, VMM debug log): %s; Sync engine: none"
        % (fmt_us(act["Async"]) if act.get("Async") is not None else "n/a"))


def fs_type(path):
    try:
        out = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def which(name):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--testguest", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--hostio", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--boot-runs", type=int, default=1)
    ap.add_argument("--boot-timeout", type=int, default=120)
    ap.add_argument("--blk-mib", type=int, default=4)
    ap.add_argument("--blk-file-mib", type=int, default=64)
    ap.add_argument("--only", default="start,linux,qemu,blk")
    A = ap.parse_args()
    A.vmlinux = os.path.join(A.guest_dir, "vmlinux")
    A.bzimage = os.path.join(A.guest_dir, "bzImage")
    A.initrd = os.path.join(A.guest_dir, "initramfs.cpio")
    A.qemu = which("qemu-system-x86_64")
    only = A.only.split(",")
    with tempfile.TemporaryDirectory(prefix="vmm-bench.") as A.work:
        for part, fns in (("start", (bench_start, bench_api_start, bench_mem_testguest)),
                          ("linux", (bench_linux,)), ("qemu", (bench_qemu,)),
                          ("blk", (bench_blk,))):
            if part not in only:
                continue
            t = time.monotonic()
            for fn in fns:
                fn()
            say("  (%s: %.0f s)" % (part, time.monotonic() - t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
