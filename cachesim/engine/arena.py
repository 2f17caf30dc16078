"""The engine's whole state lives in one int64 numpy array, the arena.

Numba code sees it as a tuple ``R`` of int64 pointers, one per region
(rawarray.py says why pointers). The arena's header holds the offsets:

    P       per-cache parameters, NPARAM columns (geometry, policy, offsets)
    TAGS    line held by each entry (-1 = invalid); entries of all caches
    DIRTY   dirty bit per entry, one byte each (a 16-way set's bits share a host line)
    RS      replacement state per entry
    SS      replacement state per set
    CS      per-cache state rows (clock, RNG, ...), HS words apart
    HINT    per cache (HS words apart), the entry of its last hit or fill, then its touched-last flag
    BELOW   per cache, the next cache down (-1 = memory)
    ABOVE   n x n: ABOVE[c*n+u] = 1 if u is above c (back-invalidation)
    STATS   counters [cache (+1 for memory)][tag][counter]
    STACK   the victim cascade's work stack
    RUN     run-wide counters (ops, records, line accesses)
    PATHD   caches a data access visits, level 1 down
    PATHI   caches an instruction fetch visits
    VALID   per cache (HS words apart), valid entries (a full cache skips the free-way scan)
    SCR     scratch: set index and first entry per path position, kept by a
            fill's walk down for its installs on the way back up
    LAT     load-to-use latency by the path position that held the line
            (data path, then instruction path; last entry = memory)
    TIME    completion times of the last TRING records, then the retire
            times of the last `window` records (timing.py)
    MSH     per cache, a ring of its MSHRs' busy-until times
    MSHI    per cache, the next MSHR in its ring
    PFR     per entry, while a line a prefetcher brought in is unused, the
            cycle its prefetch fill completes (>= 1), else 0
    PFS     prefetcher state (tables), per cache and prefetcher
    PFQ     prefetch candidates of the current access
    REG     address regions with large pages: count, then (start, end, shift)
    TLBMAP  per page-size code (4K, 2M, 1G): level-1 TLB, then level-2 TLB (-1 none)
    TLBLAT  per cache row, the hit latency of a TLB
    HDR     the header itself (cache count, path lengths)
"""
import mmap

import numpy as np
from numba import njit

from .rawarray import region, region8

REGIONS = ("P", "TAGS", "DIRTY", "RS", "SS", "CS", "HINT", "BELOW", "ABOVE", "STATS", "STACK", "RUN",
           "PATHD", "PATHI", "VALID", "SCR", "LAT", "TIME", "MSH", "MSHI", "PFR", "PFS", "PFQ", "REG", "TLBMAP", "TLBLAT", "HDR")
(R_P, R_TAGS, R_DIRTY, R_RS, R_SS, R_CS, R_HINT, R_BELOW, R_ABOVE, R_STATS, R_STACK, R_RUN, R_PATHD,
 R_PATHI, R_VALID, R_SCR, R_LAT, R_TIME, R_MSH, R_MSHI, R_PFR, R_PFS, R_PFQ, R_REG, R_TLBMAP, R_TLBLAT,
 R_HDR) = range(len(REGIONS))

# header words (HDR region): region offsets first, then scalars
H_NCACHE = len(REGIONS)
H_NPATHD = H_NCACHE + 1
H_NPATHI = H_NCACHE + 2
H_WINDOW = H_NCACHE + 3
H_TIMING = H_NCACHE + 4
H_PREFETCH = H_NCACHE + 5
H_LINEBITS = H_NCACHE + 6
H_TLB = H_NCACHE + 7
H_REPEAT = H_NCACHE + 8   # 0: replay_default's repeated-hit shortcut off (tests); else 1 + the records it took
HEADER = 40

# HINT, VALID and CS keep each cache's words on a host line of their own: the
# pipelined lean replay updates level 1 on one thread and the levels below
# on another, and sharing a line would bounce it between the cores on every
# lookup.
HS = 8

# per-cache parameter columns
(SETS, WAYS, POLICY, WB, WA, CLUS, EOFF, SOFF, SLICES, SPS, MASK, CSOFF, ENTRIES, MSHRS,
 MSHOFF, PF1, PF2, PFS1, PFS2) = range(19)
NPARAM = 19

NINE, INCLUSIVE, EXCLUSIVE = 0, 1, 2
CLUS_IDS = {"nine": NINE, "inclusive": INCLUSIVE, "exclusive": EXCLUSIVE}


def zeroed(words: int) -> np.ndarray:
    """Zeroed int64 words. A large arena (a multi-MiB last level's tags) is
    read at random, so it asks the host for transparent huge pages: with 4
    KiB pages nearly every lookup in it would also miss the host's TLB. The
    words start on a 2 MiB boundary and the length is rounded up to one, so
    every page of it can be huge: an unaligned 5 MiB arena got one huge page
    fewer every other time, and replayed 20-25 % slower those times."""
    huge = 2 << 20
    if words * 8 < huge or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.zeros(words, np.int64)
    length = -(-words * 8 // huge) * huge
    mm = mmap.mmap(-1, length + huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf = np.frombuffer(mm, np.uint8)
    skip = -buf.ctypes.data % huge
    try:
        mm.madvise(mmap.MADV_HUGEPAGE, skip, length)
    except OSError:
        pass   # THP off on this host: plain pages
    return buf[skip:skip + words * 8].view(np.int64)


def build(sizes: dict) -> tuple[np.ndarray, dict]:
    """A zeroed arena with regions of the given sizes (int64 words). The
    arena and every region start on a 64-byte host line, so a set of 8 ways
    is one host line and a set of 16 ways two: the replay loops prefetch a
    set's first and last entry and so get all of it."""
    offs = {"HDR": 0}
    pos = HEADER
    for name in REGIONS[:-1]:
        offs[name] = pos
        pos += -(-int(sizes.get(name, 0)) // 8) * 8
    buf = zeroed(pos + 8)
    skip = (-buf.ctypes.data % 64) // 8
    M = buf[skip:skip + pos]
    for i, name in enumerate(REGIONS):
        M[i] = offs[name]
    return M, offs


@njit(cache=True, inline="always")
def regions(base):
    """The region pointers of the arena starting at address `base`."""
    h = region(base, 0)
    return (region(base, h[0]), region(base, h[1]), region8(base, h[2]), region(base, h[3]),
            region(base, h[4]), region(base, h[5]), region(base, h[6]), region(base, h[7]),
            region(base, h[8]), region(base, h[9]), region(base, h[10]), region(base, h[11]),
            region(base, h[12]), region(base, h[13]), region(base, h[14]), region(base, h[15]),
            region(base, h[16]), region(base, h[17]), region(base, h[18]), region(base, h[19]),
            region(base, h[20]), region(base, h[21]), region(base, h[22]), region(base, h[23]),
            region(base, h[24]), region(base, h[25]), h)
