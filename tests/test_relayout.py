"""Re-laying a struct page trace as memdesc (cachesim.kernel.relayout).

The expected records are derived by hand from KERNEL.md: struct page fields
(1.2: flags 0, lru 8/16, mapping 24, index 32, private 40, _mapcount 48,
_refcount 52, memcg_data 56) and the memdesc folio descriptor (2.3/2.7:
flags 0, lru 8/16, mapping 24, index 32, private 40, _refcount 48,
_mapcount 52, memcg 72; 96-byte slab slots, 42 per 4 KiB page), the word of
PFN p at vmemmap + 8p."""
import json

import numpy as np
import pytest

from cachesim.cli import main
from cachesim.kernel.layouts import LAYOUTS
from cachesim.kernel.relayout import Relayout, offset_map, relayout
from cachesim.trace import READ, RMW, WRITE, Trace, TraceMeta, empty, open_npy, write_trace
from conftest import ROOT

V = 0xFFFFEA0000000000          # vmemmap
D = 0xFFFF898000000000          # descriptor region: direct map + 1 TiB
DATA, MEMMAP, DESC = 0, 1, 2     # tags of the output: the input's "data", then the two added
W = 1 << 31                      # the word load's site bit


def trace(rows, tags=("data",)):
    """rows: (addr, size, kind, dep, site[, op]); op defaults to the row's index"""
    r = empty(len(rows))
    for i, (a, s, k, d, site, *op) in enumerate(rows):
        r[i]["addr"], r[i]["size"], r[i]["kind"], r[i]["dep"], r[i]["site"] = a, s, k, d, site
        r[i]["op"] = op[0] if op else i
    return Trace(r, TraceMeta(tags=list(tags)), "t")


def rows(recs):
    return [(int(r["addr"]), int(r["size"]), int(r["kind"]), int(r["tag"]), int(r["dep"]), int(r["site"]),
             int(r["op"])) for r in recs]


IN = [
    (0x7F0000001000, 8, READ, 0, 1),           # 0 data
    (V + 64 * 5 + 52, 4, RMW, 1, 2),           # 1 pfn 5 _refcount, address from record 0
    (V + 64 * 42 + 16, 8, READ, 0, 3),         # 2 pfn 42 lru.prev
    (V + 64 * 43 + 56, 8, WRITE, 1, 4),        # 3 pfn 43 memcg_data, address from record 2 (lru.prev)
    (0xFFFF888000123000, 8, READ, 3, 5),       # 4 data, address from record 1
    (V + 64 * 7 + 8, 8, READ, 0, 6),           # 5 pfn 7 lru.next / compound_head
    (V - 8, 8, READ, 0, 7),                    # 6 just below vmemmap: not struct page
    (V + (1 << 40), 8, READ, 1, 8),            # 7 just past the 1 TiB vmemmap area
    (V + 64 * 7 + 50, 2, READ, 0, 9),          # 8 pfn 7 inside _mapcount
]
# sequential order: PFN p's descriptor is slot p: page p // 42, offset 96 * (p % 42)
OUT = [
    (0x7F0000001000, 8, READ, DATA, 0, 1, 0),
    (V + 8 * 5, 8, READ, MEMMAP, 1, 2 | W, 1), (D + 96 * 5 + 48, 4, RMW, DESC, 1, 2, 1),
    (V + 8 * 42, 8, READ, MEMMAP, 0, 3 | W, 2), (D + 4096 + 16, 8, READ, DESC, 1, 3, 2),
    (V + 8 * 43, 8, READ, MEMMAP, 1, 4 | W, 3), (D + 4096 + 96 + 72, 8, WRITE, DESC, 1, 4, 3),
    (0xFFFF888000123000, 8, READ, DATA, 5, 5, 4),   # producer (record 1's descriptor access) now 5 back
    (V + 8 * 7, 8, READ, MEMMAP, 0, 6 | W, 5), (D + 96 * 7 + 8, 8, READ, DESC, 1, 6, 5),
    (V - 8, 8, READ, DATA, 0, 7, 6),
    (V + (1 << 40), 8, READ, DATA, 1, 8, 7),
    (V + 8 * 7, 8, READ, MEMMAP, 0, 9 | W, 8), (D + 96 * 7 + 54, 2, READ, DESC, 1, 9, 8),
]


def test_offset_map_follows_kernel_md():
    want = list(range(48)) + list(range(52, 56)) + list(range(48, 52)) + list(range(72, 80))
    assert offset_map(LAYOUTS["memdesc"]).tolist() == want


def test_hand_derived_sequence():
    t = relayout(trace(IN), Relayout("memdesc", order="sequential"))
    got = rows(t.records)
    assert got == OUT
    assert t.meta.tags == ["data", "memmap", "descriptor"]
    assert t.meta.extra["relayout"]["records_rewritten"] == 5 and t.meta.extra["relayout"]["word_loads"] == 5


# one op working on one page keeps the descriptor pointer: one word load until the op or the PFN changes
IN_OPS = [
    (V + 64 * 3 + 8, 8, READ, 0, 1, 0),       # 0 pfn 3 compound_head / lru.next
    (V + 64 * 3 + 52, 4, RMW, 0, 2, 0),        # 1 pfn 3 _refcount
    (0x5000, 8, READ, 1, 3, 0),                # 2 data, address from record 1
    (V + 64 * 3 + 24, 8, READ, 0, 4, 0),       # 3 pfn 3 mapping
    (V + 64 * 4 + 0, 8, READ, 3, 5, 0),        # 4 pfn 4 flags, address from record 1
    (V + 64 * 3 + 32, 8, READ, 0, 6, 0),       # 5 pfn 3 index again, after pfn 4
    (V + 64 * 3 + 0, 8, READ, 0, 7, 1),        # 6 pfn 3 flags, next op
    (0x6000, 8, WRITE, 4, 8, 1),               # 7 data, address from record 3
]
OUT_OPS = [
    (V + 8 * 3, 8, READ, MEMMAP, 0, 1 | W, 0), (D + 288 + 8, 8, READ, DESC, 1, 1, 0),
    (D + 288 + 48, 4, RMW, DESC, 2, 2, 0),                          # the word two records back
    (0x5000, 8, READ, DATA, 1, 3, 0),
    (D + 288 + 24, 8, READ, DESC, 4, 4, 0),
    (V + 8 * 4, 8, READ, MEMMAP, 3, 5 | W, 0), (D + 384 + 0, 8, READ, DESC, 1, 5, 0),
    (V + 8 * 3, 8, READ, MEMMAP, 0, 6 | W, 0), (D + 288 + 32, 8, READ, DESC, 1, 6, 0),
    (V + 8 * 3, 8, READ, MEMMAP, 0, 7 | W, 1), (D + 288 + 0, 8, READ, DESC, 1, 7, 1),
    (0x6000, 8, WRITE, DATA, 7, 8, 1),                               # record 3's access is now 7 back
]


def test_word_loaded_once_per_op_and_page():
    t = relayout(trace(IN_OPS), Relayout("memdesc", order="sequential"))
    assert rows(t.records) == OUT_OPS
    assert t.meta.extra["relayout"]["records_rewritten"] == 6 and t.meta.extra["relayout"]["word_loads"] == 4
    src = trace(IN_OPS)
    for size in (1, 3):
        chunked = Trace(lambda s=size: (src.source[i:i + s] for i in range(0, len(IN_OPS), s)), src.meta, "t")
        assert rows(relayout(chunked, Relayout("memdesc", order="sequential")).records) == OUT_OPS


def test_chunks_give_the_same_records():
    """deps are recounted across chunk boundaries; every chunk size gives the same trace."""
    whole = relayout(trace(IN), Relayout("memdesc", order="sequential")).records
    src = trace(IN)
    for size in (1, 2, 3, 4):
        chunked = Trace(lambda s=size: (src.source[i:i + s] for i in range(0, len(IN), s)), src.meta, "t")
        assert rows(relayout(chunked, Relayout("memdesc", order="sequential")).records) == rows(whole)


def test_existing_tags_are_reused():
    t = relayout(trace(IN[:2], tags=("memmap", "data")), Relayout("memdesc", order="sequential"))
    assert t.meta.tags == ["memmap", "data", "descriptor"]
    assert [int(r["tag"]) for r in t.records] == [0, 0, 2]


def test_random_order_is_a_seeded_permutation_of_slots():
    pfns = np.arange(5000, dtype=np.uint64)
    r = empty(len(pfns))
    r["addr"] = np.uint64(V) + np.uint64(64) * pfns + np.uint64(52)

    def desc(seed, memory=16 << 30):
        out = relayout(Trace(r, TraceMeta(), "t"), Relayout("memdesc", seed=seed, memory=memory)).records
        assert (out["addr"][0::2] == np.uint64(V) + np.uint64(8) * pfns).all()     # words do not move
        return out["addr"][1::2].astype(np.uint64) - np.uint64(D)

    a, b, c = desc(1), desc(1), desc(2)
    assert (a == b).all() and (a != c).mean() > 0.99
    assert len(np.unique(a)) == len(pfns)
    within = a % np.uint64(4096)
    assert ((within - np.uint64(48)) % np.uint64(96) == 0).all() and (within < 42 * 96).all()
    # aged: neighbouring PFNs' descriptors are not neighbours, and they spread over the machine's RAM
    assert np.mean(np.abs(np.diff(a.astype(np.int64))) == 96) < 0.01
    assert a.max() < 16 << 30 and a.max() > 8 << 30
    small = desc(1, memory=64 << 20)                  # 16384 PFNs: 5000 of them fill 120 slab pages or more
    assert small.max() < 64 << 20 and len(np.unique(small // np.uint64(4096))) >= 5000 // 42


@pytest.mark.parametrize("n", [1, 2, 5, 1000, 4097, 42 * 1000 + 1])
def test_permute_is_a_bijection(n):
    from cachesim.kernel.relayout import permute
    keys = np.array([11, 22, 33, 44], np.uint64)
    got = [permute(x, n, keys) for x in range(n)]
    assert sorted(got) == list(range(n))
    assert n < 1000 or got != list(range(n))


def test_structpage_only_retags():
    t = relayout(trace(IN), Relayout("structpage"))
    got = rows(t.records)
    assert [g[0] for g in got] == [a for a, *_ in IN]
    assert [g[4] for g in got] == [d for _, _, _, d, _ in IN]
    assert [g[3] for g in got] == [DATA, MEMMAP, MEMMAP, MEMMAP, DATA, MEMMAP, DATA, DATA, MEMMAP]


def test_randomized_vmemmap_base():
    base = 0xFFFFD9C000000000
    t = relayout(trace([(base + 64 * 3 + 24, 8, READ, 0, 1), (V + 64 * 3 + 24, 8, READ, 0, 2)]),
                 Relayout("memdesc", vmemmap=base, order="sequential"))
    assert rows(t.records) == [(base + 24, 8, READ, MEMMAP, 0, 1 | W, 0), (D + 96 * 3 + 24, 8, READ, DESC, 1, 1, 0),
                               (V + 64 * 3 + 24, 8, READ, DATA, 0, 2, 1)]


def cli(capsys, *args):
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:          # argparse's usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def npy(tmp_path):
    p = tmp_path / "sp.npy"
    write_trace(p, trace(IN).records, TraceMeta(tags=["data"]))
    return p


def test_convert_relayout(tmp_path, capsys, npy):
    out = tmp_path / "md.npy"
    rc, stdout, err = cli(capsys, "convert", npy, "-o", out, "--relayout", "memdesc",
                          "--descriptor-order", "sequential")
    assert rc == 0, err
    assert "14 records (5 struct page accesses re-laid as memdesc)" in stdout
    t = open_npy(out)
    assert rows(t.records) == OUT
    meta = json.loads((tmp_path / "md.meta.json").read_text())
    assert meta["tags"] == ["data", "memmap", "descriptor"]
    assert meta["extra"]["relayout"]["layout"] == "memdesc" and meta["extra"]["relayout"]["records_rewritten"] == 5


def test_run_gives_both_columns(tmp_path, capsys, npy):
    res = tmp_path / "r.json"
    rc, stdout, err = cli(capsys, "run", ROOT / "configs" / "cachegrind.toml", "--trace", npy,
                          "--layout", "structpage,memdesc", "--descriptor-order", "sequential", "--json", res)
    assert rc == 0, err
    runs = json.loads(res.read_text())["runs"]
    assert [r["layout"] for r in runs] == ["structpage", "memdesc"]
    sp, md = runs
    assert sp["accesses"] == len(IN) and md["accesses"] == len(OUT)
    # D1 sees every data access: each re-laid record is one word read plus the original access
    assert md["levels"]["D1"]["accesses"] == sp["levels"]["D1"]["accesses"] + 5
    assert md["by_tag"]["descriptor"]["D1"]["accesses"] == sp["by_tag"]["memmap"]["D1"]["accesses"] == 5
    assert md["relayout"]["records_rewritten"] == 5 and sp["relayout"]["layout"] == "structpage"
    assert "vs structpage" in stdout


@pytest.mark.parametrize("args,needle", [
    (["--layout", "bogus"], "unknown layout 'bogus'"),
    (["--layout", "memdesc", "--vmemmap", "0xzz"], "is not an address"),
    (["--layout", "memdesc", "--vmemmap", "0x1234"], "page-aligned"),
    (["--layout", "memdesc", "--memory", "12 parsecs"], "--memory"),
    (["--layout", "memdesc", "--memory", "1000"], "whole 4 KiB pages"),
])
def test_bad_relayout_arguments(tmp_path, capsys, npy, args, needle):
    rc, _, err = cli(capsys, "run", ROOT / "configs" / "cachegrind.toml", "--trace", npy, *args)
    assert rc == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_layout_needs_a_trace(capsys):
    rc, _, err = cli(capsys, "run", ROOT / "configs" / "cachegrind.toml", "--layout", "memdesc")
    assert rc == 2 and "needs --trace" in err
