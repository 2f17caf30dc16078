"""Most recently used (gem5 MRURP): evict the line touched last.

Useful for cyclic scans larger than the cache. Unlike pycachesim 0.3.1's MRU
(PEERS.md 3.3 #2) it evicts, and counts, a real victim. Recency is kept as
in lru.py; only the victim differs."""
from numba import njit

from . import lru

set_init = lru.set_init
reset = lru.reset
touch = lru.touch
invalidate = lru.invalidate


@njit(cache=True, inline="always")
def victim(RS, SS, CS, e0, s, cs, ways):
    if ways <= lru.STACK_WAYS:
        return SS[s] & 15
    best = 0
    for w in range(1, ways):
        if RS[e0 + w] > RS[e0 + best]:
            best = w
    return best
