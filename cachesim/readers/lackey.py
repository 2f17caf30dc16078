"""Valgrind lackey ``--trace-mem=yes`` logs (FORMATS.md section 2).

Records: ``I  ADDR,SIZE`` (instruction fetch), `` L``/`` S``/`` M``
(load, store, modify) with 1-16 lowercase hex digits and a decimal size.
Valgrind's ``==PID==``/``--PID--`` lines and the program's own output are
ignored (counted); a line that starts like a record but does not parse is
an error naming the line, or is skipped and counted with ``--skip-bad``. A
final line cut off without a newline (valgrind killed) is dropped and
counted as skipped.

Each instruction starts a new ``op``; its data accesses share that op.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from ..trace import IFETCH, READ, RMW, WRITE, TraceMeta
from .textio import read_lines
from .textparse import line_at

TAGS = ["data", "code"]
NAME = "lackey"


@njit(cache=True)
def _hexval(ch):
    if 48 <= ch <= 57:
        return ch - 48
    if 97 <= ch <= 102:
        return ch - 87
    if 65 <= ch <= 70:
        return ch - 55
    return -1


@njit(cache=True)
def parse_block(buf, addr, size, kind, tag, op, op0, skip_bad, final):
    """Parse complete lines of `buf` into the output arrays.

    Returns (records, lines, bad_start, bad_end, ignored, skipped, op).
    bad_start >= 0 marks the first bad line (when not skipping)."""
    n = buf.shape[0]
    pos = 0
    nrec = 0
    nlines = 0
    ignored = 0
    skipped = 0
    cur_op = op0
    while pos < n:
        start, stop, pos, terminated = line_at(buf, pos)
        nlines += 1
        if stop - start < 3:
            if stop > start:
                ignored += 1
            continue
        c0 = buf[start]
        c1 = buf[start + 1]
        c2 = buf[start + 2]
        k = -1
        if c0 == 73 and c1 == 32 and c2 == 32:        # "I  "
            k = IFETCH
        elif c0 == 32 and c2 == 32:
            if c1 == 76:      # L
                k = READ
            elif c1 == 83:    # S
                k = WRITE
            elif c1 == 77:    # M
                k = RMW
        if k < 0:
            ignored += 1
            continue
        i = start + 3
        while i < stop and buf[i] == 32:
            i += 1
        a = np.uint64(0)
        nd = 0
        ok = True
        while i < stop and buf[i] != 44:
            v = _hexval(buf[i])
            if v < 0 or nd >= 16:
                ok = False
                break
            a = (a << np.uint64(4)) | np.uint64(v)
            nd += 1
            i += 1
        if ok and (nd == 0 or i >= stop):
            ok = False
        sz = 0
        if ok:
            i += 1
            ns = 0
            while i < stop and 48 <= buf[i] <= 57:
                sz = sz * 10 + (buf[i] - 48)
                ns += 1
                if sz > 65535:
                    ok = False
                    break
                i += 1
            while ok and i < stop and buf[i] == 32:
                i += 1
            if ns == 0 or i != stop or sz == 0:
                ok = False
        if not ok:
            if final and not terminated:
                skipped += 1     # truncated last line
                continue
            if skip_bad:
                skipped += 1
                continue
            return nrec, nlines, start, stop, ignored, skipped, cur_op
        if k == IFETCH:
            cur_op += 1
        addr[nrec] = a
        size[nrec] = sz
        kind[nrec] = k
        tag[nrec] = 1 if k == IFETCH else 0
        op[nrec] = cur_op if cur_op > 0 else 0
        nrec += 1
    return nrec, nlines, -1, -1, ignored, skipped, cur_op


def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False) -> Iterator[np.ndarray]:
    """Yield record chunks; updates meta's counters as it goes."""
    meta.tags = list(TAGS)
    meta.format = NAME

    def parse(buf, out, cur_op, last):
        nrec, nlines, bs, be, ign, skp, cur_op = parse_block(
            buf, out["addr"], out["size"], out["kind"], out["tag"], out["op"], cur_op, skip_bad, last)
        return nrec, nlines, bs, be, 0, ign, skp, cur_op
    return read_lines(path, meta, parse, lambda err: (
        "bad lackey record", "expected 'I  ADDR,SIZE' or ' L|S|M ADDR,SIZE' with hex ADDR and decimal SIZE"))


def sniff(head: bytes) -> bool:
    import re
    return re.search(rb"(?m)^(I  | [LSM] )[0-9a-fA-F]{1,16},[0-9]+\r?$", head) is not None
