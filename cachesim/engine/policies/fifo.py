"""First in, first out: each entry is stamped when inserted; hits change
nothing; the victim is the oldest insertion (lowest way on ties)."""
from numba import njit

CLOCK = 0


def set_init(ways: int) -> int:
    return 0


@njit(cache=True, inline="always")
def reset(RS, SS, CS, e0, s, cs, way, ways):
    CS[cs + CLOCK] += 1
    RS[e0 + way] = CS[cs + CLOCK]


@njit(cache=True, inline="always")
def touch(RS, SS, CS, e0, s, cs, way, ways):
    pass


@njit(cache=True, inline="always")
def invalidate(RS, SS, CS, e0, s, cs, way, ways):
    RS[e0 + way] = 0


@njit(cache=True, inline="always")
def victim(RS, SS, CS, e0, s, cs, ways):
    best = 0
    for w in range(1, ways):
        if RS[e0 + w] < RS[e0 + best]:
            best = w
    return best
