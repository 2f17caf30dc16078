"""The lean replay loop (engine/lean.py) equals the generic one and the
reference model on every plain machine: same counters, same cache contents,
same cycles, chunked or not, on one thread or two."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachesim.config import machine_from_dict
from cachesim.engine import lean as lean_mod
from cachesim.engine.lean import nibble_l1, plain, replay_lean, replay_lean_nibble
from cachesim.engine.replay import EngineState, replay_default
from cachesim.trace import empty
from test_reference_model import POLICIES, compare

LINE = 16


@st.composite
def plain_cache(draw, level, serves="both"):
    policy = draw(st.sampled_from(POLICIES))
    ways = draw(st.sampled_from([1, 2, 4, 8, 16]) if policy == "tree_plru" else st.sampled_from([1, 2, 3, 5, 8, 17]))
    sets = draw(st.sampled_from([1, 2, 3, 4, 8]))
    return {"level": level, "serves": serves, "size": sets * ways * LINE, "assoc": ways,
            "replacement_policy": policy}


@st.composite
def plain_machines(draw, timing=True):
    caches = {}
    if draw(st.booleans()):
        caches["L1I"] = draw(plain_cache(1, "instructions"))
        caches["L1D"] = draw(plain_cache(1, "data"))
    else:
        caches["L1"] = draw(plain_cache(1))
    for lv in range(2, 2 + draw(st.integers(0, 3))):
        caches[f"L{lv}"] = draw(plain_cache(lv))
    raw = {"machine": {"name": "lean", "line_size": LINE, "seed": draw(st.integers(0, 2**32))},
           "caches": caches, "replay": {"timing": timing and draw(st.booleans())},
           "core": {"window": draw(st.sampled_from([1, 4, 64]))}}
    m = machine_from_dict(raw)
    assert plain(m)
    return m


@st.composite
def traces(draw):
    n = draw(st.integers(1, 400))
    nlines = draw(st.integers(1, 60))
    r = empty(n)
    r["addr"] = draw(st.lists(st.integers(0, nlines * LINE - 1), min_size=n, max_size=n))
    r["kind"] = draw(st.lists(st.sampled_from([0, 0, 0, 1, 1, 2, 3, 3, 4, 5]), min_size=n, max_size=n))
    r["size"] = draw(st.lists(st.sampled_from([0, 1, 4, 8, 8, 16, 24, 40]), min_size=n, max_size=n))
    r["tag"] = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    r["dep"] = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    r["op"] = np.cumsum(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    return r


@st.composite
def run_traces(draw):
    """Runs of records on one line (a stream's shape, what the lean loop's
    same-line fast path absorbs), each broken now and then by a record that
    differs in one field: kind, tag, op, size, or a byte past the line."""
    base = draw(traces())
    reps = draw(st.lists(st.integers(1, 9), min_size=len(base), max_size=len(base)))
    r = np.repeat(base, reps)
    n = len(r)
    r["addr"] = (r["addr"] & ~np.uint64(LINE - 1)) + np.array(
        draw(st.lists(st.integers(0, LINE - 1), min_size=n, max_size=n)), dtype=np.uint64)
    for field, values in (("kind", [0, 1, 2, 3, 4, 5]), ("tag", [0, 1]), ("size", [0, 1, 8, 16])):
        flips = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(values)), max_size=4))
        for i, v in flips:
            r[field][i] = v
    r["op"] = np.maximum.accumulate(r["op"])
    return r


def state(m, recs, lean, threads=1, chunk=None):
    s = EngineState(m, threads=threads, lean=lean)
    step = chunk or len(recs)
    for i in range(0, len(recs), step):
        s.replay(recs[i:i + step])
    return s


def assert_same(a, b):
    assert np.array_equal(a.stats, b.stats)
    assert np.array_equal(a.run, b.run)   # ops, records, lines, op bookkeeping, timing words
    if a.nparts == b.nparts == 1:
        assert np.array_equal(a.tags, b.tags)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_machines(), traces(), st.sampled_from([None, 1, 7, 64]))
def test_lean_equals_generic(m, recs, chunk):
    lean = state(m, recs, True, chunk=chunk)
    assert lean.kernel is (replay_lean_nibble if nibble_l1(m) else replay_lean)
    generic = state(m, recs, False)
    assert generic.kernel is replay_default
    assert_same(lean, generic)


POLICY_STATE = ("TAGS", "DIRTY", "RS", "SS", "CS", "HINT", "STATS", "RUN")


def assert_same_state(lean, generic):
    offs = lean.arenas[0].offs
    a, b = lean.M, generic.M   # the properties wait for a pipeline to finish
    for key in POLICY_STATE:
        o = offs[key]
        end = min((v for v in offs.values() if v > o), default=len(a))
        assert np.array_equal(a[o:end], b[o:end]), key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_machines(), run_traces(), st.sampled_from([None, 5]))
def test_lean_same_line_runs(m, recs, chunk):
    """The run fast path leaves every word of state the generic loop leaves,
    replacement state included, not only the counters."""
    assert_same_state(state(m, recs, True, chunk=chunk), state(m, recs, False, chunk=chunk))


@pytest.mark.parametrize("policy,threads", [("lru", 1), ("brrip", 1), ("lru", 2)])
def test_lean_many_batches(policy, threads):
    """Enough level-1 misses and write-backs for many of the lean replay's
    batches (lean.BATCH requests each), and records spanning many lines:
    the level passes still equal the generic loop word for word."""
    rng = np.random.default_rng(7)
    n = 120_000
    recs = empty(n)
    recs["addr"] = rng.integers(0, 1 << 16, n)
    recs["kind"] = rng.choice([0, 0, 1, 2, 3, 4], n)
    recs["size"] = np.where(rng.random(n) < 0.001, 4000, 8)
    recs["dep"] = rng.integers(0, 4, n)
    recs["op"] = np.arange(n) // 3
    caches = {"L1I": {"level": 1, "serves": "instructions", "size": 512, "assoc": 2},
              "L1D": {"level": 1, "serves": "data", "size": 1024, "assoc": 4, "replacement_policy": policy},
              "L2": {"level": 2, "size": 4096, "assoc": 8, "replacement_policy": policy},
              "L3": {"level": 3, "size": 16384, "assoc": 16}}
    m = machine_from_dict({"machine": {"name": "b", "line_size": LINE}, "caches": caches})
    lean = state(m, recs, True, threads=threads, chunk=50_000)
    assert lean.stats[1, :, 4:8].sum() > 4 * lean_mod.BATCH   # L1D misses: many batches
    assert lean.stats[1, :, 4:8].sum() > 2 * EngineState.SLOT  # and pipeline slots
    assert_same_state(lean, state(m, recs, False, chunk=50_000))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_machines(timing=False), traces())
def test_lean_matches_reference(m, recs):
    assert EngineState(m).lean
    compare(m, recs)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_machines(), traces(), st.sampled_from([None, 7, 64]), st.sampled_from([1, 5, 64]))
def test_lean_pipelined_equals_one_thread(m, recs, chunk, slot):
    """Two threads (level 1 | the levels below, over a ring of slots) leave
    the state one thread leaves, word for word, cycles included; tiny slots
    make the ring wrap many times within a chunk and across chunks."""
    old = EngineState.SLOT
    EngineState.SLOT = slot
    try:
        two = state(m, recs, True, threads=2, chunk=chunk)
    finally:
        EngineState.SLOT = old
    assert two.pipelined and two.lean
    one = state(m, recs, True, threads=1, chunk=chunk)
    assert not one.pipelined
    assert_same_state(two, one)
    assert_same(two, one)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_machines(), traces())
def test_generic_partitioned_equals_one_thread(m, recs):
    """Off the lean path, two threads split the sets (replay.partitions)."""
    two = state(m, recs, False, threads=2)
    one = state(m, recs, False, threads=1)
    assert np.array_equal(two.stats, one.stats)
    assert np.array_equal(two.run, one.run)


def test_default_threads():
    """A plain machine pipelines by default on a multi-core host; the
    environment variable and threads=1 turn it off."""
    import os
    m = machine_from_dict({"machine": {"name": "x"}, "caches": {"L1": {"level": 1, "size": "1KiB", "assoc": 2}}})
    assert EngineState(m).pipelined == ((os.cpu_count() or 1) >= 2 and "CACHESIM_THREADS" not in os.environ)
    assert not EngineState(m, threads=1).pipelined
    assert EngineState(m, threads=2).pipelined


@pytest.mark.parametrize("change", [
    {"clusivity": "inclusive"}, {"clusivity": "exclusive"}, {"write_policy": "write_through"},
    {"write_allocate": False}, {"prefetcher": "next_line"}])
def test_not_plain_uses_generic_loop(change):
    raw = {"machine": {"name": "x"}, "caches": {"L1": {"level": 1, "size": "1KiB", "assoc": 2},
                                                 "L2": dict({"level": 2, "size": "4KiB", "assoc": 4}, **change)}}
    m = machine_from_dict(raw)
    assert not plain(m)
    assert EngineState(m).kernel is replay_default
