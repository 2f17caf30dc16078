"""Adjacent-line (spatial) prefetcher: on a miss, fetch the other line of the
128-byte aligned pair (Intel's L2 "adjacent cache line" prefetcher,
MSR 1A4H bit 1)."""
from numba import njit

STATE_WORDS = 0


@njit(cache=True, inline="always")
def observe(S, base, line, off, site, hit, Q, qn, line_bits):
    if hit == 0:
        Q[qn] = line ^ 1
        qn += 1
    return qn


@njit(cache=True, inline="always")
def quiet(S, base, line, site):
    return True         # only misses issue; no state
