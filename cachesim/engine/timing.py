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


@njit(cache=True, inline="always")
def account(R, rg, dep, lat, h, path, n, waits):
    """Time record number rg (across chunks) whose lines came from path
    position h (n = memory) with latency `lat`."""
    RUN = R[R_RUN]
    T = R[R_TIME]
    W = R[R_HDR][H_WINDOW]
    disp = RUN[R_DISPATCH] + 1
    if rg >= W:
        rr = T[TRING + rg % W]
        if rr > disp:
            disp = rr
    start = disp
    if dep > 0 and dep < TRING and dep <= rg:
        pc = T[(rg - dep) % TRING]
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
    pw = RUN[R_PFWAIT]
    if pw > 0:
        if pw > done:
            done = pw
            from_c = RUN[R_PFCACHE]
            R[R_STATS][(from_c * NTAGS + 0) * NCNT + PF_LATE] += 1
        RUN[R_PFWAIT] = 0
    for pos in range(top):
        c = path[pos]
        MSH[P[c * NPARAM + MSHOFF] + MI[c]] = done
        MI[c] += 1
        if MI[c] == P[c * NPARAM + MSHRS]:
            MI[c] = 0
    fin = done if waits else disp
    T[rg % TRING] = fin
    ret = RUN[R_RETIRE]
    if fin > ret:
        ret = fin
    RUN[R_RETIRE] = ret
    T[TRING + rg % W] = ret
    RUN[R_DISPATCH] = disp
    RUN[R_SERIAL] += lat


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
    across chunks."""
    LAT = R[R_LAT]
    ncache = R[R_HDR][H_NCACHE]
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    pi, npi = R[R_PATHI], R[R_HDR][H_NPATHI]
    for r in range(r0, r1):
        h = max(h0[r], h1[r])
        kd = rec[r].kind
        if kd == IFETCH:
            account(R, rg0 + r, np.int64(rec[r].dep), LAT[ncache + 1 + h], h, pi, npi, True)
        else:
            waits = kd == READ or kd == RMW
            account(R, rg0 + r, np.int64(rec[r].dep), LAT[h], h, pd, npd, waits)
