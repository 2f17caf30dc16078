"""``perf mem report -D`` (``--dump-raw-samples``) dumps (FORMATS.md section 1.4).

The dump starts with a column header and has one sample per line
(builtin-mem.c ``dump_raw_samples()``)::

    # PID, TID, IP, ADDR, [PHYS ADDR, ][DATA PAGE SIZE, ]LOCAL WEIGHT, DSRC, SYMBOL
    4321 4321 0xffffffff8120028a 0x7f0000002110 0 0x1e05080021 [kernel.kallsyms]:elf_load

The header says which columns there are (``--phys-data`` and
``--data-page-size`` add two); without one, the columns are inferred from
each line (a ``0x`` field after ADDR is PHYS ADDR, a non-decimal one is the
page size).  The separator is whatever ``-x`` gave (found between the PID
and TID of each line, so it must not contain digits or ``-``; up to 16
bytes), or, by default, runs of blanks.  SYMBOL is ``DSO:SYMBOL`` and may contain the separator, so a line
is split at most N-1 times.

perf's first-row quirk: without ``-x`` the first sample after the header is
printed with a padded format whose ADDR is ``0x016`` followed by the
address (``0x0164bb2b0`` is 0x4bb2b0).  The ``016`` is dropped on that row
when the separator is blanks and its IP has the padded 16 digits.

Each sample becomes one record: ``addr`` = ADDR; ``kind`` from DSRC's
``mem_op`` bits (STORE 0x4 -> WRITE, PFETCH 0x8 -> PREFETCH, else READ);
``site`` = low 32 bits of IP; ``weight`` = 1 (LOCAL WEIGHT is a latency,
not a sample period, and is not kept); ``size`` 8 (samples have no size);
``op`` = sample index; ``tag`` 0.  ``#`` lines and blank lines are ignored
(counted); any other line that does not fit is an error naming the line, or
skipped and counted with ``skip_bad``.  ``meta.sampled`` is True.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from ..errors import TraceError
from ..trace import PREFETCH, READ, WRITE, TraceMeta, empty_fields
from .textio import blocks, line_text
from .textparse import HEX, line_at, skip_blanks

NAME = "perf-mem"
TAGS = ["data"]
SIZE = 8
MAXSEP = 16

E_PID, E_SEP, E_FIELDS, E_IP, E_ADDR, E_WIDE, E_PHYS, E_WEIGHT, E_DSRC, E_SYMBOL = range(1, 11)
_REASONS = {
    E_PID: "PID or TID is not a decimal number",
    E_SEP: "no TID after the PID (or a separator with digits in it)",
    E_FIELDS: "too few fields",
    E_IP: "IP is not 0x followed by hex digits",
    E_ADDR: "ADDR is not 0x followed by hex digits",
    E_WIDE: "ADDR does not fit in 64 bits",
    E_PHYS: "PHYS ADDR is not 0x followed by hex digits",
    E_WEIGHT: "LOCAL WEIGHT is not a decimal number",
    E_DSRC: "DSRC is not 0x followed by hex digits",
    E_SYMBOL: "missing SYMBOL",
}
# layout vector: number of columns and the column of each field (-1 absent)
L_N, L_IP, L_ADDR, L_PHYS, L_PSIZE, L_WEIGHT, L_DSRC = range(7)
# state: 0 = first sample row after a header still to come
S_FIRST = 0


@njit(cache=True, inline="always")
def _hexdigits(buf, s, e):
    """1+ hex digits spanning buf[s:e]: (status, value); status 0 ok, 1 bad, 2 more than 64 bits."""
    if s >= e:
        return 1, np.uint64(0)
    v = np.uint64(0)
    sig = 0
    for j in range(s, e):
        h = HEX[buf[j]]
        if h < 0:
            return 1, np.uint64(0)
        if sig > 0 or h != 0:
            sig += 1
        v = (v << np.uint64(4)) | np.uint64(h)
    return (2 if sig > 16 else 0), v


@njit(cache=True, inline="always")
def _hex0x(buf, s, e):
    """0x + hex digits spanning buf[s:e]: (status, value, number of digits)."""
    if e - s < 3 or buf[s] != 48 or (buf[s + 1] != 120 and buf[s + 1] != 88):
        return 1, np.uint64(0), 0
    st, v = _hexdigits(buf, s + 2, e)
    return st, v, e - s - 2


@njit(cache=True, inline="always")
def _dec(buf, s, e):
    if s < e and buf[s] == 45:          # '-' (pid -1)
        s += 1
    if s == e:
        return False
    for j in range(s, e):
        if buf[j] < 48 or buf[j] > 57:
            return False
    return True


@njit(cache=True)
def parse_block(buf, pos0, addr, size, kind, site, op, nrec0, op0, skip_bad, layout, state, fs, fe):
    """Parse lines of `buf` from pos0 into the output arrays from nrec0.

    Returns (records, lines, next_pos, bad_start, bad_end, err, ignored,
    skipped, op, header_start, header_end).  Stops after a ``# PID`` column
    header line (header_start >= 0) so the caller can read it."""
    n = buf.shape[0]
    pos = pos0
    nrec = nrec0
    nlines = 0
    ignored = 0
    skipped = 0
    cur_op = op0
    while pos < n:
        start, stop, pos, _ = line_at(buf, pos)
        nlines += 1
        i = skip_blanks(buf, start, stop)
        if i == stop:
            ignored += 1
            continue
        if buf[i] == 35:                                 # '#'
            ignored += 1
            j = i + 1
            while j < stop and buf[j] == 32:
                j += 1
            if j + 4 <= stop and buf[j] == 80 and buf[j + 1] == 73 and buf[j + 2] == 68 and buf[j + 3] == 44:
                return nrec, nlines, pos, -1, -1, 0, ignored, skipped, cur_op, start, stop   # "PID,"
            continue
        err = 0
        first = state[S_FIRST] == 1
        state[S_FIRST] = 0
        # PID, then the separator up to the TID's first digit
        s = i
        if i < stop and buf[i] == 45:
            i += 1
        while i < stop and 48 <= buf[i] <= 57:
            i += 1
        if not _dec(buf, s, i) or i == stop:
            err = E_PID if not _dec(buf, s, i) else E_SEP
        fs[0] = s
        fe[0] = i
        sep_s = i
        blank = True
        while err == 0 and i < stop and not (48 <= buf[i] <= 57) and buf[i] != 45:
            if buf[i] != 32 and buf[i] != 9:
                blank = False
            i += 1
        sep_n = i - sep_s
        if err == 0 and (i == stop or sep_n == 0 or sep_n > MAXSEP):
            err = E_SEP
        nf = 1
        ncol = layout[L_N]
        # split into fields 1..ncol-1 (the last keeps the rest of the line)
        while err == 0 and i < stop:
            if ncol > 0 and nf == ncol - 1:
                fs[nf] = i
                fe[nf] = stop
                nf += 1
                break
            s = i
            if blank:
                while i < stop and buf[i] != 32 and buf[i] != 9:
                    i += 1
                e = i
                while i < stop and (buf[i] == 32 or buf[i] == 9):
                    i += 1
            else:
                e = stop
                j = i
                while j + sep_n <= stop:
                    m = 0
                    while m < sep_n and buf[j + m] == buf[sep_s + m]:
                        m += 1
                    if m == sep_n:
                        e = j
                        break
                    j += 1
                i = e + sep_n if e < stop else stop
            fs[nf] = s
            fe[nf] = e
            nf += 1
            if nf == fs.shape[0] - 1:                    # cap: the rest is one field
                fs[nf] = i
                fe[nf] = stop
                nf += 1
                break
        # columns
        c_ip = layout[L_IP]
        c_addr = layout[L_ADDR]
        c_phys = layout[L_PHYS]
        c_w = layout[L_WEIGHT]
        c_ds = layout[L_DSRC]
        if err == 0 and ncol == 0:                       # no header: infer from this line
            c_ip = 2
            c_addr = 3
            c = 4
            c_phys = -1
            if nf > c and fe[c] - fs[c] >= 2 and buf[fs[c]] == 48 and buf[fs[c] + 1] == 120:
                c_phys = c
                c += 1
            if nf > c and not _dec(buf, fs[c], fe[c]):
                c += 1                                   # DATA PAGE SIZE
            c_w = c
            c_ds = c + 1
            ncol = c + 3
            if nf > ncol:                                # the symbol held separators: rejoin
                fe[ncol - 1] = fe[nf - 1]
                nf = ncol
        if err == 0 and (nf < ncol or fe[ncol - 1] <= fs[ncol - 1]):
            err = E_FIELDS if nf < ncol - 1 or nf < 3 else E_SYMBOL
        if err == 0 and not _dec(buf, fs[1], fe[1]):
            err = E_PID
        a = np.uint64(0)
        ipv = np.uint64(0)
        dsv = np.uint64(0)
        ipd = 0
        if err == 0:
            st, ipv, ipd = _hex0x(buf, fs[c_ip], fe[c_ip])
            if st != 0:
                err = E_IP
        if err == 0:
            s = fs[c_addr]
            e = fe[c_addr]
            if (first and blank and ipd == 16 and e - s > 5 and buf[s] == 48 and buf[s + 1] == 120
                    and buf[s + 2] == 48 and buf[s + 3] == 49 and buf[s + 4] == 54):
                st, a = _hexdigits(buf, s + 5, e)        # "0x016" + address: perf's padded first row
            else:
                st, a, _d = _hex0x(buf, s, e)
            if st == 1:
                err = E_ADDR
            elif st == 2:
                err = E_WIDE
        if err == 0 and c_phys >= 0:
            st, _v, _d = _hex0x(buf, fs[c_phys], fe[c_phys])
            if st != 0:
                err = E_PHYS
        if err == 0 and c_w >= 0 and not _dec(buf, fs[c_w], fe[c_w]):
            err = E_WEIGHT
        if err == 0:
            st, dsv, _d = _hex0x(buf, fs[c_ds], fe[c_ds])
            if st != 0:
                err = E_DSRC
        if err != 0:
            if skip_bad:
                skipped += 1
                continue
            return nrec, nlines, pos, start, stop, err, ignored, skipped, cur_op, -1, -1
        kd = READ
        mop = dsv & np.uint64(0x1F)
        if mop & np.uint64(0x4):
            kd = WRITE
        elif mop & np.uint64(0x8):
            kd = PREFETCH
        addr[nrec] = a
        size[nrec] = SIZE
        kind[nrec] = kd
        site[nrec] = np.uint32(ipv & np.uint64(0xFFFFFFFF))
        op[nrec] = cur_op
        cur_op += 1
        nrec += 1
    return nrec, nlines, pos, -1, -1, 0, ignored, skipped, cur_op, -1, -1



def _layout(path, lineno: int, text: str) -> tuple[np.ndarray, list[str]]:
    names = [c.strip() for c in text.strip().lstrip("#").split(",")]
    idx = {c: i for i, c in enumerate(names)}
    missing = [c for c in ("PID", "TID", "IP", "ADDR", "DSRC", "SYMBOL") if c not in idx]
    if missing or idx["PID"] != 0 or idx["TID"] != 1 or idx["SYMBOL"] != len(names) - 1 or len(names) > 48:
        raise TraceError(f"{path}:{lineno}: bad perf mem -D header {text.strip()[:80]!r}: expected "
                         "'# PID, TID, IP, ADDR, [PHYS ADDR, ][DATA PAGE SIZE, ]LOCAL WEIGHT, DSRC, SYMBOL'")
    lay = np.array([len(names), idx["IP"], idx["ADDR"], idx.get("PHYS ADDR", -1), idx.get("DATA PAGE SIZE", -1),
                    idx.get("LOCAL WEIGHT", -1), idx["DSRC"]], np.int64)
    return lay, names


def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False) -> Iterator[np.ndarray]:
    """Yield record chunks; updates meta's counters as it goes."""
    meta.tags = list(TAGS)
    meta.format = NAME
    meta.sampled = True
    layout = np.zeros(7, np.int64)
    state = np.ones(1, np.int64)         # the first row may carry the 0x016 quirk
    fs = np.zeros(64, np.int64)
    fe = np.zeros(64, np.int64)
    line0 = 0
    cur_op = 0
    for buf, _last in blocks(path):
        out = empty_fields(int(np.count_nonzero(buf == 10)) + 1)
        pos = 0
        nrec = 0
        while True:
            nrec, nlines, pos, bs, be, err, ign, skp, cur_op, hs, he = parse_block(
                buf, pos, out["addr"], out["size"], out["kind"], out["site"], out["op"], nrec, cur_op, skip_bad,
                layout, state, fs, fe)
            meta.ignored_lines += ign
            meta.skipped_lines += skp
            line0 += nlines
            if bs >= 0:
                raise TraceError(f"{path}:{line0}: bad perf mem -D sample {line_text(buf, bs, be)!r}: "
                                 f"{_REASONS[err]}; expected the columns of the '# PID, TID, IP, ADDR, ...' header "
                                 "(PID TID 0xIP 0xADDR ... WEIGHT 0xDSRC DSO:SYMBOL)")
            if hs < 0:
                break
            layout[:], names = _layout(path, line0, bytes(buf[hs:he]).decode("utf-8", "replace"))
            meta.extra["columns"] = names
            state[0] = 1
        if nrec:
            yield out[:nrec]


_HEADER = re.compile(rb"^# ?PID, TID, IP, ADDR,", re.M)
_ROW = re.compile(rb"^ *-?\d+(?P<sep> +|[^\d\s-][^\d]{0,15})-?\d+(?P=sep)0x[0-9a-fA-F]+(?P=sep)0x[0-9a-fA-F]+(?P=sep)")


def sniff(head: bytes) -> bool:
    """The perf mem -D column header, or sample rows 'PID TID 0xIP 0xADDR ...'."""
    if b"\x00" in head:
        return False
    if _HEADER.search(head):
        return True
    lines = [ln for ln in head.split(b"\n")[:64] if ln.strip()]
    if len(head) >= 65536 and lines:
        lines = lines[:-1]
    rows = [ln for ln in lines if not ln.lstrip().startswith(b"#")]
    return bool(rows) and all(_ROW.match(ln) for ln in rows)
