"""Dinero III/IV traditional ``din`` traces (FORMATS.md section 3).

One reference per line: ``LABEL ADDRESS [anything]``.  LABEL is hex (normally
one digit, ``0x`` allowed): 0 read, 1 write, 2 instruction fetch, 3 "misc"
(a read that never triggers a prefetch: read here), 4 copy-back and
5 invalidate.  4 and 5 are cache-control records, not accesses: they are
skipped and counted in ``meta.ignored_lines``.  ADDRESS is hex with an
optional ``0x``/``0X``, either case, up to 64 bits (leading zeros are free;
more than 16 significant digits is an error, never a silent wrap).  Whatever
follows the address after a blank is ignored (Dinero: "may be used for
comments"), so a third size column is legal and has no effect.

Like Dinero IV's dinfmt.c every access becomes 4 bytes at ``address & ~3``
("dineroIII is pretty much word-oriented").

Deliberate differences from Dinero IV:

* more lenient: a CRLF line ending is accepted (Dinero dies on the ``\\r``),
  and blank or whitespace-only lines are skipped and counted in
  ``meta.ignored_lines`` (Dinero dies with "short line");
* as strict elsewhere: a ``#`` comment, a missing address, a non-hex
  character inside a field (``2 40100g``, ``2 401000#x``), a label above 5
  and an address beyond 64 bits are errors naming the line, or, with
  ``skip_bad``, skipped and counted in ``meta.skipped_lines``;
* stricter on one corner: a bare ``0x`` with no digits (Dinero reads it as
  0) is an error;
* a last line without a newline is parsed like any other line (valid -> a
  record, garbage -> an error).

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
NAME = "din"
SIZE = 4          # Dinero IV: size 4, address & ~3
ALIGN_MASK = ~np.uint64(3)

# error codes returned by parse_block
E_LABEL = 1
E_SHORT, E_ADDR, E_WIDE = F_SHORT, F_ADDR, F_WIDE
_REASONS = {
    E_LABEL: "label is not a hex number 0-5",
    E_SHORT: "missing address",
    E_ADDR: "address is not hex (optional 0x) followed by a blank or end of line",
    E_WIDE: "address does not fit in 64 bits",
}


@njit(cache=True)
def parse_block(buf, addr, size, kind, tag, op, op0, skip_bad):
    """Parse the lines of `buf` into the output arrays.

    Returns (records, lines, bad_start, bad_end, err, ignored, skipped, op).
    bad_start >= 0 marks the first bad line (when not skipping)."""
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
        a = np.uint64(0)
        lab, i, st = hexfield(buf, i, stop)
        if st != 0 or lab > np.uint64(5):
            err = E_LABEL
        else:
            a, i, err = address_field(buf, i, stop)
        if err != 0:
            if skip_bad:
                skipped += 1
                continue
            return nrec, nlines, start, stop, err, ignored, skipped, cur_op
        if lab >= np.uint64(4):          # copy-back / invalidate: cache control
            ignored += 1
            continue
        if lab == np.uint64(1):
            k = WRITE
        elif lab == np.uint64(2):
            k = IFETCH
        else:
            k = READ                     # 0 read, 3 misc
        addr[nrec] = a & ALIGN_MASK
        size[nrec] = SIZE
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
        "bad din record", f"{_REASONS[err]}; expected 'LABEL ADDRESS' with hex LABEL 0-5 and hex ADDRESS"))


_LINE = re.compile(rb"[ \t]*(?:0[xX])?([0-9a-fA-F]+)[ \t]+(?:0[xX])?[0-9a-fA-F]{1,16}(?:[ \t][^\n]*)?")


def sniff(head: bytes) -> bool:
    """Every non-blank line of the head (up to 64) is a din record."""
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
        m = _LINE.fullmatch(ln)
        if m is None or int(m.group(1), 16) > 5:
            return False
        seen += 1
        if seen >= 64:
            break
    return seen > 0
