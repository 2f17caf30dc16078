"""Stream prefetcher (Intel's L2 streamer): tracks up to 16 streams, one per
4 KiB page; after two accesses in the same direction it fetches the next
DEGREE lines ahead, never crossing the page."""
from numba import njit

ENTRIES = 16
DEGREE = 2
STATE_WORDS = 5 * ENTRIES + 1   # page+1, last offset, direction, confidence, age; clock


@njit(cache=True, inline="always")
def observe(S, base, line, off, site, hit, Q, qn, line_bits):
    shift = 12 - line_bits
    page = line >> shift
    lo = line & ((1 << shift) - 1)   # the line's place in its page
    clock = base + 5 * ENTRIES
    S[clock] += 1
    found = -1
    oldest = 0
    age = S[base + 4]
    for i in range(ENTRIES):
        b = base + 5 * i
        if S[b] == page + 1:
            found = b
        if S[b + 4] < age:   # the age in a register: no load chained on the last compare
            oldest = i
            age = S[b + 4]
    if found < 0:
        b = base + 5 * oldest
        S[b] = page + 1
        S[b + 1] = lo
        S[b + 2] = 0
        S[b + 3] = 0
        S[b + 4] = S[clock]
        return qn
    b = found
    S[b + 4] = S[clock]
    d = lo - S[b + 1]
    if d == 0:
        return qn
    direction = 1 if d > 0 else -1
    if direction == S[b + 2]:
        if S[b + 3] < 3:
            S[b + 3] += 1
    else:
        S[b + 2] = direction
        S[b + 3] = 0
    S[b + 1] = lo
    if S[b + 3] >= 1:
        for k in range(1, DEGREE + 1):
            t = lo + direction * k
            if 0 <= t < (1 << shift):
                Q[qn] = (page << shift) + t
                qn += 1
    return qn


@njit(cache=True, inline="always")
def quiet(S, base, line, site):
    return False        # every access ages its stream entry
