"""IP-stride prefetcher (Intel's L1 "DCU IP" prefetcher; ChampSim ip_stride):
a table indexed by the access's code site remembers the last line and
stride; after two confirmations it fetches line + stride. Strides up to
2 KiB either way, as Intel documents."""
from numba import njit

ENTRIES = 256
STATE_WORDS = 4 * ENTRIES   # site, last line, stride, confidence
MAX_STRIDE_BYTES = 2048


@njit(cache=True, inline="always")
def observe(S, base, line, off, site, hit, Q, qn, line_bits):
    b = base + 4 * (site % ENTRIES)
    if S[b] != site + 1:                    # site + 1 so that 0 means empty
        S[b] = site + 1
        S[b + 1] = line
        S[b + 2] = 0
        S[b + 3] = 0
        return qn
    d = line - S[b + 1]
    if d == 0:
        return qn
    if d == S[b + 2]:
        if S[b + 3] < 3:
            S[b + 3] += 1
    else:
        if S[b + 3] > 0:
            S[b + 3] -= 1
        else:
            S[b + 2] = d
    S[b + 1] = line
    stride = S[b + 2]
    if S[b + 3] >= 2 and abs(stride) <= (MAX_STRIDE_BYTES >> line_bits):
        Q[qn] = line + stride
        qn += 1
    return qn


@njit(cache=True, inline="always")
def quiet(S, base, line, site):
    b = base + 4 * (site % ENTRIES)
    return S[b] == site + 1 and S[b + 1] == line   # the d == 0 return above
