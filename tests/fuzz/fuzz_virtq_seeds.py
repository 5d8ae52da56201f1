#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_virtq.c to tests/fuzz/corpus/virtq/ (layout: see there)."""
import os
import struct
import sys

DESC, AVAIL, USED = 0x1000, 0x2000, 0x3000
NEXT, WRITE, INDIRECT = 1, 2, 4


class Guest:
    def __init__(self, log2num=4, flags=0x0B, count=8):
        self.params = bytes([log2num, flags, count, 0])
        self.ram = bytearray(0x9000)
        self.num = 1 << log2num
        self.heads = []

    def put(self, addr, data):
        self.ram[addr:addr + len(data)] = data

    def desc(self, i, addr, length, flags=0, nxt=0, table=DESC):
        self.put(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def req(self, head, type_, sector, data_len, data_write, hdr=0x4000, data=0x5000, st=0x6000):
        self.put(hdr, struct.pack("<IIQ", type_, 0, sector))
        self.desc(head, hdr, 16, NEXT, head + 1)
        if data_len:
            self.desc(head + 1, data, data_len, NEXT | (WRITE if data_write else 0), head + 2)
            self.desc(head + 2, st, 1, WRITE)
        else:
            self.desc(head + 1, st, 1, WRITE)
        self.heads.append(head)

    def bytes(self, avail_idx=None):
        for n, h in enumerate(self.heads):
            self.put(AVAIL + 4 + 2 * (n % self.num), struct.pack("<H", h))
        idx = len(self.heads) if avail_idx is None else avail_idx
        self.put(AVAIL + 2, struct.pack("<H", idx))
        # RAM past the input is zero-filled by the harness: trailing zeroes need not be stored.
        return (self.params + bytes(self.ram)).rstrip(b"\0")


def seeds():
    g = Guest(); g.req(0, 0, 1, 512, True); yield "read", g.bytes()
    g = Guest(); g.req(0, 1, 2, 1024, False); yield "write", g.bytes()
    g = Guest(); g.req(0, 4, 0, 0, False); yield "flush", g.bytes()
    g = Guest(); g.req(0, 8, 0, 20, True); yield "get_id", g.bytes()
    g = Guest(flags=0x1B)
    g.put(0x5000, struct.pack("<QII", 8, 8, 0)); g.req(0, 11, 0, 16, False)
    yield "discard", g.bytes()
    g = Guest(flags=0x1B)
    g.put(0x5000, struct.pack("<QII", 8, 8, 1)); g.req(0, 13, 0, 16, False)
    yield "write_zeroes", g.bytes()
    g = Guest()
    for i in range(4):
        g.req(3 * i, i % 2, i, 512, i % 2 == 0, hdr=0x4000 + 16 * i, data=0x5000 + 512 * i,
              st=0x6000 + i)
    yield "batch", g.bytes()
    g = Guest(); g.put(0x4000, struct.pack("<IIQ", 0, 0, 3))
    g.desc(0, 0x4000, 16, NEXT, 1, table=0x8000)
    g.desc(1, 0x5000, 4096, NEXT | WRITE, 2, table=0x8000)
    g.desc(2, 0x6000, 1, WRITE, 0, table=0x8000)
    g.desc(0, 0x8000, 48, INDIRECT); g.heads.append(0)
    yield "indirect", g.bytes()
    g = Guest(); g.desc(0, 0x8100, 16, INDIRECT, 0, table=0x8000)
    g.desc(0, 0x8000, 16, INDIRECT); g.heads.append(0)
    yield "nested_indirect", g.bytes()
    g = Guest(); g.desc(0, 0x4000, 16, NEXT, 1); g.desc(1, 0x4000, 16, NEXT, 0); g.heads.append(0)
    yield "loop", g.bytes()
    g = Guest(); g.req(0, 0, 0, 512, True, data=0xFFFFFFFF00); yield "bad_addr", g.bytes()
    g = Guest(); g.req(0, 0, 0, 0xFFFFFFFF, True); yield "huge_len", g.bytes()
    g = Guest(); g.req(0, 0, 1 << 62, 512, True); yield "out_of_range", g.bytes()
    g = Guest(); g.req(0, 0, 0, 512, True); yield "avail_jump", g.bytes(avail_idx=200)
    g = Guest(log2num=8, flags=0x2B, count=255)
    for i in range(0, 255, 3):
        g.req(i, 0, i % 64, 512, True, hdr=0x4000 + 16 * (i // 3), data=0x5000, st=0x6000)
    yield "full_ring", g.bytes()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "virtq")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
