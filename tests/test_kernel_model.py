"""The kernel memory model on full-size states: analytic properties of the
workload traces, memory overhead accounting, and `cachesim trace` for every
workload x layout x shipped scenario."""
import numpy as np
import pytest

from cachesim.cli import main
from cachesim.kernel import generate as G
from cachesim.kernel.layouts import LAYOUTS
from cachesim.kernel.memory import ANON, FILE, FREE
from cachesim.kernel.overhead import break_even_pages, overhead, per_pfn_bytes
from cachesim.kernel.scenario import load_scenario, scenario_from_dict
from cachesim.kernel.workloads import TAGS, WORKLOADS
from cachesim.trace import open_npy
from conftest import ROOT

V = 0xFFFFEA0000000000
MEMMAP, DESC = TAGS.index("memmap"), TAGS.index("descriptor")
SMALL = scenario_from_dict({"scenario": {"memory": "1GiB", "seed": 5}})


def trace(workload, layout, sc=SMALL, ops=20000):
    return np.concatenate(list(G.chunks(workload, layout, sc, ops)))


def lines_by_op(t, tags, exclude_sites=()):
    keep = np.isin(t["tag"], tags) & ~np.isin(t["site"], exclude_sites)
    sub = t[keep]
    first = sub["addr"] >> np.uint64(6)
    last = (sub["addr"] + sub["size"].astype(np.uint64) - np.uint64(1)) >> np.uint64(6)
    out = {}
    for op, a, b in zip(sub["op"], first, last):
        s = out.setdefault(int(op), set())
        s.add(int(a))
        s.add(int(b))
    return out


def test_structpage_compaction_touches_one_memmap_line_per_pfn():
    t = trace("compaction_migrate", "structpage")
    mem = G.prepared(SMALL).mem
    # neighbour list writes (sites 18, 19) touch other folios' lines by design
    per_op = lines_by_op(t, [MEMMAP], exclude_sites=(18, 19))
    visited = {int(op): int((int(a) - V) // 64) for op, a, s in zip(t["op"], t["addr"], t["site"])
               if s == 1}
    for op, lines in per_op.items():
        p = visited[op]
        large = mem.kind[p] in (ANON, FILE) and mem.order[p] > 0
        assert len(lines) == (2 if large else 1), (op, p)
        assert min(lines) == (V + 64 * p) >> 6
    t = trace("compaction_free", "structpage")
    per_op = lines_by_op(t, [MEMMAP], exclude_sites=(27, 31))
    assert all(len(v) in (1, 2) for v in per_op.values())
    assert np.mean([len(v) for v in per_op.values()]) < 1.1


def test_memdesc_compaction_one_memmap_line_per_8_pfns_plus_one_descriptor_per_folio():
    t = trace("compaction_migrate", "memdesc")
    mem = G.prepared(SMALL).mem
    words = t[(t["tag"] == MEMMAP) & (t["site"] == 1)]
    pfns = np.unique(((words["addr"] - np.uint64(V)) // np.uint64(8)).astype(np.int64))
    lines = np.unique(((words["addr"] - np.uint64(V)) >> np.uint64(6)).astype(np.int64))
    # eight words per line: the lines read are the distinct pfn // 8 of the PFNs visited
    assert set(lines) == set(pfns // 8)
    runs = 1 + int((np.diff(pfns) > 1).sum())          # a run of visited PFNs may start mid-line
    assert len(lines) <= len(pfns) / 8 + runs
    sp = trace("compaction_migrate", "structpage")
    sp_lines = np.unique((sp["addr"][(sp["tag"] == MEMMAP) & (sp["site"] == 1)] - np.uint64(V)) >> np.uint64(6))
    assert len(sp_lines) == len(pfns)                 # struct page: one line per PFN visited
    # each folio visited reads exactly one descriptor object (neighbour writes excluded)
    own = t[(t["tag"] == DESC) & ~np.isin(t["site"], (18, 19))]
    for op in np.unique(own["op"])[:2000]:
        objs = set(int(a) // 16 for a in own["addr"][own["op"] == op])
        base = min(int(a) for a in own["addr"][own["op"] == op])
        assert all(base <= int(a) < base + 128 for a in own["addr"][own["op"] == op])
    # non-folio PFNs never dereference a descriptor
    nonfolio_ops = [int(op) for op, a, s in zip(words["op"], words["addr"], words["site"])
                    if mem.kind[(int(a) - V) // 8] not in (ANON, FILE)]
    assert not np.isin(own["op"], nonfolio_ops).any()


@pytest.mark.parametrize("workload", ["lru_walk", "pagecache_lookup"])
@pytest.mark.parametrize("layout", ["memdesc", "page16", "page32"])
def test_memdesc_lru_walk_and_lookup_never_touch_the_memmap(workload, layout):
    t = trace(workload, layout)
    assert not (t["tag"] == MEMMAP).any()
    vmemmap_end = V + SMALL.pfns * 64
    assert not ((t["addr"] >= np.uint64(V)) & (t["addr"] < np.uint64(vmemmap_end))).any()


def chain_depth(t, tags):
    """Longest chain of dependent records per op, counting only `tags`."""
    depth = np.zeros(len(t), np.int64)
    dep = t["dep"].astype(np.int64)
    for i in range(len(t)):
        if dep[i] > 0:
            depth[i] = depth[i - dep[i]] + 1
    res = {}
    keep = np.isin(t["tag"], tags)
    for op, d in zip(t["op"][keep], depth[keep]):
        res[int(op)] = max(res.get(int(op), 0), int(d))
    return res


@pytest.mark.parametrize("layout,want", [("structpage", {0}), ("memdesc", {0, 1})])
def test_dependency_depth_compaction(layout, want):
    """KERNEL.md 3.e: migrate scan: 0 dependent loads in A; 1 (the word -> D) in B."""
    t = trace("compaction_migrate", layout, ops=5000)
    own = t[~np.isin(t["site"], (18, 19))]
    d = chain_depth(own, [MEMMAP, DESC])
    assert set(d.values()) <= want
    if layout == "memdesc":
        assert 1 in set(d.values())


@pytest.mark.parametrize("layout", ["structpage", "memdesc"])
def test_dependency_depth_pfn_to_folio(layout):
    """KERNEL.md 3.e: order-0 page: 0 deps in A, 1 in B; tail pages: 1 in both."""
    t = trace("pfn_to_folio", layout, ops=5000)
    d = chain_depth(t, [MEMMAP, DESC])
    assert set(d.values()) == ({0, 1} if layout == "structpage" else {1})


@pytest.mark.parametrize("layout", ["structpage", "memdesc"])
def test_dependency_depth_pagecache_is_levels_plus_one(layout):
    sc = SMALL
    t = trace("pagecache_lookup", layout, ops=3000)
    pl = G.placement(sc, layout)
    d = chain_depth(t, [TAGS.index("xa_node"), MEMMAP, DESC])
    xa = TAGS.index("xa_node")
    nodes_per_op = {int(op): n for op, n in zip(*np.unique(t["op"][(t["tag"] == xa) & (t["site"] == 82)],
                                                          return_counts=True))}
    sib = set(int(o) for o in t["op"][t["site"] == 83])
    for op, depth in d.items():
        levels = nodes_per_op.get(op, 0)
        # d nodes + the folio: d+1 dependent loads (KERNEL.md 3.e); a sibling
        # entry of a large folio adds one more load, in the same node
        assert depth == levels + 1 + (op in sib), (op, depth, levels)
    assert max(nodes_per_op.values()) >= 2


def test_lru_walk_depth_one_per_folio_both_layouts():
    for layout in ("structpage", "memdesc"):
        t = trace("lru_walk", layout, ops=2000)
        l1 = t[t["site"] == 41]
        assert (l1["dep"] > 0).all()      # every folio's address comes from the previous lru.prev


def test_overhead_reproduces_memmap_shares_and_break_even():
    mem = G.prepared(SMALL).mem
    a = overhead(mem, LAYOUTS["structpage"])
    b = overhead(mem, LAYOUTS["memdesc"])
    assert a["memmap_pct"] == pytest.approx(1.5625)
    assert b["memmap_pct"] == pytest.approx(0.1953125)
    assert overhead(mem, LAYOUTS["page32"])["memmap_pct"] == pytest.approx(0.78125)
    assert overhead(mem, LAYOUTS["page16"])["memmap_pct"] == pytest.approx(0.390625)
    assert break_even_pages(80) == pytest.approx(1.43, abs=0.01)
    assert break_even_pages(96) == pytest.approx(1.71, abs=0.01)
    assert per_pfn_bytes(80, 4) == 28          # order-2 folios: 8 + 20 B per PFN
    assert per_pfn_bytes(128, 512) == pytest.approx(8.25)
    # all-order-0 memory costs more with memdesc than with struct page
    o0 = scenario_from_dict({"scenario": {"memory": "1GiB"}, "anon": {"orders": {"0": 1}},
                             "file": {"orders": {"0": 1}}, "free": {"orders": {"0": 1}}})
    m0 = G.prepared(o0).mem
    assert overhead(m0, LAYOUTS["memdesc"])["total_bytes"] > overhead(m0, LAYOUTS["structpage"])["total_bytes"]


def test_scenario_shares_follow_the_file():
    mem = G.prepared(SMALL).mem
    c = mem.counts()
    n = mem.pfns
    assert c["slab"] == pytest.approx(0.05 * n, rel=0.01)
    assert c["free"] / n == pytest.approx(0.05, abs=0.01)
    fo = mem.folio_order
    anon_pages = (1 << fo[mem.folio_kind == ANON].astype(np.int64)).sum()
    file_pages = (1 << fo[mem.folio_kind == FILE].astype(np.int64)).sum()
    assert anon_pages / (anon_pages + file_pages) == pytest.approx(0.4, abs=0.02)
    assert ((mem.kind == FREE).sum() + anon_pages + file_pages + c["slab"] + c["pagetable"]
            + c["reserved"]) == n


def test_seeded_and_deterministic():
    a = trace("lru_walk", "memdesc", ops=500)
    G._MEM.clear()
    G._PLACE.clear()
    b = trace("lru_walk", "memdesc", ops=500)
    assert (a == b).all()


@pytest.mark.parametrize("scenario", sorted(p.name for p in (ROOT / "workloads").glob("*.toml")))
def test_cachesim_trace_every_workload_layout_scenario(tmp_path, capsys, scenario):
    path = ROOT / "workloads" / scenario
    load_scenario(path)
    for w in WORKLOADS:
        for layout in LAYOUTS:
            out = tmp_path / f"{w}-{layout}.npy"
            rc = main(["trace", w, "--layout", layout, "--scenario", str(path), "--ops", "2000", "-o", str(out)])
            assert rc == 0
            t = open_npy(out)
            assert len(t) > 0
            extra = t.meta.extra
            assert (extra["workload"], extra["layout"], extra["ops"]) == (w, layout, 2000)
            assert extra["scenario_file"] == str(path) and "seed" in extra
    capsys.readouterr()


def test_prepared_is_built_once_under_threads(monkeypatch):
    """Sweep points in threads (a Dask worker) share one memory state: the
    cache in generate.py is locked, so concurrent callers build it once."""
    import threading
    builds = []
    real = G.build

    def counting_build(sc):
        builds.append(1)
        return real(sc)

    monkeypatch.setattr(G, "build", counting_build)
    monkeypatch.setattr(G, "_MEM", {})
    monkeypatch.setattr(G, "_PLACE", {})
    sc = SMALL
    got = []
    ts = [threading.Thread(target=lambda: got.append(G.placement(sc, "memdesc"))) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(builds) == 1
    assert all(p is got[0] for p in got)
