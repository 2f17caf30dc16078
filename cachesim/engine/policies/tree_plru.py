"""Tree pseudo-LRU (gem5 TreePLRURP): ways-1 direction bits per set.

Node n has children 2n+1 (left) and 2n+2 (right); way w is leaf ways-1+w.
A set bit means "the victim is on the right". A touch points every node on
the way's path away from it; invalidation points them toward it; the victim
follows the bits from the root. Needs a power-of-two way count (checked by
the config)."""
from numba import njit


def set_init(ways: int) -> int:
    return 0


@njit(cache=True, inline="always")
def _point(SS, s, way, ways, away):
    n = ways - 1 + way
    bits = SS[s]
    while n > 0:
        p = (n - 1) >> 1
        left = n == 2 * p + 1
        if left == away:
            bits |= 1 << p
        else:
            bits &= ~(1 << p)
        n = p
    SS[s] = bits


@njit(cache=True, inline="always")
def reset(RS, SS, CS, e0, s, cs, way, ways):
    _point(SS, s, way, ways, True)


touch = reset


@njit(cache=True, inline="always")
def invalidate(RS, SS, CS, e0, s, cs, way, ways):
    _point(SS, s, way, ways, False)


@njit(cache=True, inline="always")
def victim(RS, SS, CS, e0, s, cs, ways):
    n = 0
    bits = SS[s]
    while n < ways - 1:
        n = 2 * n + 2 if (bits >> n) & 1 else 2 * n + 1
    return n - (ways - 1)
