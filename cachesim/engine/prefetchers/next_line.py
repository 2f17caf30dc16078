"""Tagged next-line prefetcher (gem5 TaggedPrefetcher, degree 1): on a miss,
or on the first hit to a line it prefetched, fetch the next line, even
across a page. Intel's L1 DCU prefetcher is narrower: dcu.py."""
from numba import njit

STATE_WORDS = 0


@njit(cache=True, inline="always")
def observe(S, base, line, off, site, hit, Q, qn, line_bits):
    if hit != 1:           # miss (0) or first hit on a prefetched line (2)
        Q[qn] = line + 1
        qn += 1
    return qn


@njit(cache=True, inline="always")
def quiet(S, base, line, site):
    return True         # a plain hit issues nothing and it keeps no state
