"""Static re-reference interval prediction (Jaleel et al., ISCA 2010), 2-bit
RRPV with hit priority: insert at RRPV 2 ("long"), a hit sets 0; the victim
is the first way with the highest RRPV, after ageing the whole set by
(3 - that RRPV), as gem5's RRIPRP does. Per-entry state: the RRPV."""
from numba import njit

RRPV_MAX = 3


def set_init(ways: int) -> int:
    return 0


@njit(cache=True, inline="always")
def reset(RS, SS, CS, e0, s, cs, way, ways):
    RS[e0 + way] = RRPV_MAX - 1


@njit(cache=True, inline="always")
def touch(RS, SS, CS, e0, s, cs, way, ways):
    RS[e0 + way] = 0


@njit(cache=True, inline="always")
def invalidate(RS, SS, CS, e0, s, cs, way, ways):
    RS[e0 + way] = RRPV_MAX


@njit(cache=True, inline="always")
def victim(RS, SS, CS, e0, s, cs, ways):
    best = 0
    for w in range(1, ways):
        if RS[e0 + w] > RS[e0 + best]:
            best = w
    age = RRPV_MAX - RS[e0 + best]
    if age > 0:
        for w in range(ways):
            RS[e0 + w] += age
    return best
