"""Address translation: TLBs as set-associative caches in the same arena,
and page walks whose page-table entries are real accesses through the data
caches.

A record's page size comes from the config's [[regions]] (the kernel maps
vmemmap with 2 MiB pages and the direct map with 1 GiB pages), else 4 KiB.
The level-1 TLB for that size is probed, then the level-2 TLB holding it
(adding its hit latency), then the page table is walked: 4 dependent loads
for a 4 KiB page, 3 for 2 MiB, 2 for 1 GiB, each timed by the cache level
that held the entry. Entries are keyed by the virtual page number, with the
size code in bits 56+ (the page number's low bits index the sets).
Page tables live at synthetic addresses: level j's entry for an address is
its index bits above that level, so neighbouring pages share PTE lines as
they do in real page tables. No page-walk caches are modelled.
"""
import numpy as np
from numba import njit

from .arena import H_PREFETCH, R_HDR, R_LAT, R_REG, R_TAGS, R_TLBLAT, R_TLBMAP
from .cache import bump, find, hint, insert, touch
from .hierarchy import fill, prefetched_hit
from .stats import ACC, K_READ, MISS

WALK_TAG = 255     # records of page walks are counted under this tag ("page_walk")
PT_BASE = np.int64(0xFFFFC90000000000 - (1 << 64))   # vmalloc area: away from every modelled object


@njit(cache=True, inline="always")
def _key(R, addr):
    REG = R[R_REG]
    ua = np.uint64(addr)
    shift = 12
    for i in range(REG[0]):
        b = 1 + 3 * i
        if ua >= np.uint64(REG[b]) and ua < np.uint64(REG[b + 1]):
            shift = REG[b + 2]
            break
    code = 0 if shift == 12 else (1 if shift == 21 else 2)
    # page number in the low bits (it picks the set), the size code above it
    return np.int64((ua >> np.uint64(shift)) | (np.uint64(code) << np.uint64(56))), code


@njit(cache=True, inline="always")
def pte_line(addr, j, line_bits):
    """The line of the level-j page-table entry (0 = top) for `addr`."""
    bits = np.uint64(9 * (j + 1))
    idx = np.int64((np.uint64(addr) >> np.uint64(39 - 9 * j)) & ((np.uint64(1) << bits) - np.uint64(1)))
    return (PT_BASE + (np.int64(j) << 40) + idx * 8) >> line_bits


@njit(cache=True, inline="always")
def leaf_pte_line(R, addr, line_bits):
    """The line of the last entry a walk for `addr` reads."""
    key, code = _key(R, addr)
    return pte_line(addr, 3 - code, line_bits)


@njit(cache=True, inline="always")
def hinted(R, addr):
    """(level-1 TLB, entry) when that TLB's hinted entry (its last hit or
    fill) translates `addr`, else (-1, -1). translate() would then count a
    hit there, touch the entry and add nothing."""
    key, code = _key(R, addr)
    c1 = R[R_TLBMAP][code]
    if c1 >= 0:
        e = hint(R, c1)
        if R[R_TAGS][e] == key:
            return c1, e
    return -1, -1


@njit(cache=True)
def translate(R, addr, tag, path, n, line_bits):
    """Probe the TLBs for `addr`, walking the page table on a miss.
    Returns the cycles translation adds to the access."""
    key, code = _key(R, addr)
    TM = R[R_TLBMAP]
    c1 = TM[code]
    c2 = TM[3 + code]
    extra = 0
    if c1 >= 0:
        bump(R, c1, tag, ACC + K_READ)
        e = find(R, c1, key)
        if e >= 0:
            touch(R, c1, e, True)
            return 0
        bump(R, c1, tag, MISS + K_READ)
    if c2 >= 0:
        extra = R[R_TLBLAT][c2]
        bump(R, c2, tag, ACC + K_READ)
        e = find(R, c2, key)
        if e >= 0:
            touch(R, c2, e, True)
            if c1 >= 0:
                insert(R, c1, key, 0, tag, True)
            return extra
        bump(R, c2, tag, MISS + K_READ)
    LAT = R[R_LAT]
    d1 = path[0]
    pf = R[R_HDR][H_PREFETCH] == 1
    for j in range(4 - code):
        line = pte_line(addr, j, line_bits)
        # The upper levels' entries nearly always hit level 1: do what fill()
        # would for that hit without the call (about 20 ns of a walk each)
        e = find(R, d1, line)
        if e >= 0:
            bump(R, d1, WALK_TAG, ACC + K_READ)
            touch(R, d1, e, True)
            if pf:
                prefetched_hit(R, d1, e, 0)
            extra += LAT[0]
        else:
            extra += LAT[fill(R, path, n, np.int64(0), line, np.int64(K_READ), np.int64(WALK_TAG)) >> 1]
    if c2 >= 0:
        insert(R, c2, key, 0, tag, True)
    if c1 >= 0:
        insert(R, c1, key, 0, tag, True)
    return extra
