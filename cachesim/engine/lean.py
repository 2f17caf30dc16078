"""The lean replay loop: the same results as replay_default, for plain hierarchies.

Most configs people point at a trace are *plain*: every cache non-inclusive
non-exclusive (`nine`), write-back + write-allocate, no slices, no TLBs, no
hardware prefetchers. Then an access only ever walks down until it hits,
installs on the way back up, and a dirty victim only ever travels down as a
write-back chain: no back-invalidation, no victim fills, no work stack. This
loop does exactly that with everything inlined into one function, so the
generic machinery (the cascade stack, the clusivity and prefetch checks,
non-inlined fill/write calls that each copy the region tuple) costs nothing.

The rules are hierarchy.py's; `plain()` says when they reduce to these, and
tests/test_lean.py holds this loop to replay_default and to the reference
model counter for counter.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..trace import IFETCH, PREFETCH, PREFETCHW, READ, RMW, WRITE
from .arena import (H_NCACHE, H_NPATHD, H_NPATHI, H_TIMING, R_DIRTY, R_HDR, R_HINT, R_LAT, R_PATHD,
                    R_PATHI, R_RUN, R_SCR, R_TAGS, WAYS, regions)
from .cache import bump, insert_at, par, scan, set_base, touch, touch_at
from .lookahead import look_ahead, record_lines
from .rawarray import as_ptr
from .stats import (ACC, K_IFETCH, K_PREFETCH, K_READ, K_WRITE, MEM_READ, MEM_WRITE, MISS, R_LINES, R_RECORDS,
                    WB_IN, WB_IN_MISS, WRITEBACK, count_op)
from .timing import account



def plain(machine) -> bool:
    """Does the lean loop reproduce replay_default on this machine?"""
    if machine.semantics != "default" or machine.tlbs:
        return False
    return all(c.clusivity == "nine" and c.write_policy == "write_back" and c.write_allocate
               and c.slices == 1 and not c.prefetchers for c in machine.caches)


@njit(cache=True, inline="always")
def _writeback(R, path, n, pos, line, t):
    """Cache path[pos - 1] evicted dirty `line`: write it back down the path
    until a level holds it or memory takes it (hierarchy.py send/writeback
    for nine, write-back, write-allocate levels)."""
    TAGS = R[R_TAGS]
    DIRTY = R[R_DIRTY]
    ncache = R[R_HDR][H_NCACHE]
    while True:
        bump(R, path[pos - 1], t, WRITEBACK)
        if pos == n:
            bump(R, ncache, t, MEM_WRITE)
            return
        c = path[pos]
        bump(R, c, t, WB_IN)
        st, e0 = set_base(R, c, line)
        e = scan(TAGS, e0, par(R, c, WAYS), line)
        if e >= 0:
            touch_at(R, c, e, e0, st)
            DIRTY[e] = 1
            return
        bump(R, c, t, WB_IN_MISS)
        vline, vd = insert_at(R, c, line, 1, t, e0, st)
        if vline < 0 or vd == 0:
            return
        line = vline
        pos += 1


@njit(cache=True, inline="always")
def _access(R, path, n, line, k, dirty1, t):
    """One line access of kind k down `path`; the level-1 install gets dirty
    bit dirty1 (a write-allocated store). Returns the path position that
    held the line (n = memory)."""
    TAGS = R[R_TAGS]
    SCR = R[R_SCR]      # set and first entry per position, for the installs
    h = n
    for pos in range(n):
        c = path[pos]
        bump(R, c, t, ACC + k)
        e = R[R_HINT][c]
        if TAGS[e] == line:
            touch(R, c, e)
            h = pos
            break
        st, e0 = set_base(R, c, line)
        SCR[2 * pos] = st
        SCR[2 * pos + 1] = e0
        e = scan(TAGS, e0, par(R, c, WAYS), line)
        if e >= 0:
            touch_at(R, c, e, e0, st)
            h = pos
            break
        bump(R, c, t, MISS + k)
    if h == n:
        bump(R, R[R_HDR][H_NCACHE], t, MEM_READ)
    for pos in range(h - 1, -1, -1):
        c = path[pos]
        vline, vd = insert_at(R, c, line, dirty1 if pos == 0 else 0, t, SCR[2 * pos + 1], SCR[2 * pos])
        if vline >= 0 and vd:
            _writeback(R, path, n, pos + 1, vline, t)
    return h


@njit(cache=True, nogil=True)
def replay_lean(rec, base, line_bits, part, nparts, hout):
    """replay_default's contract (same arguments, same state, same results)
    for machines where plain() holds."""
    R = regions(base)
    TAGS = R[R_TAGS]
    DIRTY = R[R_DIRTY]
    HINT = R[R_HINT]
    RUN = R[R_RUN]
    LAT = R[R_LAT]
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    pi, npi = R[R_PATHI], R[R_HDR][H_NPATHI]
    ncache = R[R_HDR][H_NCACHE]
    timing = R[R_HDR][H_TIMING] == 1 and nparts == 1
    lb = np.uint64(line_bits)
    pmask = nparts - 1
    nrec = rec.shape[0]
    rg0 = RUN[R_RECORDS]
    lines = 0
    RECP = as_ptr(rec.ctypes.data)
    last_pf = -1
    for r in range(nrec):
        last_pf = look_ahead(R, RECP, nrec, r, lb, part, pmask, last_pf)
        a = rec[r].addr
        first, last = record_lines(a, rec[r].size, line_bits)
        t = np.int64(rec[r].tag)
        if part == 0:
            count_op(RUN, np.int64(rec[r].op))
        kd = rec[r].kind
        path = pd
        n = npd
        k = K_READ
        if kd == IFETCH:
            path = pi
            n = npi
            k = K_IFETCH
        elif kd == PREFETCH or kd == PREFETCHW:
            k = K_PREFETCH
        elif kd == WRITE:
            k = K_WRITE
        h = -1
        for line in range(first, last + 1):
            if (line & pmask) != part:
                continue
            lines += 1
            c1 = path[0]
            e = HINT[c1]
            if TAGS[e] == line:
                # level-1 hit on the last entry it touched or filled
                if HINT[ncache + c1] == 0:
                    touch(R, c1, e)
                bump(R, c1, t, ACC + k)
                hl = 0
            else:
                hl = _access(R, path, n, line, k, 1 if kd == WRITE else 0, t)
                e = HINT[c1]
            if kd == WRITE:
                DIRTY[e] = 1
            elif kd == RMW:
                # the read brought the line into L1: the write hits there
                bump(R, c1, t, ACC + K_WRITE)
                touch(R, c1, e)
                DIRTY[e] = 1
            if hl > h:
                h = hl
        hout[r] = h
        if timing:
            lat = LAT[h] if kd != IFETCH else LAT[ncache + 1 + h]
            waits = kd == READ or kd == RMW or kd == IFETCH
            account(R, rg0 + r, np.int64(rec[r].dep), lat, h, path, n, waits)
    RUN[R_LINES] += lines
    if part == 0:
        RUN[R_RECORDS] += nrec
