"""Intel's L1 DCU prefetcher as the optimization manual describes it: "also
known as the streaming prefetcher, [it] is triggered by an ascending access
to very recently loaded data ... and automatically fetches the next line"
(Intel 64 and IA-32 Architectures Optimization Reference Manual, 2.4.5.4),
and only "within the same 4K byte page as the load ... that triggered it".

"Very recently loaded" is the last ENTRIES lines brought into the cache
(by a demand miss, or by the first demand use of a line a prefetch brought
in, so that a stream keeps itself going); "ascending" is an access to one
of them at a higher byte offset than the access before it on that line.
Each such line triggers at most once. Unlike the tagged `next_line`, a
single access per line (a random stream, a pointer chase touching one word
per line) never triggers it. The manual gives no table size: ENTRIES is
our choice."""
from numba import njit

ENTRIES = 4
STATE_WORDS = 3 * ENTRIES + 1   # per entry: line + 1 (0 empty), last offset, armed; then the FIFO slot
PAGE_BITS = 12


@njit(cache=True, inline="always")
def _entry(S, base, line):
    for i in range(ENTRIES):
        if S[base + 3 * i] == line + 1:
            return base + 3 * i
    return -1


@njit(cache=True, inline="always")
def observe(S, base, line, off, site, hit, Q, qn, line_bits):
    b = _entry(S, base, line)
    if hit != 1:             # just brought in: a miss (0) or the first use of a prefetched line (2)
        if b < 0:
            k = S[base + 3 * ENTRIES]
            b = base + 3 * k
            S[base + 3 * ENTRIES] = k + 1 if k + 1 < ENTRIES else 0
        S[b] = line + 1
        S[b + 1] = off
        S[b + 2] = 1
        return qn
    if b < 0 or S[b + 2] == 0:
        return qn
    if off > S[b + 1]:
        S[b + 2] = 0
        shift = PAGE_BITS - line_bits
        if (line + 1) >> shift == line >> shift:
            Q[qn] = line + 1
            qn += 1
    else:
        S[b + 1] = off
    return qn


@njit(cache=True, inline="always")
def quiet(S, base, line, site):
    b = _entry(S, base, line)
    return b < 0 or S[b + 2] == 0    # only an armed entry reacts to a plain hit
