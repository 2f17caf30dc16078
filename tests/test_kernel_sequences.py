"""Exact record sequences of each workload on tiny hand-built memory states,
written from the kernel code paths (KERNEL.md section 3), not read back."""
import numpy as np
import pytest

from cachesim.kernel import generate as G
from cachesim.kernel.layouts import LAYOUTS
from cachesim.kernel.memory import ANON, FILE, SLAB, place
from cachesim.trace import PREFETCHW, READ, RMW, WRITE
from kernel_states import PO, V, tiny

MEMMAP, DESC, XA, MAPPING, LRUVEC, DATA, PT, ZONE, MEMCG, PBF, LINKS, VMA = range(12)
R, W, M = READ, WRITE, RMW
S64 = 1 << 64


def recs(workload, layout, mem, ops):
    pr = G.prepare(mem)
    pl = place(mem, LAYOUTS[layout], mem.scenario)
    out = np.concatenate(list(G.generate(workload, layout, pr, pl, ops)))
    return out, pl


def rows(out, skip_tags=()):
    return [(int(r["addr"]), int(r["size"]), int(r["kind"]), int(r["tag"]), int(r["dep"]))
            for r in out if int(r["tag"]) not in skip_tags]


def P(pfn, off, entry=64):
    return (V + pfn * entry + off) % S64


STATE = dict(
    blocks=[(0, 0, 1), (2, SLAB, 0), (3, ANON, 0), (4, FILE, 2), (8, ANON, 0)],
    lru={"inactive_anon": [8, 3], "inactive_file": [4]},
    files=[[(4, 0)]],
)


def test_migrate_structpage():
    mem = tiny(**STATE)
    out, pl = recs("compaction_migrate", "structpage", mem, ops=4)
    memcg = [(r[0], r[3]) for r in rows(out) if r[3] in (MEMCG, LRUVEC)]
    assert all(t in (MEMCG, LRUVEC) for _, t in memcg)
    got = rows(out, skip_tags=(PBF, MEMCG, LRUVEC))
    lru_anon_head_prev = None  # written through the lruvec tag (skipped here)
    want = [
        # pfn 0: free order 1 -> PageBuddy, buddy_order_unsafe, skip 2
        (P(0, 8), 8, R, MEMMAP, 0), (P(0, 48), 4, R, MEMMAP, 0), (P(0, 40), 8, R, MEMMAP, 0),
        # pfn 2: slab -> PageCompound no, PageLRU no, fail
        (P(2, 8), 8, R, MEMMAP, 0), (P(2, 48), 4, R, MEMMAP, 0), (P(2, 0), 8, R, MEMMAP, 0),
        (P(2, 0), 8, R, MEMMAP, 0),
        # pfn 3: order-0 anon folio, isolated
        (P(3, 8), 8, R, MEMMAP, 0), (P(3, 48), 4, R, MEMMAP, 0), (P(3, 0), 8, R, MEMMAP, 0),
        (P(3, 0), 8, R, MEMMAP, 0), (P(3, 52), 4, M, MEMMAP, 0), (P(3, 24), 8, R, MEMMAP, 0),
        (P(3, 48), 4, R, MEMMAP, 0), (P(3, 0), 8, R, MEMMAP, 0), (P(3, 0), 8, M, MEMMAP, 0),
        (P(3, 56), 8, R, MEMMAP, 0),
        (P(3, 8), 8, R, MEMMAP, 0), (P(3, 16), 8, R, MEMMAP, 0),
        # list_del: next is the list head (lruvec, skipped), prev->next = next: pfn 8's lru.next
        (P(8, 8), 8, W, MEMMAP, 2),
        (P(3, 8), 8, W, MEMMAP, 0), (P(3, 16), 8, W, MEMMAP, 0),
        # pfn 4: order-2 file folio: compound_order on page[1], then isolated
        (P(4, 8), 8, R, MEMMAP, 0), (P(4, 48), 4, R, MEMMAP, 0), (P(4, 0), 8, R, MEMMAP, 0),
        (P(4, 64), 8, R, MEMMAP, 0),
        (P(4, 0), 8, R, MEMMAP, 0), (P(4, 52), 4, M, MEMMAP, 0), (P(4, 24), 8, R, MEMMAP, 0),
        (P(4, 80), 4, R, MEMMAP, 0), (P(4, 0), 8, R, MEMMAP, 0), (P(4, 0), 8, M, MEMMAP, 0),
        (P(4, 56), 8, R, MEMMAP, 0), (P(4, 120), 4, R, MEMMAP, 0),
        (P(4, 8), 8, R, MEMMAP, 0), (P(4, 16), 8, R, MEMMAP, 0),
        (P(4, 8), 8, W, MEMMAP, 0), (P(4, 16), 8, W, MEMMAP, 0), (P(3, 16), 8, W, MEMMAP, 0),
    ]
    assert got == want
    # the memcg chain: memcg_data -> nodeinfo -> lruvec->pgdat, each dependent on the last
    chain = [r for r in rows(out) if r[3] in (MEMCG,)]
    assert all(r[4] == 1 for r in chain)


@pytest.mark.parametrize("layout", ["memdesc", "page32", "page16"])
def test_migrate_indirect_layouts(layout):
    mem = tiny(**STATE)
    out, pl = recs("compaction_migrate", layout, mem, ops=4)
    fid = {int(p): i for i, p in enumerate(mem.folios)}
    A, F, B = (int(pl.desc[fid[p]]) % S64 for p in (3, 4, 8))
    got = rows(out, skip_tags=(PBF, MEMCG, LRUVEC))
    L = LAYOUTS[layout]
    w = lambda p: (V + L.entry * p + L.word) % S64  # noqa: E731
    # page32 keeps the buddy order in private@16, outside the word
    order_read = [] if L.buddy_order_in_word else [((V + 16) % S64, 8, R, MEMMAP, 0)]
    want = [
        (w(0), 8, R, MEMMAP, 0), *order_read,            # free: order from the word (or private), no deref
        (w(2), 8, R, MEMMAP, 0),                         # slab: the tag says not LRU, no deref
        (w(3), 8, R, MEMMAP, 0),                         # folio: the word points at D
        (A + 0, 8, R, DESC, 1), (A + 60, 1, R, DESC, 2),  # flags, order (dependent on the word)
        (A + 0, 8, R, DESC, 3), (A + 48, 4, M, DESC, 4), (w(3), 8, R, MEMMAP, 0),  # get; RCU recheck
        (A + 24, 8, R, DESC, 6), (A + 52, 4, R, DESC, 7), (A + 0, 8, R, DESC, 8), (A + 0, 8, M, DESC, 9),
        (A + 72, 8, R, DESC, 10),
        (A + 8, 8, R, DESC, 14), (A + 16, 8, R, DESC, 15),   # after memcg, lruvec, lock
        (B + 8, 8, W, DESC, 2),
        (A + 8, 8, W, DESC, 0), (A + 16, 8, W, DESC, 0),
        (w(4), 8, R, MEMMAP, 0),
        (F + 0, 8, R, DESC, 1), (F + 60, 1, R, DESC, 2), (F + 64, 8, R, DESC, 3),   # large: pfn too
        (F + 0, 8, R, DESC, 4), (F + 48, 4, M, DESC, 5), (w(4), 8, R, MEMMAP, 0),
        (F + 24, 8, R, DESC, 7), (F + 80, 4, R, DESC, 8), (F + 0, 8, R, DESC, 9), (F + 0, 8, M, DESC, 10),
        (F + 72, 8, R, DESC, 11), (F + 60, 4, R, DESC, 14),
        (F + 8, 8, R, DESC, 15), (F + 16, 8, R, DESC, 16),
        (F + 8, 8, W, DESC, 0), (F + 16, 8, W, DESC, 0), (A + 16, 8, W, DESC, 0),
    ]
    assert got == want


@pytest.mark.parametrize("layout", ["page32", "page16"])
def test_free_scanner_intermediate_layouts(layout):
    """One memmap entry per PFN visited, no descriptor for order-0 folios,
    the buddy links inside the entry (both designs keep them there)."""
    mem = tiny(blocks=[(0, ANON, 0), (2, FILE, 1)], lru={"inactive_anon": [0], "inactive_file": [2]},
               files=[[(2, 0)]])
    out, pl = recs("compaction_free", layout, mem, ops=4)
    L = LAYOUTS[layout]
    r = rows(out, skip_tags=(PBF, ZONE))
    assert r[0] == ((V + L.word) % S64, 8, R, MEMMAP, 0)                  # pfn 0: folio, no deref
    assert r[1] == ((V + L.entry + L.word) % S64, 8, R, MEMMAP, 0)        # pfn 1: free
    assert not any(x[3] == LINKS for x in r)                               # links live in the entry
    desc = [x for x in r if x[3] == DESC]
    fid = {int(p): i for i, p in enumerate(mem.folios)}
    assert desc == [(int(pl.desc[fid[2]]) % S64 + 60, 1, R, DESC, 1)]     # only the compound head's order


def test_free_scanner_structpage_and_memdesc():
    mem = tiny(blocks=[(0, ANON, 0), (2, FILE, 1)], lru={"inactive_anon": [0], "inactive_file": [2]},
               files=[[(2, 0)]])
    # pageblock 0 holds: 0 anon, 1 free o0, 2-3 file o1, 4-7 free o2, ...; the scan starts there
    out, _ = recs("compaction_free", "structpage", mem, ops=4)
    got = rows(out, skip_tags=(PBF, ZONE, LINKS))
    assert got[:3] == [(P(0, 0), 8, R, MEMMAP, 0), (P(0, 8), 8, R, MEMMAP, 0), (P(0, 48), 4, R, MEMMAP, 0)]
    # pfn 1: free order 0: PageBuddy, lock+recheck, order, unlink, clear, list_add
    assert got[3:6] == [(P(1, 0), 8, R, MEMMAP, 0), (P(1, 8), 8, R, MEMMAP, 0), (P(1, 48), 4, R, MEMMAP, 0)]
    assert (P(1, 40), 8, R, MEMMAP, 0) in got and (P(1, 48), 4, W, MEMMAP, 0) in got
    # pfn 2: compound head: page[1]'s flags give the order, skip 2
    assert (P(2, 64), 8, R, MEMMAP, 0) in got
    out, pl = recs("compaction_free", "memdesc", mem, ops=4)
    got = rows(out, skip_tags=(PBF, ZONE, LINKS))
    w = lambda p: (V + 8 * p) % S64  # noqa: E731
    fid = {int(p): i for i, p in enumerate(mem.folios)}
    D = int(pl.desc[fid[2]]) % S64
    assert got == [(w(0), 8, R, MEMMAP, 0),                                   # order-0 folio: no deref
                   (w(1), 8, R, MEMMAP, 0), (w(1), 8, R, MEMMAP, 0), (w(1), 8, W, MEMMAP, 0),  # free
                   (w(2), 8, R, MEMMAP, 0), (D + 60, 1, R, DESC, 1),           # compound head needs D
                   (w(4), 8, R, MEMMAP, 0), (w(4), 8, R, MEMMAP, 0), (w(4), 8, W, MEMMAP, 0)]


def test_lru_walk_chases_prev_pointers():
    mem = tiny(**STATE)
    for layout in ("structpage", "memdesc", "page32", "page16"):
        out, pl = recs("lru_walk", layout, mem, ops=3)
        fid = {int(p): i for i, p in enumerate(mem.folios)}
        base = {p: int(pl.desc[fid[p]]) % S64 for p in (3, 4, 8)}
        tag = MEMMAP if layout == "structpage" else DESC
        r = rows(out)
        # first batch: inactive_file (F only), tail first
        assert r[0] == ((PO + 0x2100000 + 72 + 16 * 2 + 8) % S64, 8, R, LRUVEC, 0)   # L0 head.prev
        assert r[1] == (base[4] + 16, 8, R, tag, 1)                               # L1 lru.prev
        assert r[2][2] == PREFETCHW and r[2][4] == 1                              # prefetchw(prev)
        assert r[3] == (base[4] + 0, 8, R, tag, 3)                                # flags, via L0's value
        if layout != "structpage":
            assert not any(x[3] == MEMMAP for x in r)
            assert not any(V <= x[0] < V + (1 << 40) for x in r)
        # second batch (inactive_anon): A (tail) then B, each found through the last lru.prev
        l1 = [i for i, x in enumerate(r) if x[0] in (base[3] + 16, base[8] + 16) and x[2] == R and x[3] == tag]
        a_l1, b_l1 = l1[0], l1[1]
        assert r[a_l1][0] == base[3] + 16 and r[b_l1][0] == base[8] + 16
        assert r[b_l1][4] == b_l1 - a_l1                       # B's address came from A's lru.prev


def test_pagecache_lookup_walks_xarray():
    # one file of 3 order-0 pages at indices 0..2: depth 1 (a single node)
    mem = tiny(blocks=[(3, FILE, 0), (5, FILE, 0), (6, FILE, 0)], lru={"inactive_file": [6, 5, 3]},
               files=[[(3, 0), (5, 1), (6, 2)]])
    for layout in ("structpage", "memdesc", "page32", "page16"):
        out, pl = recs("pagecache_lookup", layout, mem, ops=1)
        r = rows(out)
        node = int(pl.xa_nodes[pl.xa_first[0, 0]]) % S64
        mapping = int(pl.mapping[0]) % S64
        assert r[0] == (mapping + 16, 8, R, MAPPING, 0)                 # xa_head
        assert r[1] == (node + 0, 1, R, XA, 1)                          # node->shift
        idx = (r[2][0] - node - 40) // 8
        assert r[2] == (node + 40 + 8 * idx, 8, R, XA, 2)               # slot
        pfn = [3, 5, 6][idx]
        fid = {int(p): i for i, p in enumerate(mem.folios)}
        F = int(pl.desc[fid[pfn]]) % S64
        tag = MEMMAP if layout == "structpage" else DESC
        ref = 52 if layout == "structpage" else 48
        assert r[3] == (F + ref, 4, M, tag, 1)                          # folio_try_get
        assert r[4] == (node + 40 + 8 * idx, 8, R, XA, 0)               # xas_reload
        assert r[5] == (F + 0, 8, M, tag, 3) and r[6] == (F + 24, 8, R, tag, 4) and r[7] == (F + 32, 8, R, tag, 5)
        data = (PO + pfn * 4096) % S64
        if layout == "structpage":
            assert r[8] == (data, 64, R, DATA, 6) and len(r) == 9       # page_address: no load
        else:
            assert r[8] == (F + 64, 8, R, DESC, 6) and r[9] == (data, 64, R, DATA, 1) and len(r) == 10
        assert not (layout != "structpage" and any(x[3] == MEMMAP for x in r))


@pytest.mark.parametrize("layout", ["structpage", "memdesc", "page32", "page16"])
def test_pfn_to_folio(layout):
    mem = tiny(blocks=[(4, ANON, 2)], lru={"inactive_anon": [4]})
    out, pl = recs("pfn_to_folio", layout, mem, ops=50)
    entry = LAYOUTS[layout].entry
    H = int(pl.desc[0]) % S64
    for op in range(50):
        r = rows(out[out["op"] == op])
        pfn = (r[0][0] - V) // entry
        assert 4 <= pfn < 8
        if layout == "structpage":
            tail = pfn != 4
            assert r == [(P(pfn, 8), 8, R, MEMMAP, 0), (H, 8, R, MEMMAP, 1 if tail else 0),
                         (H + 52, 4, M, MEMMAP, 2 if tail else 0)]
        else:
            word = LAYOUTS[layout].word
            assert r == [((V + pfn * entry + word) % S64, 8, R, MEMMAP, 0), (H, 8, R, DESC, 1),
                         (H + 48, 4, M, DESC, 2)]


@pytest.mark.parametrize("layout", ["structpage", "memdesc"])
def test_lru_walk_exact_single_folio(layout):
    """isolate_lru_folios() on a one-folio inactive file list, then the
    shrink_folio_list() checks and folio_referenced()'s PTE walk."""
    mem = tiny(blocks=[(3, FILE, 0)], lru={"inactive_file": [3]}, files=[[(3, 0)]])
    out, pl = recs("lru_walk", layout, mem, ops=1)
    F = int(pl.desc[0]) % S64
    mapping = int(pl.mapping[0]) % S64
    head = (PO + 0x2100000 + 72 + 16 * 2) % S64          # lruvec->lists[LRU_INACTIVE_FILE]
    sp = layout == "structpage"
    tag = MEMMAP if sp else DESC
    ref, mc = (52, 48) if sp else (48, 52)
    got = rows(out, skip_tags=(PT, VMA))
    want = [
        (head + 8, 8, R, LRUVEC, 0),                 # L0 lru_to_folio(head->prev)
        (F + 16, 8, R, tag, 1),                      # L1 folio->lru.prev: the next folio to visit
        (F + 0, 64, PREFETCHW, tag, 1),              # prefetchw_prev_lru_folio (the list wraps to F)
        (F + 0, 8, R, tag, 3),                       # L2 flags: PG_lru, zone, head
        (F + ref, 4, M, tag, 4),                     # L4 folio_try_get
        (F + 0, 8, M, tag, 5),                       # L5 folio_test_clear_lru
        (F + 8, 8, R, tag, 6),                       # L6 list_move: entry->next
        (head + 8, 8, W, LRUVEC, 0),                 #    next(=head)->prev = prev
        (F + 8, 8, W, tag, 7),                       #    prev(=F itself here)->next = next
        (F + 8, 8, W, tag, 9), (F + 16, 8, W, tag, 10),  # list_add; F's address came from L0 (record 0)
        # shrink_folio_list()
        (F + 0, 8, M, tag, 0),                       # folio_trylock
        (F + 24, 8, R, tag, 0),                      # folio_evictable: mapping ...
        (mapping + 112, 8, R, MAPPING, 1),           # ... -> mapping->flags
        (F + mc, 4, R, tag, 0),                      # folio_mapped
        (F + 0, 8, R, tag, 0),                       # dirty / writeback
        (mapping + 72, 8, R, MAPPING, 4),            # folio_referenced: i_mmap
        (F + 32, 8, R, tag, 0),                      # vma_address(): folio->index
        *([] if sp else [(F + 64, 8, R, DESC, 0)]),  # pvmw.pfn = folio_pfn(): a load only with memdesc
        (F + 0, 8, M, tag, 0),                       # folio_test_clear_referenced
        (F + 0, 8, M, tag, 0),                       # folio_unlock
    ]
    assert got == want
    walk = [r for r in rows(out) if r[3] in (PT, VMA)]
    assert [r[3] for r in walk] == [VMA, PT, PT, PT, PT, PT]                   # vma, pgd, pud, pmd, pte, pte RMW
    assert [r[4] for r in walk[1:5]] == [2 if sp else 3, 1, 1, 1]               # the walk is a dependent chain
