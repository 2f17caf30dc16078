"""Bimodal RRIP: like SRRIP but inserts at RRPV 3 ("distant") except one
insertion in 32 (drawn from the cache's seeded stream) at RRPV 2, so a scan
larger than the cache cannot flush the working set."""
from numba import njit

from . import rng, srrip

BIMODAL_ONE_IN = 32

set_init = srrip.set_init
touch = srrip.touch
invalidate = srrip.invalidate
victim = srrip.victim


@njit(cache=True, inline="always")
def reset(RS, SS, CS, e0, s, cs, way, ways):
    if rng.below(CS, cs, BIMODAL_ONE_IN) == 0:
        RS[e0 + way] = srrip.RRPV_MAX - 1
    else:
        RS[e0 + way] = srrip.RRPV_MAX
