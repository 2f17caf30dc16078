"""replay_default's shortcut for a repeated level-1 hit (arena.H_REPEAT)
leaves every word of the arena the full path leaves: TLB counters and
replacement state, prefetcher tables, prefetch bits, timing words, on
machines with TLBs, hardware prefetchers, timing and any clusivity."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachesim.config import machine_from_dict
from cachesim.engine.arena import H_REPEAT
from cachesim.engine.replay import EngineState
from cachesim.trace import empty
from test_lean import LINE, plain_cache, run_traces

PAGE_2M = 1 << 21
PREFETCHERS = ["next_line", "ip_stride", "stream", "adjacent_line", "dcu"]


@st.composite
def full_machines(draw):
    caches = {"L1I": draw(plain_cache(1, "instructions")), "L1D": draw(plain_cache(1, "data"))}
    for lv in range(2, 2 + draw(st.integers(0, 2))):
        caches[f"L{lv}"] = draw(plain_cache(lv))
    for name, c in caches.items():
        if name != "L1I":
            c["prefetcher"] = draw(st.lists(st.sampled_from(PREFETCHERS), max_size=2, unique=True))
        c["mshrs"] = draw(st.sampled_from([1, 2, 8]))
        if c["level"] > 1:
            c["clusivity"] = draw(st.sampled_from(["nine", "inclusive", "exclusive"]))
    raw = {"machine": {"name": "full", "line_size": LINE, "seed": draw(st.integers(0, 2**32))},
           "caches": caches, "replay": {"timing": draw(st.booleans())},
           "core": {"window": draw(st.sampled_from([1, 4, 64]))}}
    if draw(st.booleans()):
        raw["tlbs"] = {"DTLB": {"level": 1, "page_sizes": ["4KiB"], "entries": 4, "assoc": 2},
                       "STLB": {"level": 2, "page_sizes": ["4KiB", "2MiB"], "entries": 8, "assoc": 2}}
        # the second half of the trace's lines on 2 MiB pages that only the STLB holds
        raw["regions"] = [{"start": PAGE_2M, "end": 2 * PAGE_2M, "page_size": "2MiB"}]
    return machine_from_dict(raw)


def replay(m, recs, repeat, chunk):
    s = EngineState(m, threads=1, lean=False)
    s.M[H_REPEAT] = repeat
    for i in range(0, len(recs), chunk or len(recs)):
        s.replay(recs[i:i + chunk] if chunk else recs)
    return s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(full_machines(), run_traces(), st.sampled_from([None, 5]), st.data())
def test_repeat_shortcut_changes_nothing(m, recs, chunk, data):
    n = len(recs)
    recs["site"] = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    # pages: 4 KiB ones for the low lines, the 2 MiB region for the others
    recs["addr"] = np.where(recs["addr"] >= 30 * LINE, recs["addr"] + PAGE_2M, recs["addr"] * 64)
    fast, full = replay(m, recs, 1, chunk), replay(m, recs, 0, chunk)
    a, b = fast.M.copy(), full.M.copy()
    a[H_REPEAT] = b[H_REPEAT]
    assert np.array_equal(a, b)
    assert np.array_equal(fast.arenas[0].stats, full.arenas[0].stats)


def test_repeat_shortcut_is_taken():
    """7 of 8 records of an 8-byte stream go the short way (else the test
    above could pass without testing anything): arena.H_REPEAT counts them."""
    raw = {"machine": {"name": "s"},
           "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8, "prefetcher": ["next_line", "ip_stride"]},
                      "L2": {"level": 2, "size": "256KiB", "assoc": 8, "prefetcher": ["stream"]}},
           "tlbs": {"DTLB": {"level": 1, "page_sizes": ["4KiB"], "entries": 64, "assoc": 4}}}
    n = 8000
    recs = empty(n)
    recs["addr"] = np.arange(n) * 8
    recs["size"] = 8
    s = replay(machine_from_dict(raw), recs, 1, None)
    assert s.M[H_REPEAT] - 1 == n * 7 // 8
    assert s.stats[0, 0, 4:7].sum() == 1    # the stream misses once, then next-line prefetches cover it
