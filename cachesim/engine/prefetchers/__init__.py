"""Hardware prefetchers, each a module behind one interface (ChampSim's
shape): ``observe(S, base, line, off, site, hit, Q, qn, line_bits) -> qn``
sees a demand access at its cache (off: its byte offset in the line; hit:
0 miss, 1 hit, 2 first hit on a line it prefetched), may update its state
``S[base:base+STATE_WORDS]`` and appends candidate lines to the queue ``Q``
(returning the new length). The engine issues each candidate that the
cache does not hold as a prefetch fill. ``quiet(S, base, line, site)``
says whether observing a plain hit (hit 1) on `line` from `site` now would
change no state and issue nothing; the replay then skips the call for a
repeated level-1 hit (replay.py).

Adding a prefetcher = one module + one entry in PREFETCHERS + one branch in
each dispatcher below.
"""
from numba import njit

from . import adjacent_line, dcu, ip_stride, next_line, stream

NONE, NEXT_LINE, IP_STRIDE, STREAM, ADJACENT_LINE, DCU = range(6)
PREFETCHERS = {"next_line": (NEXT_LINE, next_line), "ip_stride": (IP_STRIDE, ip_stride),
               "stream": (STREAM, stream), "adjacent_line": (ADJACENT_LINE, adjacent_line),
               "dcu": (DCU, dcu)}
PREFETCHER_IDS = {name: pid for name, (pid, _) in PREFETCHERS.items()}
MAX_PER_CACHE = 2
QUEUE = 8


def state_words(name: str) -> int:
    return PREFETCHERS[name][1].STATE_WORDS


@njit(cache=True, inline="always")
def observe(pid, S, base, line, off, site, hit, Q, qn, line_bits):
    if pid == NEXT_LINE:
        return next_line.observe(S, base, line, off, site, hit, Q, qn, line_bits)
    elif pid == IP_STRIDE:
        return ip_stride.observe(S, base, line, off, site, hit, Q, qn, line_bits)
    elif pid == STREAM:
        return stream.observe(S, base, line, off, site, hit, Q, qn, line_bits)
    elif pid == ADJACENT_LINE:
        return adjacent_line.observe(S, base, line, off, site, hit, Q, qn, line_bits)
    elif pid == DCU:
        return dcu.observe(S, base, line, off, site, hit, Q, qn, line_bits)
    return qn


@njit(cache=True, inline="always")
def quiet(pid, S, base, line, site):
    if pid == NEXT_LINE:
        return next_line.quiet(S, base, line, site)
    elif pid == IP_STRIDE:
        return ip_stride.quiet(S, base, line, site)
    elif pid == STREAM:
        return stream.quiet(S, base, line, site)
    elif pid == ADJACENT_LINE:
        return adjacent_line.quiet(S, base, line, site)
    elif pid == DCU:
        return dcu.quiet(S, base, line, site)
    return True
