"""ChampSim binary ``input_instr`` traces (FORMATS.md section 4).

A trace is a headerless run of fixed-size little-endian records, one per
dynamic instruction; xz and gzip are detected by their magic bytes (not by
the name, unlike ChampSim, so a renamed file still works).  The layout is a
parameter (:class:`Layout`): :data:`INPUT_INSTR` is the standard 64-byte
record, :data:`CLOUDSUITE_INSTR` the 96-byte ``cloudsuite_instr`` of
ChampSim's ``--cloudsuite`` mode (read by the ``champsim-cloudsuite``
reader, module :mod:`.champsim_cloudsuite`), and a variant such as the
development-branch record with a trailing ``load_type`` byte is one more
``Layout(...)`` passed to :func:`read`.

Each instruction becomes, in order:

* one IFETCH of ``IFETCH_SIZE`` = 4 bytes at ``ip`` (tag 1, "code").  The
  trace does not record instruction lengths; 4 is a nominal size (an x86
  instruction averages about 4 bytes).  Like any access it is split if it
  crosses a line, which ChampSim (one fetch per ip's line) does not do for
  the last 3 bytes of a line;
* one access per non-zero ``source_memory`` slot, in slot order: READ, or
  RMW when the same address is also in a ``destination_memory`` slot of the
  same instruction (the Pin tracer's encoding of a read-modify-write
  operand; each destination slot pairs with at most one source slot);
* one WRITE per remaining non-zero ``destination_memory`` slot.

Data accesses have ``DATA_SIZE`` = 1 byte: ChampSim records no access size
and treats each address as one access to the line containing it, which a
1-byte access reproduces exactly (never split).  0 means "empty slot", so
address 0 cannot be represented.  Registers, branch flags and the CloudSuite
``asid`` are not used.

``op`` is the instruction index (0-based, all records of an instruction
share it).  ``site`` is the instruction's ip when it fits in 32 bits, else 0
(a kernel ip such as 0xffffffff81000000 has no 32-bit site); the same rule
as the gem5 reader's pc.

A decompressed length that is not a multiple of the record size is an error
naming the byte offset of the partial record (ChampSim silently drops it);
with ``skip_bad`` the partial record is dropped and counted once in
``meta.skipped_lines``.  ``meta.extra["instructions"]`` counts the
instructions read.
"""
from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from ..errors import TraceError
from ..trace import IFETCH, READ, RMW, WRITE, TraceMeta, empty_fields
from .textio import open_binary

TAGS = ["data", "code"]
NAME = "champsim"
IFETCH_SIZE = 4
DATA_SIZE = 1
BLOCK_RECORDS = 1 << 17          # records decoded per block (8 MiB of 64-byte records)


@dataclass(frozen=True)
class Layout:
    """Where the used fields of one record live (byte offsets)."""
    name: str
    itemsize: int
    ndst: int                    # destination_memory slots
    dst: int                     # offset of destination_memory
    nsrc: int                    # source_memory slots
    src: int                     # offset of source_memory
    ip: int = 0
    is_branch: int = 8
    branch_taken: int = 9
    zero: tuple = ()             # (offset, length) ranges that are padding (used by sniff only)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype({"names": ["ip", "is_branch", "branch_taken", "dst", "src"],
                         "formats": ["<u8", "u1", "u1", ("<u8", (self.ndst,)), ("<u8", (self.nsrc,))],
                         "offsets": [self.ip, self.is_branch, self.branch_taken, self.dst, self.src],
                         "itemsize": self.itemsize})


# struct input_instr: ip 0, is_branch 8, branch_taken 9, destination_registers[2] 10,
# source_registers[4] 12, destination_memory[2] 16, source_memory[4] 32; sizeof 64.
INPUT_INSTR = Layout("input_instr", 64, ndst=2, dst=16, nsrc=4, src=32)
# struct cloudsuite_instr: ip 0, is_branch 8, branch_taken 9, destination_registers[4] 10,
# source_registers[4] 14, (6 pad) destination_memory[4] 24, source_memory[4] 56, asid[2] 88, (6 pad); sizeof 96.
CLOUDSUITE_INSTR = Layout("cloudsuite_instr", 96, ndst=4, dst=24, nsrc=4, src=56, zero=((18, 6), (90, 6)))


@njit(cache=True)
def emit(ip, src, dst, addr, size, kind, tag, op, site, op0, isize, dsize):
    """Records of instructions ip[k] (src/dst: (n, slots) addresses, 0 = empty)."""
    n = ip.shape[0]
    ns = src.shape[1]
    nd = dst.shape[1]
    lim = np.uint64(0xFFFFFFFF)
    r = 0
    for k in range(n):
        a = ip[k]
        s32 = np.uint32(a) if a <= lim else np.uint32(0)
        o = np.uint64(op0 + k)
        addr[r] = a
        size[r] = isize
        kind[r] = IFETCH
        tag[r] = 1
        op[r] = o
        site[r] = s32
        r += 1
        used = 0
        for s in range(ns):
            x = src[k, s]
            if x == 0:
                continue
            kd = READ
            for d in range(nd):
                if (used >> d) & 1 == 0 and dst[k, d] == x:
                    used |= 1 << d
                    kd = RMW
                    break
            addr[r] = x
            size[r] = dsize
            kind[r] = kd
            tag[r] = 0
            op[r] = o
            site[r] = s32
            r += 1
        for d in range(nd):
            x = dst[k, d]
            if x == 0 or (used >> d) & 1 == 1:
                continue
            addr[r] = x
            size[r] = dsize
            kind[r] = WRITE
            tag[r] = 0
            op[r] = o
            site[r] = s32
            r += 1
    return r


def decode(data: bytes | np.ndarray, layout: Layout, op0: int = 0) -> np.ndarray:
    """Records of whole `layout` records in `data` (its length must be a multiple)."""
    rec = np.frombuffer(data, layout.dtype)
    n = len(rec)
    out = empty_fields(n * (1 + layout.nsrc + layout.ndst))
    # contiguous writable copies: numba wants aligned arrays, and odd record
    # sizes are not; writable always, or a read-only view (8-byte records)
    # would compile a second copy of emit
    ip = np.require(rec["ip"], requirements="CW")
    src = np.require(rec["src"], requirements="CW").reshape(n, layout.nsrc)
    dst = np.require(rec["dst"], requirements="CW").reshape(n, layout.ndst)
    r = emit(ip, src, dst, out["addr"], out["size"], out["kind"], out["tag"], out["op"], out["site"],
             op0, IFETCH_SIZE, DATA_SIZE)
    return out[:r]


def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False,
         layout: Layout = INPUT_INSTR, name: str = NAME) -> Iterator[np.ndarray]:
    """Yield record chunks; updates meta as it goes."""
    meta.tags = list(TAGS)
    meta.format = name
    meta.extra["record_layout"] = layout.name
    meta.extra["instructions"] = 0
    rs = layout.itemsize
    carry = b""
    done = 0                     # whole records consumed
    with open_binary(path) as f:
        while True:
            try:
                data = f.read(rs * BLOCK_RECORDS)
            except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
                raise TraceError(f"{path}: corrupt or truncated compressed data ({e})") from None
            if not data:
                break
            if carry:
                data = carry + data
            whole = len(data) - len(data) % rs
            carry = data[whole:]
            if whole:
                out = decode(memoryview(data)[:whole], layout, done)
                done += whole // rs
                meta.extra["instructions"] = done
                yield out
    if carry:
        if skip_bad:
            meta.skipped_lines += 1
            return
        off = done * rs
        raise TraceError(f"{path}: byte {off}: truncated {name} record {done} "
                         f"({len(carry)} trailing bytes {carry[:16].hex(' ')}{' ...' if len(carry) > 16 else ''}): "
                         f"expected whole {rs}-byte {layout.name} records; the decompressed length "
                         f"{off + len(carry)} is not a multiple of {rs}")


def plausible(head: bytes, layout: Layout) -> bool:
    """Every whole record in `head` looks like an instruction of `layout`."""
    n = min(len(head) // layout.itemsize, 1024)
    if n == 0 or head.startswith((b"gem5", b"\x93NUMPY")):
        return False
    rec = np.frombuffer(head, layout.dtype, count=n)
    if not (np.all(rec["ip"] != 0) and np.all(rec["is_branch"] <= 1) and np.all(rec["branch_taken"] <= 1)):
        return False
    if layout.zero:
        raw = np.frombuffer(head, np.uint8, count=n * layout.itemsize).reshape(n, layout.itemsize)
        for off, ln in layout.zero:
            if raw[:, off:off + ln].any():
                return False
    return True


def sniff(head: bytes) -> bool:
    return plausible(head, INPUT_INSTR)
