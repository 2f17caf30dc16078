"""The numba engine equals the slow reference model, counter for counter,
for every replacement policy x clusivity x write policy."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference_model as ref
from cachesim.api import run_records
from cachesim.config import machine_from_dict
from cachesim.trace import Trace, TraceMeta, empty

POLICIES = ["lru", "fifo", "random", "tree_plru", "srrip", "brrip", "mru"]
CLUS = ["nine", "inclusive", "exclusive"]
WRITES = [("write_back", True), ("write_back", False), ("write_through", True), ("write_through", False)]
LINE = 16


@st.composite
def cache_spec(draw, level, serves="both", allow_exclusive=True):
    policy = draw(st.sampled_from(POLICIES))
    ways = draw(st.sampled_from([1, 2, 4, 8]) if policy == "tree_plru" else st.integers(1, 6))
    sets = draw(st.integers(1, 5))
    wp, wa = draw(st.sampled_from(WRITES))
    clus = draw(st.sampled_from(CLUS if allow_exclusive else ["nine", "inclusive"]))
    return {"level": level, "serves": serves, "size": sets * ways * LINE, "assoc": ways,
            "replacement_policy": policy, "write_policy": wp, "write_allocate": wa, "clusivity": clus}


@st.composite
def machines(draw):
    caches = {}
    if draw(st.booleans()):
        caches["L1I"] = draw(cache_spec(1, "instructions", False))
        caches["L1D"] = draw(cache_spec(1, "data", False))
    else:
        caches["L1"] = draw(cache_spec(1, "both", False))
    nlow = draw(st.integers(0, 2))
    for lv in range(2, 2 + nlow):
        caches[f"L{lv}"] = draw(cache_spec(lv))
    for c in caches.values():
        if c["level"] == 1:
            c["clusivity"] = "nine"
    raw = {"machine": {"name": "prop", "line_size": LINE, "seed": draw(st.integers(0, 2**32))},
           "caches": caches}
    return machine_from_dict(raw)


@st.composite
def traces(draw):
    n = draw(st.integers(1, 300))
    nlines = draw(st.integers(1, 40))
    addrs = draw(st.lists(st.integers(0, nlines * LINE - 1), min_size=n, max_size=n))
    kinds = draw(st.lists(st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4]), min_size=n, max_size=n))
    sizes = draw(st.lists(st.sampled_from([1, 4, 8, 8, 16, 24, 40]), min_size=n, max_size=n))
    r = empty(n)
    r["addr"] = addrs
    r["kind"] = kinds
    r["size"] = sizes
    r["op"] = np.cumsum(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    return r


def compare(m, recs):
    got = run_records(m, Trace(recs, TraceMeta()))
    want = ref.replay(m, recs)
    wl = want.levels()
    for name, lv in got["levels"].items():
        for key, val in wl[name].items():
            assert lv[key] == val, (name, key, lv[key], val)
    assert got["memory"] == {"reads": want.mem_reads, "writes": want.mem_writes}
    assert got["ops"] == want.ops
    assert got["line_accesses"] == want.lines


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(machines(), traces())
def test_engine_matches_reference(m, recs):
    compare(m, recs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["lru", "mru", "fifo", "srrip"]), st.integers(17, 24), traces())
def test_wide_sets_match_reference(policy, ways, recs):
    """More than 16 ways: LRU/MRU switch from the nibble stack to stamps."""
    m = machine_from_dict({"machine": {"name": "wide", "line_size": LINE},
                           "caches": {"L1": {"level": 1, "size": 2 * ways * LINE, "assoc": ways,
                                             "replacement_policy": policy}}})
    compare(m, recs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(7, 16), st.integers(7, 16), st.sampled_from(["nine", "inclusive"]), traces())
def test_deep_nibble_stacks_match_reference(w1, w2, clus, recs):
    """7-16 ways of LRU at both levels, on the lean loop (nine) and the
    generic one (an inclusive L2): refilling a full set reorders its nibble
    stack with one shift (lru.evict_to_front); 16 ways reach the sign bit."""
    m = machine_from_dict({"machine": {"name": "deep", "line_size": LINE},
                           "caches": {"L1": {"level": 1, "size": w1 * LINE, "assoc": w1},
                                      "L2": {"level": 2, "size": 2 * w2 * LINE, "assoc": w2,
                                             "clusivity": clus}}})
    compare(m, recs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(machines(), traces())
def test_cachegrind_semantics_match_reference(m, recs):
    raw_caches = {c.name: {"level": min(c.level, 2), "serves": c.serves if c.level == 1 else "both",
                           "size": c.size, "assoc": c.assoc, "replacement_policy": c.replacement_policy}
                  for c in m.caches if c.level <= 2}
    if not any(c.level == 2 for c in m.caches):
        raw_caches["LL"] = {"level": 2, "size": 4 * 2 * LINE, "assoc": 2}
    for spec in raw_caches.values():
        sets = spec["size"] // (spec["assoc"] * LINE)
        p2 = 1 << (sets.bit_length() - 1)
        spec["size"] = p2 * spec["assoc"] * LINE
    cg = machine_from_dict({"machine": {"name": "cg", "line_size": LINE, "seed": m.seed},
                            "caches": raw_caches, "replay": {"semantics": "cachegrind"}})
    compare(cg, recs)


def test_sliced_cache_matches_reference():
    m = machine_from_dict({"machine": {"name": "sl", "line_size": LINE},
                           "caches": {"L1": {"level": 1, "size": 4 * 2 * LINE, "assoc": 2},
                                      "L2": {"level": 2, "size": 3 * 6 * 4 * LINE, "assoc": 4, "slices": 3}}})
    rng = np.random.default_rng(1)
    r = empty(5000)
    r["addr"] = rng.integers(0, 4000 * LINE, 5000)
    r["size"] = 8
    r["kind"] = rng.integers(0, 2, 5000)
    compare(m, r)


@st.composite
def partitionable(draw):
    """Machines whose every set count is even and whose policies are
    deterministic: eligible for the two-thread set-partitioned replay."""
    caches = {}
    names = ["L1", "L2", "L3"][:draw(st.integers(1, 3))]
    for lv, name in enumerate(names, 1):
        policy = draw(st.sampled_from(["lru", "fifo", "tree_plru", "srrip", "mru"]))
        ways = draw(st.sampled_from([1, 2, 4, 8]) if policy == "tree_plru" else st.integers(1, 5))
        sets = 2 * draw(st.integers(1, 4))
        wp, wa = draw(st.sampled_from(WRITES))
        clus = "nine" if lv == 1 else draw(st.sampled_from(CLUS))
        caches[name] = {"level": lv, "size": sets * ways * LINE, "assoc": ways, "replacement_policy": policy,
                        "write_policy": wp, "write_allocate": wa, "clusivity": clus, "mshrs": draw(st.integers(1, 4))}
    return machine_from_dict({"machine": {"name": "p", "line_size": LINE}, "caches": caches,
                              "core": {"window": draw(st.integers(1, 16))}})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partitionable(), traces())
def test_two_partitions_equal_one_thread(m, recs):
    from cachesim.engine.replay import EngineState
    from cachesim.api import run_dict
    recs["dep"] = np.minimum(np.arange(len(recs)), np.array([0, 1, 0, 3] * (len(recs) // 4 + 1))[:len(recs)])
    one, two = EngineState(m, threads=1), EngineState(m, threads=2, lean=False)   # lean + 2 threads pipelines
    assert one.nparts == 1 and two.nparts == 2
    for st_ in (one, two):
        for i in range(0, len(recs), 97):
            st_.replay(recs[i:i + 97])
    a = run_dict(one, Trace(recs, TraceMeta()), "x", None)
    b = run_dict(two, Trace(recs, TraceMeta()), "x", None)
    assert a == b
