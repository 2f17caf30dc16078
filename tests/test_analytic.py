"""Analytic cases with exact expected counts."""
import numpy as np
import pytest

from cachesim.api import run_records
from cachesim.trace import READ, WRITE, Trace, TraceMeta
from helpers import machine, records

POLICIES = ["lru", "fifo", "random", "tree_plru", "srrip", "brrip", "mru"]


def run(m, recs):
    return run_records(m, Trace(recs, TraceMeta()))


@pytest.mark.parametrize("policy", POLICIES)
def test_sequential_stream_misses_once_per_line(policy):
    m = machine(("L1", {"size": "32KiB", "assoc": 8, "replacement_policy": policy}),
                ("L2", {"size": "256KiB", "assoc": 8, "replacement_policy": policy}))
    n = 200_000  # 8-byte loads over 1.6 MB: 25,000 lines
    r = run(m, records(np.arange(n) * 8))
    for lv in ("L1", "L2"):
        assert r["levels"][lv]["misses"] == n * 8 // 64
    assert r["levels"]["L1"]["accesses"] == n
    assert r["memory"]["reads"] == n * 8 // 64


@pytest.mark.parametrize("policy", ["lru", "fifo", "random", "tree_plru", "srrip", "brrip"])
def test_working_set_within_capacity_only_cold_misses(policy):
    """A working set that fits (every set holds at most `assoc` of its lines)
    takes only cold misses, for any sane policy."""
    m = machine(("L1", {"size": "32KiB", "assoc": 8, "replacement_policy": policy}))
    lines = np.arange(512)            # exactly the capacity
    addr = np.tile(lines * 64, 20)
    r = run(m, records(addr))
    assert r["levels"]["L1"]["misses"] == 512


def test_lru_cyclic_scan_larger_than_capacity_always_misses():
    m = machine(("L1", {"size": "32KiB", "assoc": 8}))
    addr = np.tile(np.arange(64 * 9) * 64, 10)      # 9 lines in each of the 64 sets
    r = run(m, records(addr))
    assert r["levels"]["L1"]["misses"] == len(addr)
    addr = np.tile(np.arange(64 * 8 + 1) * 64, 10)  # only set 0 holds 9 lines
    r = run(m, records(addr))
    assert r["levels"]["L1"]["misses"] == 64 * 8 + 1 + 9 * 9


@pytest.mark.parametrize("assoc", [2, 4, 8, 11, 16])
def test_stride_to_one_set_thrashes_at_assoc_plus_one(assoc):
    sets = 64
    m = machine(("L1", {"size": sets * assoc * 64, "assoc": assoc}))
    stride = sets * 64                 # every line maps to set 0
    fits = np.tile(np.arange(assoc) * stride, 50)
    r = run(m, records(fits))
    assert r["levels"]["L1"]["misses"] == assoc          # cold only
    thrash = np.tile(np.arange(assoc + 1) * stride, 50)
    r = run(m, records(thrash))
    assert r["levels"]["L1"]["misses"] == len(thrash)    # LRU: every access misses


def test_non_power_of_two_sets_use_modulo_indexing():
    # 1.375 MiB 11-way = 2048 sets; 3 x 1.375 MiB = 6144 sets (not a power of two)
    m = machine(("L3", {"size": "4.125MiB", "assoc": 11}))
    assert m.caches[0].sets == 6144
    stride = 6144 * 64
    r = run(m, records(np.tile(np.arange(12) * stride, 10)))
    assert r["levels"]["L3"]["misses"] == 120            # 12 lines in one 11-way set
    r = run(m, records(np.tile(np.arange(11) * stride, 10)))
    assert r["levels"]["L3"]["misses"] == 11


def test_inclusive_l2_back_invalidations_show_up_in_l1():
    """L1 holds a hot line; an inclusive L2 with fewer ways evicts it while
    streaming conflicting lines through L2 only (they miss L1 in other
    sets). The back-invalidation makes the next hot access miss in L1."""
    l1 = {"size": 2 * 2 * 64, "assoc": 2}            # 2 sets
    l2 = {"size": 4 * 2 * 64, "assoc": 2}            # 4 sets
    hot = 0
    conflict = [4 * 64 * k + 0 for k in range(1, 3)]   # L2 set 0, L1 set 0 too
    seq = [hot, conflict[0], hot, conflict[1], hot]
    nine = run(machine(("L1", l1), ("L2", dict(l2, clusivity="nine"))), records(seq))
    incl = run(machine(("L1", l1), ("L2", dict(l2, clusivity="inclusive"))), records(seq))
    assert nine["levels"]["L2"]["back_invalidations"] == 0
    assert incl["levels"]["L2"]["back_invalidations"] >= 1
    assert incl["levels"]["L1"]["invalidated"] == incl["levels"]["L2"]["back_invalidations"]
    assert incl["levels"]["L1"]["misses"] > nine["levels"]["L1"]["misses"]


def test_inclusive_back_invalidation_exact():
    # L1: 1 set x 4 ways; L2 inclusive: 1 set x 2 ways. Lines a, b, c.
    m = machine(("L1", {"size": 4 * 64, "assoc": 4}), ("L2", {"size": 2 * 64, "assoc": 2, "clusivity": "inclusive"}))
    a, b, c = 0, 64, 128
    r = run(m, records([a, b, c, a]))
    # c evicts a from L2 (LRU) and so from L1; the 4th access misses both and
    # its fill evicts b from L2, and so from L1: two back-invalidations
    assert r["levels"]["L2"]["back_invalidations"] == 2
    assert r["levels"]["L1"]["invalidated"] == 2
    assert r["levels"]["L1"]["misses"] == 4
    nine = run(machine(("L1", {"size": 4 * 64, "assoc": 4}), ("L2", {"size": 2 * 64, "assoc": 2})),
               records([a, b, c, a]))
    assert nine["levels"]["L1"]["misses"] == 3


def test_exclusive_l2_holds_l1_victims_only():
    m = machine(("L1", {"size": 64, "assoc": 1}), ("L2", {"size": 4 * 64, "assoc": 4, "clusivity": "exclusive"}))
    a, b = 0, 64
    r = run(m, records([a, b, a, b]))
    lv = r["levels"]
    assert lv["L1"]["misses"] == 4
    # a, b cold from memory; then each comes back from L2 (victim hit), moving up
    assert lv["L2"]["misses"] == 2 and lv["L2"]["hits"] == 2
    assert r["memory"]["reads"] == 2
    assert lv["L2"]["victims_received"] == 3


def test_write_back_counts_dirty_evictions():
    m = machine(("L1", {"size": 64, "assoc": 1}))
    r = run(m, records([0, 64, 128, 192], kind=WRITE))
    assert r["levels"]["L1"]["writebacks"] == 3 and r["memory"]["writes"] == 3
    r = run(m, records([0, 64, 128, 192], kind=READ))
    assert r["levels"]["L1"]["writebacks"] == 0 and r["memory"]["writes"] == 0


def test_write_through_no_allocate_forwards_every_store():
    m = machine(("L1", {"size": 64, "assoc": 1, "write_policy": "write_through", "write_allocate": False}))
    r = run(m, records([0, 0, 0, 64], kind=WRITE))
    assert r["levels"]["L1"]["misses"] == 4          # nothing is allocated
    assert r["memory"]["writes"] == 4 and r["memory"]["reads"] == 0


def test_access_spanning_two_lines_counts_two():
    m = machine(("L1", {"size": "32KiB", "assoc": 8}))
    r = run(m, records([60], size=8))
    assert r["levels"]["L1"]["accesses"] == 2 and r["levels"]["L1"]["misses"] == 2


def test_read_modify_write_is_read_then_write():
    m = machine(("L1", {"size": "32KiB", "assoc": 8}))
    r = run(m, records([0], kind=2))
    lv = r["levels"]["L1"]
    assert (lv["reads"], lv["read_misses"], lv["writes"], lv["write_misses"]) == (1, 1, 1, 0)


def test_per_tag_stats():
    m = machine(("L1", {"size": "32KiB", "assoc": 8}))
    recs = records([0, 64, 128, 0], tag=[0, 1, 1, 0])
    from cachesim.trace import Trace, TraceMeta
    r = run_records(m, Trace(recs, TraceMeta(tags=["memmap", "descriptor"])))
    assert r["by_tag"]["memmap"]["L1"] == {"accesses": 2, "misses": 1}
    assert r["by_tag"]["descriptor"]["L1"] == {"accesses": 2, "misses": 2}


def test_chunking_does_not_change_results():
    m = machine(("L1", {"size": "4KiB", "assoc": 4}), ("L2", {"size": "16KiB", "assoc": 4, "clusivity": "inclusive"}))
    rng = np.random.default_rng(3)
    recs = records(rng.integers(0, 1 << 20, 20000), kind=rng.integers(0, 3, 20000))
    whole = run(m, recs)
    from cachesim.engine.replay import EngineState
    from cachesim.api import run_dict
    st = EngineState(m)
    for i in range(0, len(recs), 777):
        st.replay(recs[i:i + 777])
    parts = run_dict(st, Trace(recs, TraceMeta()), "x", None)
    assert parts["levels"] == whole["levels"]
