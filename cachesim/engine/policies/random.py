"""Random replacement from the cache's seeded splitmix64 stream; any way
count works (no power-of-two mask, cf. pycachesim's RR bug)."""
from numba import njit

from . import rng


def set_init(ways: int) -> int:
    return 0


@njit(cache=True, inline="always")
def reset(RS, SS, CS, e0, s, cs, way, ways):
    pass


touch = reset
invalidate = reset


@njit(cache=True, inline="always")
def victim(RS, SS, CS, e0, s, cs, ways):
    return rng.below(CS, cs, ways)
