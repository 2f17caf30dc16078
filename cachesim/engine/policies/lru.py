"""Least recently used.

Up to 16 ways the set's recency order lives in one word, a stack of 4-bit
way numbers (nibble 0 = most recent): a touch moves a nibble to the front,
the victim is the last nibble, with no loop over the ways and no
data-dependent branch. Wider sets stamp each entry from a per-cache clock
and evict the oldest stamp. Both orders are exact LRU.
"""
from numba import njit

from ..rawarray import cttz

CLOCK = 0        # column of the per-cache state
STACK_WAYS = 16  # widest set kept as a nibble stack
_ONES = 0x1111111111111111
_HIGHS = -0x7777777777777778  # 0x8888888888888888 as int64


def set_init(ways: int) -> int:
    """Initial per-set word: ways in order 0, 1, ..., ways-1."""
    if ways > STACK_WAYS:
        return 0
    w = 0
    for k in range(ways):
        w |= k << (4 * k)
    return w if w < (1 << 63) else w - (1 << 64)


@njit(cache=True, inline="always")
def pos(o, way):
    """Position of `way` in nibble stack o (the lowest matching nibble)."""
    x = o ^ (way * _ONES)
    t = (x - _ONES) & ~x & _HIGHS
    return cttz(t) >> 2


@njit(cache=True, inline="always")
def _below(p):
    return (1 << (4 * p)) - 1


@njit(cache=True, inline="always")
def to_front(o, way):
    p = pos(o, way)
    hi = 0 if p == 15 else o & ~_below(p + 1)
    return hi | ((o & _below(p)) << 4) | way


@njit(cache=True, inline="always")
def evict_to_front(o, ways):
    """(victim, o once the victim's way is refilled): to_front of the last
    of `ways` nibbles is a mask and a shift, with no search for the way's
    place (an install into a full set: every miss of a warm cache)."""
    sh = 4 * (ways - 1)
    w = (o >> sh) & 15
    return w, ((o & ((1 << sh) - 1)) << 4) | w


@njit(cache=True, inline="always")
def to_back(o, way, ways):
    p = pos(o, way)
    hi = 0 if p == 15 else o & ~_below(p + 1)
    rest = (o & _below(p)) | (hi >> 4)
    return (rest & _below(ways - 1)) | (way << (4 * (ways - 1)))


@njit(cache=True, inline="always")
def _stamp(RS, CS, e, cs):
    CS[cs + CLOCK] += 1
    RS[e] = CS[cs + CLOCK]


@njit(cache=True, inline="always")
def reset(RS, SS, CS, e0, s, cs, way, ways):
    if ways <= STACK_WAYS:
        SS[s] = to_front(SS[s], way)
    else:
        _stamp(RS, CS, e0 + way, cs)


touch = reset


@njit(cache=True, inline="always")
def invalidate(RS, SS, CS, e0, s, cs, way, ways):
    if ways <= STACK_WAYS:
        SS[s] = to_back(SS[s], way, ways)
    else:
        RS[e0 + way] = 0


@njit(cache=True, inline="always")
def victim(RS, SS, CS, e0, s, cs, ways):
    if ways <= STACK_WAYS:
        return (SS[s] >> (4 * (ways - 1))) & 15
    best = 0
    for w in range(1, ways):
        if RS[e0 + w] < RS[e0 + best]:
            best = w
    return best
