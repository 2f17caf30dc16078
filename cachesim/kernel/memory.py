"""The physical memory model: PFNs, pageblocks, buddy blocks, folios, LRU
lists, slab pages, page-cache files and their xarrays.

Built once per scenario (seeded), as numpy arrays indexed by PFN or folio.
All per-PFN work runs in numba or vectorised numpy.

Model (KERNEL.md section 4; ASSUMPTIONs are scenario knobs):
- One node; zones DMA (< 16 MiB), DMA32 (< 4 GiB), Normal; 512-page
  pageblocks. Unmovable pageblocks (slab, page tables, reserved) are placed
  in clusters of ``cluster_pageblocks`` and filled to ``pageblock_fill``;
  the rest of each is free order-0 pages.
- Movable pageblocks are carved into naturally aligned buddy-sized blocks,
  each an anon folio, a file folio or a free block, drawn so that page
  shares follow the scenario's order mixes. Free blocks stay within their
  pageblock (order <= 9).
- LRU lists inactive/active x anon/file with the kernel's inactive ratio
  (mm/vmscan.c inactive_is_low: active:inactive = sqrt(10 * GB)); list order
  is a random permutation after ageing, or shuffled runs of PFN-consecutive
  folios (allocation runs).
- Descriptors (indirect layouts) come from slab pages in allocation order or
  aged (random) order; xa_nodes (576 B, 584 B slots, 14 per 2-page slab) and
  address_space objects come from slab pages as well.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .layouts import PAGE_OFFSET_S, VMEMMAP_S, Layout
from .scenario import Scenario

# page kinds
FREE, ANON, FILE, SLAB, PGTABLE, RESERVED = range(6)
KIND_NAMES = ("free", "anon", "file", "slab", "pagetable", "reserved")
PAGEBLOCK = 512
XA_SLOT = 584          # radix_tree_node objsize (KERNEL.md 1.6)
XA_PER_SLAB = 14       # per 2-page slab
ADDRESS_SPACE = 192
INODE_SLOT = 1024      # address_space lives inside a ~1 KiB inode object (ASSUMPTION)


@njit(cache=True)
def _carve(pb_movable, q, cat_cum, seed, kind, order):
    """Carve every movable pageblock as the buddy allocator would: walk the
    buddy tree top-down; a node of order k becomes one block with
    probability q[k] (else it splits into two order k-1 nodes), and the block's
    category (free/anon/file) is drawn from cat_cum[k]. With
    q[k] = share_k / (pages not yet assigned above k) the page shares per
    order come out as the scenario asks, and every block is naturally aligned."""
    state = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
    for b in range(pb_movable.shape[0]):
        if not pb_movable[b]:
            continue
        base = b * 512
        p = 0
        while p < 512:
            k = 9
            while k > 0 and p % (1 << k) != 0:
                k -= 1
            while True:
                state ^= state >> np.uint64(12)
                state ^= state << np.uint64(25)
                state ^= state >> np.uint64(27)
                u = float((state * np.uint64(2685821657736338717)) >> np.uint64(11)) / 9007199254740992.0
                if k == 0 or u < q[k]:
                    break
                k -= 1
            state ^= state >> np.uint64(12)
            state ^= state << np.uint64(25)
            state ^= state >> np.uint64(27)
            u = float((state * np.uint64(2685821657736338717)) >> np.uint64(11)) / 9007199254740992.0
            c = 0
            while c < 2 and cat_cum[k, c] < u:
                c += 1
            n = 1 << k
            for x in range(base + p, base + p + n):
                kind[x] = c      # FREE, ANON, FILE are 0, 1, 2
                order[x] = k
            p += n


@dataclass
class Memory:
    scenario: Scenario
    kind: np.ndarray          # int8 per PFN
    order: np.ndarray         # int8 per PFN: order of the block the page belongs to
    folios: np.ndarray        # head PFN per folio (anon and file), ascending
    folio_kind: np.ndarray    # ANON / FILE
    folio_order: np.ndarray
    lru: dict                 # list name -> folio ids, head (most recent) first
    lru_list: np.ndarray      # per folio: index into LRU_LISTS
    lru_pos: np.ndarray       # per folio: position in its list
    slab_pfns: np.ndarray     # slab pages, in the order the slab allocator hands them out
    pgtable_pfns: np.ndarray
    file_of: np.ndarray       # per folio: file id (-1 for anon)
    file_index: np.ndarray    # per folio: page index in its file
    file_pages: np.ndarray    # per file: pages (max index + 1)
    file_first: np.ndarray    # per file: first folio id of the file
    file_nfolios: np.ndarray
    zone_normal: int          # first PFN of ZONE_NORMAL (0 if memory < 4 GiB)

    @property
    def pfns(self) -> int:
        return len(self.kind)

    def counts(self) -> dict:
        return {KIND_NAMES[k]: int(c) for k, c in enumerate(np.bincount(self.kind, minlength=6))}


LRU_LISTS = ("inactive_anon", "active_anon", "inactive_file", "active_file")


def build(sc: Scenario) -> Memory:
    rng = np.random.default_rng(sc.seed)
    n = sc.pfns
    nblocks = n // PAGEBLOCK
    kind = np.full(n, FREE, np.int8)
    order = np.zeros(n, np.int8)

    # --- unmovable pageblocks, clustered --------------------------------------------
    unmov_pages = int(round((sc.slab + sc.pagetable + sc.reserved) * n))
    nunmov = min(nblocks - 1, -(-unmov_pages // max(1, int(PAGEBLOCK * sc.unmovable_fill))))
    clusters = np.arange(0, nblocks, sc.unmovable_run)
    rng.shuffle(clusters)
    chosen = []
    for c0 in clusters:  # loop over clusters of pageblocks, not PFNs
        chosen.extend(range(c0, min(c0 + sc.unmovable_run, nblocks)))
        if len(chosen) >= nunmov:
            break
    unmov = np.zeros(nblocks, bool)
    unmov[np.array(chosen[:nunmov], dtype=np.int64)] = True
    # unmovable pages fill the first `fill` share of each unmovable pageblock
    ub = np.nonzero(unmov)[0]
    per = int(PAGEBLOCK * sc.unmovable_fill)
    slots = (ub[:, None] * PAGEBLOCK + np.arange(per)[None, :]).ravel()[:unmov_pages]
    kinds = np.concatenate([np.full(int(round(sc.slab * n)), SLAB, np.int8),
                            np.full(int(round(sc.pagetable * n)), PGTABLE, np.int8),
                            np.full(int(round(sc.reserved * n)), RESERVED, np.int8)])[:len(slots)]
    rng.shuffle(kinds)
    kind[slots[:len(kinds)]] = kinds

    # --- movable pageblocks: folios and free blocks -----------------------------------
    free_in_unmov = len(ub) * PAGEBLOCK - len(slots)
    movable_pages = (nblocks - nunmov) * PAGEBLOCK
    free_target = max(0, int(sc.free_fraction * n) - free_in_unmov)
    free_share = min(0.95, free_target / max(1, movable_pages))
    used = 1 - free_share
    share = np.zeros((10, 3))      # page share of movable memory by (order, category)
    for cat, total, mix in ((FREE, free_share, sc.free_orders), (ANON, used * sc.anon_share, sc.anon_orders),
                            (FILE, used * (1 - sc.anon_share), sc.file_orders)):
        for k, v in mix.items():
            share[k, cat] += total * v
    m = share.sum(axis=1)
    q = np.zeros(10)
    left = 1.0
    for k in range(9, -1, -1):
        q[k] = min(1.0, m[k] / left) if left > 1e-12 else 1.0
        left -= m[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        cat_cum = np.cumsum(np.where(m[:, None] > 0, share / m[:, None], [1.0, 0, 0]), axis=1)
    _carve(~unmov, q, cat_cum, sc.seed, kind, order)

    # --- folios -------------------------------------------------------------------------
    pfn = np.arange(n, dtype=np.int64)
    is_head = ((kind == ANON) | (kind == FILE)) & ((pfn & ((1 << order.astype(np.int64)) - 1)) == 0)
    folios = np.nonzero(is_head)[0]
    fkind = kind[folios]
    forder = order[folios]
    nf = len(folios)

    # LRU lists: inactive share from the kernel's target ratio
    lru: dict[str, np.ndarray] = {}
    lru_list = np.zeros(nf, np.int8)
    lru_pos = np.zeros(nf, np.int64)
    for t, (kname, kk) in enumerate((("anon", ANON), ("file", FILE))):
        ids = np.nonzero(fkind == kk)[0]
        if sc.lru_order == "runs":
            runs = np.array_split(ids, max(1, len(ids) // sc.lru_run))
            rng.shuffle(runs)
            ids = np.concatenate(runs) if runs else ids
        else:
            ids = rng.permutation(ids)
        pages = int((1 << forder[ids].astype(np.int64)).sum())
        gb = pages * 4096 / 2**30
        ratio = max(1.0, float(np.sqrt(10 * gb)))      # active : inactive
        ninact = int(round(len(ids) / (1 + ratio)))
        for which, part in (("inactive", ids[:ninact]), ("active", ids[ninact:])):
            name = f"{which}_{kname}"
            lru[name] = part
            li = LRU_LISTS.index(name)
            lru_list[part] = li
            lru_pos[part] = np.arange(len(part))

    # --- page cache files -----------------------------------------------------------------
    file_ids = np.nonzero(fkind == FILE)[0]
    # files take file folios in allocation (LRU) order, so a file's folios are LRU neighbours
    alloc = np.concatenate([lru["inactive_file"], lru["active_file"]]) if len(file_ids) else file_ids
    sizes_pages = (1 << forder[alloc].astype(np.int64))
    want = np.maximum(1, rng.lognormal(sc.file_pages_mu, sc.file_pages_sigma, size=max(1, len(alloc))).astype(np.int64))
    # cut the folio sequence where cumulative pages pass each file's size
    cum_pages = np.cumsum(sizes_pages)
    bounds = np.searchsorted(cum_pages, np.cumsum(want), side="left") + 1
    bounds = np.unique(np.minimum(bounds, len(alloc)))
    starts = np.concatenate([[0], bounds[:-1]]) if len(bounds) else np.zeros(0, np.int64)
    nfiles = len(bounds)
    file_of = np.full(nf, -1, np.int64)
    file_index = np.zeros(nf, np.int64)
    file_first = starts.astype(np.int64)
    file_nfolios = (bounds - starts).astype(np.int64)
    file_pages = np.zeros(nfiles, np.int64)
    if nfiles:
        fid = np.repeat(np.arange(nfiles), file_nfolios)
        file_of[alloc] = fid
        # index: folio k of a file starts at the next index aligned to its size
        _assign_indices(alloc, sizes_pages, starts, bounds, file_index, file_pages)

    slab_pfns = np.nonzero(kind == SLAB)[0]
    slab_pfns = slab_pfns[rng.permutation(len(slab_pfns))]
    pgtable_pfns = np.nonzero(kind == PGTABLE)[0]
    zone_normal = (4 << 30) // 4096 if n > (4 << 30) // 4096 else 0
    return Memory(sc, kind, order, folios, fkind, forder, lru, lru_list, lru_pos, slab_pfns, pgtable_pfns,
                  file_of, file_index, file_pages, file_first, file_nfolios, zone_normal)


@njit(cache=True)
def _assign_indices(alloc, sizes, starts, bounds, file_index, file_pages):
    for f in range(starts.shape[0]):
        idx = 0
        for j in range(starts[f], bounds[f]):
            sz = sizes[j]
            idx = (idx + sz - 1) // sz * sz
            file_index[alloc[j]] = idx
            idx += sz
        file_pages[f] = idx


class SlabPool:
    """Hands out slab objects of a given size from the scenario's slab pages,
    like SLUB: whole pages per cache, objects packed within a page."""

    def __init__(self, slab_pfns: np.ndarray):
        self.pfns = slab_pfns
        self.next = 0

    def objects(self, count: int, size: int, pages_per_slab: int = 1, per_slab: int | None = None,
                where: str = "slab objects") -> np.ndarray:
        from ..errors import CachesimError
        per = per_slab or (pages_per_slab * 4096) // size
        nslabs = -(-count // per) if count else 0
        need = nslabs * pages_per_slab
        if self.next + need > len(self.pfns):
            raise CachesimError(f"scenario has too few slab pages for {where}: need {need} more pages; "
                                "raise [unmovable] slab")
        first = self.pfns[self.next:self.next + need:pages_per_slab]
        self.next += need
        j = np.arange(count, dtype=np.int64)
        return PAGE_OFFSET_S + first[j // per] * 4096 + (j % per) * size

    @property
    def pages_used(self) -> int:
        return self.next


@dataclass
class Placement:
    """Addresses of the objects a layout adds or uses for one memory state."""
    layout: Layout
    desc: np.ndarray           # per folio: descriptor address (indirect layouts), else struct page
    xa_nodes: np.ndarray       # xa_node addresses
    xa_first: np.ndarray       # per file, per level (0 = leaves): index of its first node in xa_nodes
    xa_depth: np.ndarray       # per file
    mapping: np.ndarray        # per file: address_space address
    desc_pages: int            # slab pages holding folio descriptors
    xa_pages: int


MAX_XA_LEVELS = 6


def xa_depth(pages: np.ndarray) -> np.ndarray:
    """Levels of xa_nodes for files of `pages` pages (0: a single entry in xa_head)."""
    d = np.zeros(len(pages), np.int64)
    maxidx = np.maximum(pages - 1, 0)
    for lvl in range(1, MAX_XA_LEVELS + 1):
        d[(maxidx > 0) & (maxidx >> (6 * (lvl - 1)) > 0)] = lvl
    return d


def place(mem: Memory, layout: Layout, sc: Scenario) -> Placement:
    rng = np.random.default_rng(sc.seed + 7)
    pool = SlabPool(mem.slab_pfns)
    nf = len(mem.folios)
    if layout.indirect:
        desc = np.zeros(nf, np.int64)
        # allocation order: LRU lists oldest-first stand for the order folios were allocated
        alloc = np.concatenate([mem.lru[name][::-1] for name in ("inactive_anon", "inactive_file",
                                                                 "active_anon", "active_file")])
        if sc.descriptor_order == "random":
            alloc = alloc[rng.permutation(len(alloc))]
        large = mem.folio_order[alloc] > 0
        start = pool.next
        desc[alloc[~large]] = pool.objects(int((~large).sum()), layout.folio_desc, where="folio descriptors")
        desc[alloc[large]] = pool.objects(int(large.sum()), layout.large_desc, where="large folio descriptors")
        desc_pages = pool.next - start
    else:
        desc = VMEMMAP_S + mem.folios * layout.entry
        desc_pages = 0
    nfiles = len(mem.file_pages)
    depth = xa_depth(mem.file_pages)
    per_level = np.zeros((nfiles, MAX_XA_LEVELS), np.int64)
    for lvl in range(MAX_XA_LEVELS):
        per_level[:, lvl] = np.where(depth > lvl, -(-mem.file_pages // (64 ** (lvl + 1))), 0)
        per_level[:, lvl] = np.where((depth > lvl) & (per_level[:, lvl] == 0), 1, per_level[:, lvl])
    nnodes = int(per_level.sum())
    start = pool.next
    nodes = pool.objects(nnodes, XA_SLOT, pages_per_slab=2, per_slab=XA_PER_SLAB, where="xa_nodes")
    xa_pages = pool.next - start
    first = np.concatenate([[0], np.cumsum(per_level.ravel())[:-1]])[:nfiles * MAX_XA_LEVELS]
    first = first.reshape(nfiles, MAX_XA_LEVELS)
    mapping = pool.objects(nfiles, INODE_SLOT, where="inodes") + 256  # i_data inside struct inode
    return Placement(layout, desc, nodes.astype(np.int64), first.astype(np.int64), depth, mapping,
                     desc_pages, xa_pages)
