"""Cycles from hit levels: latency, dependencies and memory-level parallelism.

Each record has a load-to-use latency set by the deepest path position
that held one of its lines: the tag lookups on the way down, the data
access where it hit (or memory), and each missing level's response
latency on the way back (gem5's tag/data/response latencies). Records then
overlap as an out-of-order core overlaps memory operations:

- dispatch in order, one per cycle, at most `window` records in flight
  (a record cannot dispatch before the record `window` earlier retired);
- a record starts once the record its address depends on (`dep` records
  back) has completed: the pointer chase;
- every level it missed in must have a free MSHR; a cache's MSHRs are a
  ring of busy-until times, so at most `mshrs` misses overlap per cache;
- it completes `latency` cycles after starting; records retire in order.

Stores and software prefetches retire without waiting for their line (a
store buffer; a prefetch is a hint) but still hold MSHRs. A demand hit on a
line a hardware prefetch has not finished bringing in waits for it: the
prefetch was late (counted at the cache that issued it). The run's cycles
are the last retirement; `serial_cycles` adds the latencies with no overlap.
"""
import numpy as np
from numba import njit

from ..trace import IFETCH, READ, RMW
from .arena import (H_NCACHE, H_NPATHD, H_NPATHI, H_WINDOW, MSHOFF, MSHRS, NPARAM, R_HDR, R_LAT, R_MSH, R_MSHI, R_P,
                    R_PATHD, R_PATHI, R_RUN, R_STATS, R_TIME)
from .stats import NCNT, NTAGS, PF_LATE

TRING = 4096  # dependencies further back than this are complete by then

# RUN region words of the timing model, on their own host line (words 8 and
# up): the pipelined lean replay times records on one thread while the
# other counts ops and lines in words 0-4.
R_DISPATCH, R_RETIRE, R_SERIAL = 8, 9, 10
R_PFWAIT, R_PFCACHE, R_PFHIT = 11, 12, 13  # a demand hit on a prefetched line: its arrival, the cache
R_WIDX = 14   # record number % window: the window ring's slot, kept so no record pays a division


@njit(cache=True, inline="always")
def _clock(RUN):
    """The run-wide timing words step() carries: last dispatch, last
    retirement, window slot, serial cycles."""
    return RUN[R_DISPATCH], RUN[R_RETIRE], RUN[R_WIDX], RUN[R_SERIAL]


@njit(cache=True, inline="always")
def _set_clock(RUN, disp, ret, wi, serial):
    RUN[R_DISPATCH] = disp
    RUN[R_RETIRE] = ret
    RUN[R_WIDX] = wi
    RUN[R_SERIAL] = serial


@njit(cache=True, inline="always")
def account(R, rg, dep, lat, h, path, n, waits):
    """Time record number rg (across chunks) whose lines came from path
    position h (n = memory) with latency `lat`. Records must come here
    once each, in order (RUN[R_WIDX] follows rg)."""
    RUN = R[R_RUN]
    pw = RUN[R_PFWAIT]
    extra = 0
    if pw > 0:
        extra = pw
        RUN[R_PFWAIT] = 0
    disp, ret, wi, serial = _clock(RUN)
    disp, ret, wi, serial = step(R, disp, ret, wi, serial, rg, dep, lat, h, path, n, waits, extra, RUN[R_PFCACHE])
    _set_clock(RUN, disp, ret, wi, serial)


@njit(cache=True, inline="always")
def step(R, disp, ret, wi, serial, rg, dep, lat, h, path, n, waits, pfwait, pfcache):
    """One record through the window, its dependency and the MSHRs of the
    levels it missed in; the run-wide words come and go as values so that a
    loop over many records keeps them in registers. pfwait > 0: the record
    hit a line a hardware prefetch of cache pfcache brings in at pfwait."""
    T = R[R_TIME]
    W = R[R_HDR][H_WINDOW]
    disp += 1
    if rg >= W:
        rr = T[TRING + wi]
        if rr > disp:
            disp = rr
    start = disp
    if dep > 0 and dep < TRING and dep <= rg:
        pc = T[(rg - dep) & (TRING - 1)]
        if pc > start:
            start = pc
    P = R[R_P]
    MSH = R[R_MSH]
    MI = R[R_MSHI]
    top = h if h < n else n
    for pos in range(top):
        c = path[pos]
        b = MSH[P[c * NPARAM + MSHOFF] + MI[c]]
        if b > start:
            start = b
    done = start + lat
    if pfwait > done:
        done = pfwait
        R[R_STATS][(pfcache * NTAGS + 0) * NCNT + PF_LATE] += 1
    for pos in range(top):
        c = path[pos]
        MSH[P[c * NPARAM + MSHOFF] + MI[c]] = done
        MI[c] += 1
        if MI[c] == P[c * NPARAM + MSHRS]:
            MI[c] = 0
    fin = done if waits else disp
    T[rg & (TRING - 1)] = fin
    if fin > ret:
        ret = fin
    T[TRING + wi] = ret
    wi += 1
    if wi == W:
        wi = 0
    return disp, ret, wi, serial + lat


def latencies(caches, path, memory_latency: int) -> list[int]:
    """Load-to-use latency by the path position that held the line."""
    out = []
    n = len(path)
    for h in range(n + 1):
        lat = sum(caches[path[p]].tag_latency for p in range(min(h + 1, n)))
        lat += caches[path[h]].data_latency if h < n else memory_latency
        lat += sum(caches[path[p]].response_latency for p in range(h))
        out.append(lat)
    return out


@njit(cache=True, inline="always")
def time_records(R, rec, r0, r1, h0, h1, rg0):
    """Time records r0..r1-1 in order from their hit levels (the deeper of
    h0[r] and h1[r], for the two set partitions); rg0 numbers record 0
    across chunks. The machines that come here have no hardware
    prefetchers, so no record waits for one."""
    LAT = R[R_LAT]
    RUN = R[R_RUN]
    ncache = R[R_HDR][H_NCACHE]
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    pi, npi = R[R_PATHI], R[R_HDR][H_NPATHI]
    disp, ret, wi, serial = _clock(RUN)
    for r in range(r0, r1):
        h = max(h0[r], h1[r])
        kd = rec[r].kind
        if kd == IFETCH:
            disp, ret, wi, serial = step(R, disp, ret, wi, serial, rg0 + r, np.int64(rec[r].dep),
                                         LAT[ncache + 1 + h], h, pi, npi, True, 0, 0)
        else:
            disp, ret, wi, serial = step(R, disp, ret, wi, serial, rg0 + r, np.int64(rec[r].dep), LAT[h], h, pd,
                                         npd, kd == READ or kd == RMW, 0, 0)
    _set_clock(RUN, disp, ret, wi, serial)


@njit(cache=True, inline="always")
def time_hits(R, RECP, r0, r1, rg0, lat, path, n, waits):
    """Time records r0..r1-1 that all hit at path position 0 with latency
    `lat` and wait for no prefetch (a run of hits the replay took in one
    go). RECP: the records as words; a record's dep is the top half of
    its third word."""
    RUN = R[R_RUN]
    disp, ret, wi, serial = _clock(RUN)
    for r in range(r0, r1):
        dep = (RECP[4 * r + 2] >> 32) & 0xFFFFFFFF
        disp, ret, wi, serial = step(R, disp, ret, wi, serial, rg0 + r, dep, lat, 0, path, n, waits, 0, 0)
    _set_clock(RUN, disp, ret, wi, serial)
