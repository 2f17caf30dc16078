"""How a line access moves through the levels (default semantics).

A *path* lists the caches an access visits from level 1 down (L1D, L2, L3 for
data; L1I, L2, L3 for instructions). BELOW[c] is the next cache under c
(-1 = memory) and ABOVE[c, u] marks the caches an inclusive c must
back-invalidate (arena regions, see arena.py). The rules, also written up in docs/semantics.md and
re-implemented independently in tests/reference_model.py:

fill(s, line, k)   demand read-type access (read, write-allocate RFO, ifetch,
                   prefetch) starting at path position s. Walk down counting
                   an access of kind k at each level until a hit (or memory).
                   An exclusive level that hits gives the line up (it is
                   removed there and its dirty bit travels up). Then install
                   bottom-up in every non-exclusive level that missed; the
                   first install takes the travelling dirty bit. Each
                   install's victim cascade completes before the next install.
write(s, line)     a store at path position s: hit -> dirty (write-back) or
                   forward write(s+1) (write-through). Miss -> with
                   write-allocate: fill(s+1, write) then install here (dirty
                   if write-back; write-through forwards write(s+1)); without:
                   forward write(s+1). Exclusive levels never allocate.
victim(c, v, d)    c replaced v: if c is inclusive, invalidate v above it
                   (a dirty copy above makes v dirty); then send(c, v, d).
send(c, v, d)      to below(c): memory takes dirty data; an exclusive cache
                   takes the victim, clean or dirty (place); any other cache
                   takes only dirty data (writeback).
place(b, v, d)     exclusive victim fill: hit -> touch, dirty |= d; miss ->
                   insert, then victim(b, ...).
writeback(b, v)    dirty data arrives: hit -> touch, dirty (or, write-through,
                   send on); miss -> allocate if write-allocate (victim first,
                   then, if write-through, send on), else send on.

The victim/send/place/writeback cascade runs on a small explicit stack that
reproduces the depth-first order of the recursive definition.
"""
import numpy as np
from numba import njit

from .arena import (CLUS, EXCLUSIVE, H_NCACHE, H_PREFETCH, INCLUSIVE, R_ABOVE, R_BELOW, R_DIRTY, R_HDR,
                    R_LAT, R_PFR, R_RUN, R_SCR, R_STACK, R_TAGS, WA, WAYS, WB)
from . import prefetchers as pfm
from .arena import H_LINEBITS, NPARAM, PF1, PF2, PFS1, PFS2, R_P, R_PFQ, R_PFS
from .cache import bump, find, hint, insert, insert_at, par, remove, scan, set_base, touch, touch_at
from .stats import (ACC, BACKINV, INVALIDATED, K_PREFETCH, K_WRITE, MEM_READ, MEM_WRITE, MISS, PF_ISSUED,
                    PF_USEFUL,
                    VICTIM_IN, WB_IN, WB_IN_MISS, WRITEBACK)
from .timing import R_DISPATCH, R_PFCACHE, R_PFHIT, R_PFWAIT


@njit(cache=True, inline="always")
def prefetched_hit(R, c, e, pos):
    """A demand hit on entry e: if a hardware prefetch brought the line in and
    it is unused so far, count it useful and remember when it arrives."""
    PFR = R[R_PFR]
    arrival = PFR[e]
    if arrival:
        PFR[e] = 0
        bump(R, c, 0, PF_USEFUL)
        RUN = R[R_RUN]
        RUN[R_PFHIT] = pos + 1
        if arrival > RUN[R_PFWAIT]:
            RUN[R_PFWAIT] = arrival
            RUN[R_PFCACHE] = c

OP_VICTIM, OP_SEND, OP_PLACE, OP_WBACK = 0, 1, 2, 3
STACK = 256  # entries of 4 words; a cascade needs a few per level


@njit(cache=True, inline="always")
def _push(ST, sp, op, c, line, d):
    b = 4 * sp
    ST[b] = op
    ST[b + 1] = c
    ST[b + 2] = line
    ST[b + 3] = d
    return sp + 1


@njit(cache=True)
def drain(R, c0, line0, d0, tag):
    """Run victim(c0, line0, d0) and everything it cascades into."""
    ST = R[R_STACK]
    DIRTY = R[R_DIRTY]
    n = R[R_HDR][H_NCACHE]
    sp = _push(ST, 0, OP_VICTIM, c0, line0, d0)
    while sp > 0:
        sp -= 1
        b0 = 4 * sp
        op = ST[b0]
        c = ST[b0 + 1]
        line = ST[b0 + 2]
        d = ST[b0 + 3]
        if op == OP_VICTIM:
            if par(R, c, CLUS) == INCLUSIVE:
                for u in range(n):
                    if R[R_ABOVE][c * n + u]:
                        j = find(R, u, line)
                        if j >= 0:
                            bump(R, u, tag, INVALIDATED)
                            bump(R, c, tag, BACKINV)
                            if DIRTY[j]:
                                d = 1
                            remove(R, u, j)
            sp = _push(ST, sp, OP_SEND, c, line, d)
        elif op == OP_SEND:
            b = R[R_BELOW][c]
            if d:
                bump(R, c, tag, WRITEBACK)
            if b < 0:
                if d:
                    bump(R, n, tag, MEM_WRITE)
            elif par(R, b, CLUS) == EXCLUSIVE:
                sp = _push(ST, sp, OP_PLACE, b, line, d)
            elif d:
                sp = _push(ST, sp, OP_WBACK, b, line, 1)
        elif op == OP_PLACE:
            bump(R, c, tag, VICTIM_IN)
            j = find(R, c, line)
            if j >= 0:
                touch(R, c, j)
                if d:
                    DIRTY[j] = 1
            else:
                vline, vd = insert(R, c, line, d, tag)
                if vline >= 0:
                    sp = _push(ST, sp, OP_VICTIM, c, vline, vd)
        else:  # OP_WBACK
            bump(R, c, tag, WB_IN)
            j = find(R, c, line)
            if j >= 0:
                touch(R, c, j)
                if par(R, c, WB):
                    DIRTY[j] = 1
                else:
                    sp = _push(ST, sp, OP_SEND, c, line, 1)
            else:
                bump(R, c, tag, WB_IN_MISS)
                if par(R, c, WA):
                    wb = par(R, c, WB)
                    vline, vd = insert(R, c, line, 1 if wb else 0, tag)
                    if not wb:  # pushed first so that the victim runs first
                        sp = _push(ST, sp, OP_SEND, c, line, 1)
                    if vline >= 0:
                        sp = _push(ST, sp, OP_VICTIM, c, vline, vd)
                else:
                    sp = _push(ST, sp, OP_SEND, c, line, 1)


@njit(cache=True, inline="always")
def install(R, c, line, d, tag):
    s, e0 = set_base(R, c, line)
    install_at(R, c, line, d, tag, e0, s)


@njit(cache=True, inline="always")
def install_at(R, c, line, d, tag, e0, s, inl=False):
    vline, vd = insert_at(R, c, line, d, tag, e0, s, inl)
    if vline >= 0:
        # A clean victim of a non-inclusive cache with no exclusive cache
        # below it needs nothing: skip the cascade machinery (the common case).
        b = R[R_BELOW][c]
        if vd or par(R, c, CLUS) == INCLUSIVE or (b >= 0 and par(R, b, CLUS) == EXCLUSIVE):
            drain(R, c, vline, vd, tag)


@njit(cache=True)
def fill(R, path, n, s, line, k, tag):
    """Demand read-type access of kind k from position s of `path` (n caches,
    level 1 first). Returns 2*h + d: h the path position that held the line
    (n = memory), d the dirty bit an exclusive level handed up that no
    install at or below s took.

    Callers pass constants as np.int64(...): numba compiles a function once
    per combination of literal arguments, and four call sites with
    different constants made four copies of fill (and of drain under it),
    about 40 s of a cold start."""
    h = n
    carried = 0
    TAGS = R[R_TAGS]
    SCR = R[R_SCR]
    pf = R[R_HDR][H_PREFETCH] == 1
    for pos in range(s, n):
        c = path[pos]
        bump(R, c, tag, ACC + k)
        e = hint(R, c)
        if TAGS[e] != line:
            st, e0 = set_base(R, c, line)
            SCR[2 * pos] = st
            SCR[2 * pos + 1] = e0
            e = scan(TAGS, e0, par(R, c, WAYS), line)
            if e >= 0:
                h = pos
                if pos > 0 and par(R, c, CLUS) == EXCLUSIVE:
                    carried = np.int64(R[R_DIRTY][e])
                    remove(R, c, e)
                else:
                    touch_at(R, c, e, e0, st, True)
                    if pf and k != K_PREFETCH:
                        prefetched_hit(R, c, e, pos)
                break
        else:
            h = pos
            if pos > 0 and par(R, c, CLUS) == EXCLUSIVE:
                carried = np.int64(R[R_DIRTY][e])
                remove(R, c, e)
            else:
                touch(R, c, e, True)
                if pf and k != K_PREFETCH:
                    prefetched_hit(R, c, e, pos)
            break
        bump(R, c, tag, MISS + k)
    if h == n:
        bump(R, R[R_HDR][H_NCACHE], tag, MEM_READ)
    for pos in range(h - 1, s - 1, -1):
        c = path[pos]
        if par(R, c, CLUS) == EXCLUSIVE:
            continue
        install_at(R, c, line, carried, tag, SCR[2 * pos + 1], SCR[2 * pos], True)
        carried = 0
        if pf:
            e = hint(R, c)             # the entry just filled
            if k == K_PREFETCH and pos == s:   # a hardware prefetch of this cache's prefetchers
                R[R_PFR][e] = R[R_RUN][R_DISPATCH] + 1 + R[R_LAT][h]   # >= 1: set while unused
            else:
                R[R_PFR][e] = 0
    return 2 * h + carried


@njit(cache=True, inline="always")
def quiet_hit(R, c, e, line, site):
    """Would a demand hit on entry e (holding `line`) of level-1 cache c
    leave everything to the prefetchers as it is? Yes when no prefetch
    brought e in unused, none is pending from the previous record, and
    each of c's prefetchers is quiet about (line, site): run_prefetchers
    would then change nothing but reset RUN[R_PFHIT]."""
    P = R[R_P]
    p = c * NPARAM
    if R[R_PFR][e] != 0 or R[R_RUN][R_PFHIT] != 0:
        return False
    if P[p + PF1] != 0 and not pfm.quiet(P[p + PF1], R[R_PFS], P[p + PFS1], line, site):
        return False
    return P[p + PF2] == 0 or pfm.quiet(P[p + PF2], R[R_PFS], P[p + PFS2], line, site)


@njit(cache=True)
def run_prefetchers(R, path, n, line, off, site, h, tag):
    """Show a demand access (at byte `off` of `line`) to the prefetchers of
    every data cache it visited (levels above h missed, level h hit) and
    issue their candidates that the cache does not hold as prefetch fills
    from that cache down."""
    P = R[R_P]
    Q = R[R_PFQ]
    S = R[R_PFS]
    RUN = R[R_RUN]
    lb = R[R_HDR][H_LINEBITS]
    top = h if h < n else n - 1
    for pos in range(top + 1):
        c = path[pos]
        p = c * NPARAM
        if P[p + PF1] == 0:
            continue
        hit = 0 if pos < h else (2 if RUN[R_PFHIT] == pos + 1 else 1)
        qn = pfm.observe(P[p + PF1], S, P[p + PFS1], line, off, site, hit, Q, 0, lb)
        if P[p + PF2] != 0:
            qn = pfm.observe(P[p + PF2], S, P[p + PFS2], line, off, site, hit, Q, qn, lb)
        for i in range(qn):
            cand = Q[i]
            if cand < 0 or find(R, c, cand) >= 0:
                continue
            bump(R, c, tag, PF_ISSUED)
            fill(R, path, n, pos, cand, np.int64(K_PREFETCH), tag)
    RUN[R_PFHIT] = 0


@njit(cache=True)
def write(R, path, n, s, line, tag):
    """A store entering the hierarchy at position s of a path (as fill).
    Returns the path position its line came from when it had to be fetched
    (write-allocate), else the position where it hit, 0 if it was only
    forwarded (a buffered write-through or non-allocating store)."""
    src = 0
    while s < n:
        c = path[s]
        bump(R, c, tag, ACC + K_WRITE)
        e = find(R, c, line)
        if e >= 0:
            touch(R, c, e)
            if par(R, c, WB):
                R[R_DIRTY][e] = 1
                return s if src == 0 else src
        else:
            bump(R, c, tag, MISS + K_WRITE)
            if par(R, c, WA) and par(R, c, CLUS) != EXCLUSIVE:
                if s + 1 < n:
                    got = fill(R, path, n, s + 1, line, np.int64(K_WRITE), tag)
                    carried = got & 1
                    src = got >> 1
                else:
                    bump(R, R[R_HDR][H_NCACHE], tag, MEM_READ)
                    carried = 0
                    src = n
                if par(R, c, WB):
                    install(R, c, line, 1, tag)
                    return src
                install(R, c, line, carried, tag)
        # write-through, or no allocation here: the store goes on down
        bump(R, c, tag, WRITEBACK)
        s += 1
    bump(R, R[R_HDR][H_NCACHE], tag, MEM_WRITE)
    return src
