"""Cross-check against pycachesim 0.3.1 (its own venv, driven by subprocess:
its import package is also called `cachesim`), and regression tests for
pycachesim's known bugs (PEERS.md 3.3) so that we never share them."""
import sys
from pathlib import Path

import numpy as np
import pytest

from cachesim.api import run_records
from cachesim.engine.replay import EngineState
from cachesim.trace import Trace, TraceMeta, WRITE
from conftest import in_ci
from helpers import machine, records

sys.path.insert(0, str(Path(__file__).parent / "peers"))
import pycachesim_venv  # noqa: E402


@pytest.fixture(scope="module")
def pycachesim_python():
    try:
        return pycachesim_venv.ensure_pycachesim()
    except Exception as e:  # noqa: BLE001
        if in_ci():
            pytest.fail(f"pycachesim venv could not be built in CI: {e}")
        pytest.skip(f"pycachesim unavailable: {e}")


def peer(python, tmp_path, levels, recs):
    np.savez(tmp_path / "t.npz", addr=recs["addr"], kind=recs["kind"], size=recs["size"])
    spec = {"levels": levels, "trace": str(tmp_path / "t.npz"), "mode": "mixed"}
    return pycachesim_venv.run_pycachesim_spec(spec, python=python)


def ours(m, recs):
    return run_records(m, Trace(recs, TraceMeta()))


GEOMS = [
    [(64, 8), (1024, 16), (8192, 16)],
    [(8, 2), (32, 4), (128, 4)],
    [(16, 4), (48, 5)],          # 48 sets: not a power of two (modulo indexing)
]


def spec_levels(geom, policy, line=64):
    return [{"name": f"L{i + 1}", "sets": s, "ways": w, "line": line, "policy": policy,
             "write_back": True, "write_allocate": True} for i, (s, w) in enumerate(geom)]


def our_machine(geom, policy, line=64):
    return machine(*[(f"L{i + 1}", {"size": s * w * line, "assoc": w,
                                   "replacement_policy": policy.lower()}) for i, (s, w) in enumerate(geom)],
                   line_size=line)


@pytest.mark.parametrize("policy", ["LRU", "FIFO"])
@pytest.mark.parametrize("gi", range(len(GEOMS)))
def test_loads_match_pycachesim(pycachesim_python, tmp_path, policy, gi):
    geom = GEOMS[gi]
    rng = np.random.default_rng(100 + gi)
    n = 60_000
    span = sum(s * w for s, w in geom) * 64 * 3
    recs = records(rng.integers(0, span // 8, n) * 8, size=8)
    # mix in 64-bit addresses above 4 GiB and unaligned line-straddling loads
    recs["addr"][::7] += np.uint64(1 << 36)
    recs["addr"][::13] += np.uint64(60)
    recs["size"][::13] = 8
    p = peer(pycachesim_python, tmp_path, spec_levels(geom, policy), recs)
    o = ours(our_machine(geom, policy), recs)
    for i, lv in enumerate(p["levels"]):
        mine = o["levels"][lv["name"]]
        assert mine["misses"] == lv["MISS_count"], lv["name"]
        assert mine["hits"] == lv["HIT_count"], lv["name"]
    assert o["memory"]["reads"] == p["memory"]["LOAD_count"]


@pytest.mark.parametrize("policy", ["FIFO"])
def test_loads_and_stores_match_pycachesim(pycachesim_python, tmp_path, policy):
    """Write-back, write-allocate, two levels, FIFO. pycachesim's store hits do
    not update LRU order (backend.c Cache__store only sets the dirty bit), so
    with stores only FIFO, which ignores hits, has the same semantics as ours.
    pycachesim also fetches a line when a write-back misses in L2 (a store
    miss calls load); we allocate the fully written line without a fetch. L2
    state evolves identically, so pycachesim's L2 misses = our misses + our
    write-back misses, and its memory loads include those fetches."""
    geom = [(8, 4), (64, 4)]
    rng = np.random.default_rng(7)
    n = 60_000
    recs = records(rng.integers(0, 4096, n) * 16, kind=rng.integers(0, 2, n), size=8)
    p = peer(pycachesim_python, tmp_path, spec_levels(geom, policy), recs)
    o = ours(our_machine(geom, policy), recs)
    l1, l2 = o["levels"]["L1"], o["levels"]["L2"]
    p1, p2 = p["levels"]
    assert l1["misses"] == p1["MISS_count"]
    assert l1["writebacks"] == p1["EVICT_count"]
    assert l2["misses"] + l2["writebacks_received_misses"] == p2["MISS_count"]
    assert l2["writebacks"] == p2["EVICT_count"]
    assert o["memory"]["writes"] == p["memory"]["STORE_count"]
    assert o["memory"]["reads"] + l2["writebacks_received_misses"] == p["memory"]["LOAD_count"]


def test_pycachesim_store_hits_do_not_update_lru(pycachesim_python, tmp_path):
    """Documents the one semantic difference found: a store hit leaves
    pycachesim's LRU order alone, ours (like gem5's) makes the line MRU."""
    geom = [(1, 2)]
    recs = records([0, 64, 0, 128, 0], kind=[0, 0, 1, 0, 0], size=8)
    p = peer(pycachesim_python, tmp_path, spec_levels(geom, "LRU"), recs)
    o = ours(our_machine(geom, "LRU"), recs)
    assert p["levels"][0]["MISS_count"] == 4          # the store did not protect line 0
    assert o["levels"]["L1"]["misses"] == 3


# ---- pycachesim's known bugs, as regressions we must never share ---------------

def test_addresses_above_4gib_are_not_truncated():
    """pycachesim #15: scalar load() parsed addresses as 32 bits."""
    m = machine(("L1", {"size": 64, "assoc": 1}))
    for hi in (1 << 32, 1 << 33, 0xFFFF888000000000, 0xFFFFEA0000000000):
        r = ours(m, records([0, hi, 0, hi]))
        assert r["levels"]["L1"]["misses"] == 4     # 0 and hi share the only set: all conflict
        r = ours(m, records([hi, hi, hi]))
        assert r["levels"]["L1"]["misses"] == 1


def test_mru_keeps_lines_and_counts_evictions():
    """pycachesim's MRU wrote every new line to the last way and dropped dirty data."""
    m = machine(("L1", {"size": 2 * 64, "assoc": 2, "replacement_policy": "mru"}))
    st = EngineState(m)
    st.replay(records([0, 64, 128, 192], kind=WRITE))
    r = ours(m, records([0, 64, 128, 192], kind=WRITE))
    assert r["levels"]["L1"]["evictions"] == 2
    assert r["levels"]["L1"]["writebacks"] == 2 and r["memory"]["writes"] == 2
    assert sum(st.cached_in("L1", a) for a in (0, 64, 128, 192)) == 2


@pytest.mark.parametrize("ways", [3, 12, 20])
def test_random_policy_uses_every_way(ways):
    """pycachesim's RR used rand() & (ways-1): with 3 ways it never picked way 1."""
    m = machine(("L1", {"size": ways * 64, "assoc": ways, "replacement_policy": "random"}))
    st = EngineState(m)
    st.replay(records(np.arange(3000) * 64))
    assert int((st.tags != -1).sum()) == ways
    # every way gets replaced at some point
    st2 = EngineState(m)
    seen = set()
    for a in np.arange(ways, 400) * 64:
        st2.replay(records([a]))
        seen.add(int(np.nonzero(st2.tags == a // 64)[0][0]))
    assert seen == set(range(ways))


def test_random_policy_is_seeded():
    def resident(seed):
        m = machine(("L1", {"size": 4 * 64, "assoc": 4, "replacement_policy": "random"}), seed=seed)
        st = EngineState(m)
        st.replay(records(np.arange(50) * 64))
        return tuple(st.tags)
    assert resident(1) == resident(1)
    assert resident(1) != resident(2)


def test_contains_address_zero():
    """pycachesim's backend.contains(0) segfaulted."""
    st = EngineState(machine(("L1", {"size": "32KiB", "assoc": 8})))
    assert st.contains(0) is False
    st.replay(records([0]))
    assert st.contains(0) is True and st.contains(64) is False


def test_hits_never_exceed_accesses_and_store_misses_are_not_loads():
    """pycachesim #13 (more hits than loads) and #9 (a write-allocate miss
    counted as a load at the same level)."""
    m = machine(("L1", {"size": "32KiB", "assoc": 8}))
    r = ours(m, records([0, 60, 120], kind=WRITE, size=8))
    lv = r["levels"]["L1"]
    assert lv["reads"] == 0 and lv["writes"] == 4      # 60..67 straddles: two line accesses
    assert lv["hits"] + lv["misses"] == lv["accesses"]
