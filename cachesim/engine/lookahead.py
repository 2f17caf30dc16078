"""Host prefetches the replay loops issue ahead of the record they are on,
and the decoding of a record's line range, shared by both loops.

A replay is bound by the host's memory latency: the trace rows stream from
DRAM (in a VM the host's own prefetchers miss them) and each lower-level set
is a random host cache line. Asking for both a few records early lets those
misses overlap with the simulation of the records in between.
"""
import numpy as np
from numba import njit

from .arena import (CLUS, EXCLUSIVE, H_LINEBITS, H_NPATHD, H_PREFETCH, H_TLB, POLICY, R_DIRTY, R_HDR, R_PATHD,
                    R_RS, R_SS, R_TAGS, SOFF, WAYS)
from .cache import par, set_base
from .policies import LRU
from .policies.lru import STACK_WAYS
from .rawarray import prefetch
from .tlb import leaf_pte_line

REC_AHEAD = 64   # trace rows (2 KiB) ahead
SET_AHEAD = 12   # records ahead for the sets of levels 2 and below


@njit(cache=True, inline="always")
def prefetch_set(R, c, line):
    """Ask the host for the set `line` maps to in cache c: every host line
    of its tags, its dirty bytes, its replacement word, and its per-entry
    replacement state unless the policy keeps it all in that word."""
    s, e0 = set_base(R, c, line)
    ways = par(R, c, WAYS)
    e1 = e0 + ways - 1
    prefetch(R[R_TAGS], e0)
    prefetch(R[R_TAGS], e1)
    prefetch(R[R_DIRTY], e0)
    prefetch(R[R_DIRTY], e1)
    prefetch(R[R_SS], par(R, c, SOFF) + s)
    rs = par(R, c, POLICY) != LRU or ways > STACK_WAYS
    if rs:
        prefetch(R[R_RS], e0)
        prefetch(R[R_RS], e1)
    for k in range(8, ways - 1, 8):
        # a set whose ways are not a power of two (Skylake's 11-way L3)
        # starts anywhere in a host line: 11 ways may span three lines, and
        # the middle one stalled the full model's random stream (+10 %)
        prefetch(R[R_TAGS], e0 + k)
        if rs:
            prefetch(R[R_RS], e0 + k)


@njit(cache=True, inline="always")
def lru_victim(R, c, line):
    """The line cache c would evict to make room for `line` now, if c is a
    full nibble-stack LRU set (its last nibble), else -1."""
    ways = par(R, c, WAYS)
    if par(R, c, POLICY) != LRU or ways > STACK_WAYS:
        return -1
    s, e0 = set_base(R, c, line)
    return R[R_TAGS][e0 + ((R[R_SS][par(R, c, SOFF) + s] >> (4 * (ways - 1))) & 15)]


@njit(cache=True)
def prefetch_sets(R, line):
    """prefetch_set for every data-path level below level 1, and where a
    level's victims go to an exclusive level below it, that level's set
    for the victim it would pick now (a victim fill lands there)."""
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    for pos in range(npd):
        c = pd[pos]
        if pos > 0:
            prefetch_set(R, c, line)
        if pos + 1 < npd and par(R, pd[pos + 1], CLUS) == EXCLUSIVE:
            v = lru_victim(R, c, line)
            if v >= 0:
                prefetch_set(R, pd[pos + 1], v)


@njit(cache=True, inline="always")
def look_ahead(R, RECP, nrec, r, lb, part, pmask, la):
    """Prefetch for record r's successors. Beside the record's own line, the
    lines it is likely to make the hierarchy touch: with hardware
    prefetchers the next line (next-line, stream, adjacent-line), with TLBs
    the leaf page-table entry a walk would read. `la` is (the line last
    looked ahead, the page-table line last looked ahead), returned updated:
    a stream asks for each line's sets once (its next line's were asked for
    with the line before) and for a page-table line's once per change (512
    lines of 4 KiB pages share one): it had been 23 % of the full model's
    time on a stream, now 15-20 -> 23-25 M/s there (3 alternating process
    pairs, counters identical), random +3-7 %. RECP points at the records (4
    words each, `addr` first): helpers take no arrays, because numba
    reference-counts an array at every call, inlined or not, and on this
    path that costs more than the prefetches save."""
    prefetch(RECP, 4 * (r + REC_AHEAD))
    last_pf, last_pte = la
    if r + SET_AHEAD < nrec:
        a = RECP[4 * (r + SET_AHEAD)]
        fl = np.int64(np.uint64(a) >> lb)
        if fl != last_pf and (fl & pmask) == part:
            pf = R[R_HDR][H_PREFETCH] == 1
            if not (pf and fl == last_pf + 1):
                prefetch_sets(R, fl)
            if pf:
                prefetch_sets(R, fl + 1)
            if R[R_HDR][H_TLB] == 1:
                pte = leaf_pte_line(R, a, R[R_HDR][H_LINEBITS])
                if pte != last_pte:
                    prefetch_sets(R, pte)
                    last_pte = pte
            return fl, last_pte
    return last_pf, last_pte


@njit(cache=True, inline="always")
def record_lines(a, size, line_bits):
    """(first line, last line) of an access: a size-0 record touches one
    byte, an access spanning k lines touches each of them."""
    sz = np.int64(size)
    if sz < 1:
        sz = 1
    first = np.int64(a >> np.uint64(line_bits))
    last = first + ((np.int64(a & np.uint64((1 << line_bits) - 1)) + sz - 1) >> line_bits)
    return first, last


@njit(cache=True, inline="always")
def same_line_run(RECP, r, nrec, lb, line_bits, smask=0):
    """End (exclusive) of the run of records after r that repeat record r's
    single line, kind, tag, op and size: the same op word (RECP[4j+1]) and
    the same size/kind/tag bytes (top half of RECP[4j+3]), an address on
    the same line whose bytes stay inside it; and the same bits of the
    site/dep word under smask (0xFFFFFFFF: the same site)."""
    lo = (np.uint64(RECP[4 * r]) >> lb) << lb
    opw = RECP[4 * r + 1]
    sw = RECP[4 * r + 2] & smask
    hdw = RECP[4 * r + 3] >> 32
    sz = (hdw & 0xFFFF) if (hdw & 0xFFFF) > 0 else 1
    lim = np.uint64((1 << line_bits) - sz)
    j = r + 1
    while j < nrec:
        prefetch(RECP, 4 * (j + REC_AHEAD))
        # one branch: an address below the line wraps past lim unsigned
        if ((np.uint64(RECP[4 * j]) - lo > lim) | (RECP[4 * j + 1] != opw)
                | ((RECP[4 * j + 3] >> 32) != hdw) | ((RECP[4 * j + 2] & smask) != sw)):
            break
        j += 1
    return j
