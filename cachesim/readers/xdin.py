"""Dinero IV extended din traces, ``-informat D`` (FORMATS.md section 3).

One reference per line: ``TYPE ADDRESS SIZE [anything]``.  TYPE is one
character, either case, followed by a blank: ``r`` read, ``w`` write, ``i``
instruction fetch, ``m`` misc (a read that never triggers a prefetch: read
here), ``c`` copy-back, ``v`` invalidate.  ``c``/``v`` are cache-control
records, not accesses: they are checked like any line, then skipped and
counted in ``meta.ignored_lines`` (their size may be 0, "whole cache").
ADDRESS and SIZE are both hexadecimal with an optional ``0x``/``0X``, either
case; the rest of the line is ignored.  Addresses are kept as given (Dinero
IV imposes no alignment), up to 64 bits (more than 16 significant digits is
an error, never a silent wrap).

Deliberate differences from Dinero IV's xdinfmt.c:

* more lenient: CRLF line endings are accepted, and blank or
  whitespace-only lines are skipped and counted in ``meta.ignored_lines``
  (Dinero dies with "short line");
* as strict elsewhere: unknown TYPE, ``#`` comments, missing address or
  size ("missing size" is fatal in Dinero too), non-hex characters in a
  field are errors naming the line, or, with ``skip_bad``, skipped and
  counted in ``meta.skipped_lines``;
* stricter: the size of an access (r/w/i/m) must be 1..ffff (our ``size``
  field is 16 bits, and a 0-byte access is meaningless; Dinero accepts
  both), and a bare ``0x`` with no digits (Dinero: 0) is an error;
* a last line without a newline is parsed like any other line.

``op`` is the index of the emitted record (0, 1, 2, ...); ``site`` is 0.
Instruction fetches get tag 1 ("code"), everything else tag 0 ("data").
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from ..trace import IFETCH, READ, WRITE, TraceMeta
from .textio import read_lines
from .textparse import F_ADDR, F_SHORT, F_WIDE, address_field, hexfield, line_at, skip_blanks

TAGS = ["data", "code"]
NAME = "xdin"

E_TYPE = 1
E_SHORT, E_ADDR, E_WIDE = F_SHORT, F_ADDR, F_WIDE
E_NOSIZE, E_SIZE, E_SIZERANGE = 5, 6, 7
_REASONS = {
    E_TYPE: "TYPE is not one of r w i m c v followed by a blank",
    E_SHORT: "missing address",
    E_ADDR: "address is not hex (optional 0x) followed by a blank or end of line",
    E_WIDE: "address does not fit in 64 bits",
    E_NOSIZE: "missing size",
    E_SIZE: "size is not hex (optional 0x) followed by a blank or end of line",
    E_SIZERANGE: "size out of range (accesses need 1..ffff bytes)",
}
C_IGNORE = -2


@njit(cache=True)
def _type(ch):
    c = ch | 32                       # lower case (only letters are compared)
    if c == 114:                      # r
        return READ
    if c == 119:                      # w
        return WRITE
    if c == 105:                      # i
        return IFETCH
    if c == 109:                      # m
        return READ
    if c == 99 or c == 118:           # c, v
        return C_IGNORE
    return -1


@njit(cache=True)
def parse_block(buf, addr, size, kind, tag, op, op0, skip_bad):
    """Parse the lines of `buf` into the output arrays.

    Returns (records, lines, bad_start, bad_end, err, ignored, skipped, op)."""
    n = buf.shape[0]
    pos = 0
    nrec = 0
    nlines = 0
    ignored = 0
    skipped = 0
    cur_op = op0
    while pos < n:
        start, stop, pos, _ = line_at(buf, pos)
        nlines += 1
        i = skip_blanks(buf, start, stop)
        if i == stop:                    # blank line
            ignored += 1
            continue
        err = 0
        a = np.uint64(0)
        sz = np.uint64(0)
        k = _type(buf[i])
        i += 1
        if k == -1 or (i < stop and buf[i] != 32 and buf[i] != 9):
            err = E_TYPE
        else:
            a, i, err = address_field(buf, i, stop)
            if err == 0:
                i = skip_blanks(buf, i, stop)
                if i == stop:
                    err = E_NOSIZE
                else:
                    sz, i, st = hexfield(buf, i, stop)
                    if st == 1:
                        err = E_SIZE
                    elif k != C_IGNORE and (st == 2 or sz == np.uint64(0) or sz > np.uint64(65535)):
                        err = E_SIZERANGE
        if err != 0:
            if skip_bad:
                skipped += 1
                continue
            return nrec, nlines, start, stop, err, ignored, skipped, cur_op
        if k == C_IGNORE:
            ignored += 1
            continue
        addr[nrec] = a
        size[nrec] = sz
        kind[nrec] = k
        tag[nrec] = 1 if k == IFETCH else 0
        op[nrec] = cur_op
        cur_op += 1
        nrec += 1
    return nrec, nlines, -1, -1, 0, ignored, skipped, cur_op



def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False) -> Iterator[np.ndarray]:
    """Yield record chunks; updates meta's counters as it goes."""
    meta.tags = list(TAGS)
    meta.format = NAME

    def parse(buf, out, cur_op, last):
        return parse_block(buf, out["addr"], out["size"], out["kind"], out["tag"], out["op"], cur_op, skip_bad)
    return read_lines(path, meta, parse, lambda err: (
        "bad xdin record", f"{_REASONS[err]}; expected 'TYPE ADDRESS SIZE' with TYPE one of r w i m c v "
        "and hex ADDRESS and SIZE"))


_LINE = re.compile(rb"[ \t]*[rwimcvRWIMCV][ \t]+(?:0[xX])?[0-9a-fA-F]{1,16}[ \t]+(?:0[xX])?[0-9a-fA-F]+"
                   rb"(?:[ \t][^\n]*)?")


def sniff(head: bytes) -> bool:
    """Every non-blank line of the head (up to 64) is an xdin record."""
    if b"\x00" in head:
        return False
    lines = head.split(b"\n")
    if len(head) >= 65536:
        lines = lines[:-1]               # probably cut mid-line
    seen = 0
    for ln in lines:
        ln = ln.rstrip(b"\r")
        if not ln.strip():
            continue
        if _LINE.fullmatch(ln) is None:
            return False
        seen += 1
        if seen >= 64:
            break
    return seen > 0
