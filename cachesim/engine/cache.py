"""Set-associative lookup, insertion and removal (numba, over the arena).

Entries are numbered globally across caches: cache c owns entries
``P[c,EOFF] ..`` (sets*ways of them) and sets ``P[c,SOFF] ..``. A line is
held at most once per cache, so the per-cache hint (the entry of its last
hit or fill) is checked before the set scan: a matching tag there is a hit.
That makes streams and repeated lines cheap. Its flag (set_hint) is 1 while the
hinted entry was the last one touched (or, under nibble-stack LRU, inserted)
in cache c with nothing else inserted or removed since: touching it again
then changes no replacement state, so
touch() skips it (touched_last), and the lean loop counts whole runs of
same-line records as hits without looking at the policy.
"""
import numpy as np
from numba import njit

from . import policies as pol
from .arena import (CSOFF, ENTRIES, EOFF, HS, MASK, NPARAM, POLICY, R_CS, R_DIRTY, R_HINT, R_P,
                    R_RS, R_SS, R_STATS, R_TAGS, R_VALID, SETS, SLICES, SOFF, SPS, WAYS)
from .rawarray import cttz, lanes_equal8, lanes_equal16
from .stats import EVICT, NCNT, NTAGS

_HASH = np.uint64(0x9E3779B97F4A7C15)
_S32 = np.uint64(32)

# The one-line helpers are plain @njit: LLVM inlines every call to them
# (checked: no call to them is left in the optimized IR of the replay
# loops), while numba's inline="always" deep-copies the callee's IR at each
# call site, which was most of a cold compile (the lean passes 34 -> 26 s,
# the main job's 96 -> 75 s). The larger ones stay inline="always": LLVM
# left some calls to set_base and _policy_args out of line.


@njit(cache=True)
def par(R, c, col):
    return R[R_P][c * NPARAM + col]


@njit(cache=True)
def bump(R, c, tag, cnt):
    R[R_STATS][(c * NTAGS + tag) * NCNT + cnt] += 1


@njit(cache=True)
def bump_by(R, c, tag, cnt, n):
    R[R_STATS][(c * NTAGS + tag) * NCNT + cnt] += n


@njit(cache=True)
def hint(R, c):
    """Cache c's hinted entry: its last hit or fill."""
    return R[R_HINT][c * HS]


@njit(cache=True)
def set_hint(R, c, e, last):
    """Hint entry e; `last`: e is the last entry touched, nothing inserted or removed since."""
    R[R_HINT][c * HS] = e
    R[R_HINT][c * HS + 1] = last


@njit(cache=True, inline="always")
def set_index(R, c, line):
    """Modulo indexing (a mask when the set count is a power of two). With
    slices, a multiplicative hash of the line picks the slice; Intel's real
    slice hash is undocumented for non-power-of-two slice counts."""
    P = R[R_P]
    p = c * NPARAM
    mask = P[p + MASK]
    if P[p + SLICES] == 1:
        if mask >= 0:
            return line & mask
        return line % P[p + SETS]
    sps = P[p + SPS]
    h = np.int64(((np.uint64(line) * _HASH) >> _S32) % np.uint64(P[p + SLICES]))
    if mask >= 0:
        return h * sps + (line & mask)
    return h * sps + line % sps


@njit(cache=True, inline="always")
def set_base(R, c, line):
    """(set index within the cache, first entry of the set)."""
    s = set_index(R, c, line)
    return s, par(R, c, EOFF) + s * par(R, c, WAYS)


@njit(cache=True, inline="always")
def find(R, c, line):
    """Global entry index holding `line` in cache c, or -1. No state change."""
    TAGS = R[R_TAGS]
    h = hint(R, c)
    if TAGS[h] == line:
        return h
    s, e0 = set_base(R, c, line)
    return scan(TAGS, e0, par(R, c, WAYS), line)


@njit(cache=True)
def scan(TAGS, e0, ways, line):
    """Entry of the set at e0 holding `line`, or -1. A line is held at most
    once per set, so the lowest matching lane is the match."""
    if ways <= 8:
        m = lanes_equal8(TAGS, e0, line) & ((1 << ways) - 1)
    elif ways <= 16:
        m = lanes_equal16(TAGS, e0, line) & ((1 << ways) - 1)
    else:
        # the sum of (match * way+1) is the matching way: independent
        # compares and adds the host vectorises
        acc = 0
        for k in range(ways):
            acc += (TAGS[e0 + k] == line) * (k + 1)
        return e0 + acc - 1 if acc else -1
    return e0 + cttz(m) if m else -1


@njit(cache=True, inline="always")
def _policy_args(R, c, e):
    """(first entry of e's set, global set index, cs offset, way, ways) of
    a valid entry e. The set comes from e's line (a mask for power-of-two
    set counts), not from e // ways: a division by a run-time way count
    costs more than the rest of a touch."""
    P = R[R_P]
    p = c * NPARAM
    s, e0 = set_base(R, c, R[R_TAGS][e])
    return e0, P[p + SOFF] + s, P[p + CSOFF], e - e0, P[p + WAYS]


@njit(cache=True)
def touched_last(R, c, e):
    """Was e the last entry touched in cache c (or inserted, under
    nibble-stack LRU), with nothing else inserted or removed since?
    Touching it again then changes no replacement state, so
    touch() skips it; every loop goes through here, which keeps their
    policy state word for word the same."""
    return hint(R, c) == e and R[R_HINT][c * HS + 1] == 1


@njit(cache=True, inline="always")
def touch(R, c, e, inl=False):
    """Cache c's entry e was hit (inl: LRU inline, see policies)."""
    if touched_last(R, c, e):
        return
    e0, s, cs, way, ways = _policy_args(R, c, e)
    pol.touch_inl(inl, False, par(R, c, POLICY), R[R_RS], R[R_SS], R[R_CS], e0, s, cs, way, ways)
    set_hint(R, c, e, 1)


@njit(cache=True, inline="always")
def touch_at(R, c, e, e0, s, inl=False):
    """touch() when the set is already known."""
    if touched_last(R, c, e):
        return
    P = R[R_P]
    p = c * NPARAM
    pol.touch_inl(inl, False, P[p + POLICY], R[R_RS], R[R_SS], R[R_CS], e0, P[p + SOFF] + s, P[p + CSOFF], e - e0, P[p + WAYS])
    set_hint(R, c, e, 1)


@njit(cache=True, inline="always")
def remove(R, c, e):
    """Invalidate entry e of cache c (the caller handles its dirty data)."""
    e0, s, cs, way, ways = _policy_args(R, c, e)
    pol.invalidate(par(R, c, POLICY), R[R_RS], R[R_SS], R[R_CS], e0, s, cs, way, ways)
    R[R_TAGS][e] = -1
    R[R_DIRTY][e] = 0
    R[R_VALID][c * HS] -= 1
    R[R_HINT][c * HS + 1] = 0


@njit(cache=True, inline="always")
def insert(R, c, line, d, tag, inl=False):
    """Allocate the absent `line` in cache c with dirty bit d (inl: as touch).

    Returns (victim line, victim dirty); victim line -1 when a way was free.
    Invalid ways are used lowest first, before the policy is asked.
    """
    s, e0 = set_base(R, c, line)
    return insert_at(R, c, line, d, tag, e0, s, inl)


@njit(cache=True, inline="always")
def insert_at(R, c, line, d, tag, e0, s, inl=False):
    """insert() when the set is already known."""
    P = R[R_P]
    TAGS = R[R_TAGS]
    DIRTY = R[R_DIRTY]
    p = c * NPARAM
    ways = P[p + WAYS]
    gs = P[p + SOFF] + s
    cs = P[p + CSOFF]
    pid = P[p + POLICY]
    w = -1
    VALID = R[R_VALID]
    if VALID[c * HS] < P[p + ENTRIES]:
        for k in range(ways - 1, -1, -1):
            if TAGS[e0 + k] == -1:
                w = k
        if w >= 0:
            VALID[c * HS] += 1
    vline = -1
    vd = 0
    reset = False
    if w < 0:
        w, reset = pol.victim_inl(inl, pid, R[R_RS], R[R_SS], R[R_CS], e0, gs, cs, ways)
        vline = TAGS[e0 + w]
        vd = np.int64(DIRTY[e0 + w])
        bump(R, c, tag, EVICT)
    TAGS[e0 + w] = line
    DIRTY[e0 + w] = d
    if not reset:
        pol.touch_inl(inl, True, pid, R[R_RS], R[R_SS], R[R_CS], e0, gs, cs, w, ways)
    # A nibble-stack LRU insert moves the way to the front exactly as a hit
    # would, so a touch right after it (a stream's next record on the line)
    # may be skipped; other policies insert differently from a hit.
    set_hint(R, c, e0 + w, 1 if inl == pol.NIBBLE or pol.nibble_lru(pid, ways) else 0)
    return vline, vd
