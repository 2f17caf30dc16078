"""Trace generators for the kernel paths of KERNEL.md section 3.

Each generator is a numba function that walks the memory model the way the
kernel function does and emits records (addr, size, kind, dep, op, tag,
site). `dep` counts records back to the load whose value produced the
address (the pointer chase); `site` numbers the source line, so prefetchers
and attribution can key on it. Generators stop when their output buffer is
nearly full and keep a cursor, so traces stream in chunks of bounded size.

Kernel functions followed (6.12 source, 6.18 offsets; KERNEL.md 3.a-3.d):
  compaction_migrate  mm/compaction.c isolate_migratepages_block()
  compaction_free     mm/compaction.c isolate_freepages_block()
  lru_walk            mm/vmscan.c isolate_lru_folios(), shrink_folio_list()
                      checks, mm/rmap.c folio_referenced() (PTE walk)
  pagecache_lookup    mm/filemap.c filemap_get_entry() / lib/xarray.c
                      xas_descend(), folio_try_get(), data address
  pfn_to_folio        mm/gup.c try_grab_folio() / fs/proc/page.c pattern
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.np.numpy_support import from_dtype

from ..trace import PREFETCHW, READ, RECORD_DTYPE, RMW, WRITE
from .layouts import PAGE_OFFSET_S, VMEMMAP_S, Layout
from .memory import ANON, FILE, FREE

TAGS = ["memmap", "descriptor", "xa_node", "address_space", "lruvec", "data", "pagetable", "zone",
        "memcg", "pageblock_flags", "buddy_links", "vma"]
(T_MEMMAP, T_DESC, T_XA, T_MAPPING, T_LRUVEC, T_DATA, T_PT, T_ZONE, T_MEMCG, T_PBFLAGS, T_LINKS,
 T_VMA) = range(len(TAGS))

# layout parameter vector
(L_ENTRY, L_WORD, L_INDIRECT, L_ORDER_IN_WORD, L_BUDDY_ORDER, L_LINKS_IN_ENTRY, F_FLAGS, F_LRU_NEXT,
 F_LRU_PREV, F_MAPPING, F_INDEX, F_REFCOUNT, F_MAPCOUNT, F_MEMCG, F_ORDER, F_NR_PAGES, F_LARGE_MAPCOUNT,
 F_PFN, F_PAGE_TYPE, NL) = range(20)

# fixed kernel objects (direct-map addresses of one node's structures; ASSUMPTION)
ZONE = PAGE_OFFSET_S + 0x1000000          # struct zone (ZONE_NORMAL) inside pglist_data
MEMCG = PAGE_OFFSET_S + 0x2000000         # struct mem_cgroup
LRUVEC = PAGE_OFFSET_S + 0x2100000 + 72   # mem_cgroup_per_node.lruvec
SECTION = PAGE_OFFSET_S + 0x3000000       # mem_section roots and usage maps
BUDDY_EXT = PAGE_OFFSET_S + 0x40000000    # B-ext free-list links (outside the memmap)
VMA = PAGE_OFFSET_S + 0x5000000           # vm_area_structs
PGD = PAGE_OFFSET_S + 0x6000000           # top page-table levels
COMPACT_CLUSTER_MAX = 32                  # include/linux/swap.h


def layout_vector(layout: Layout) -> np.ndarray:
    L = np.full(NL, -1, np.int64)
    L[L_ENTRY] = layout.entry
    L[L_WORD] = layout.word
    L[L_INDIRECT] = int(layout.indirect)
    L[L_ORDER_IN_WORD] = int(layout.buddy_order_in_word)
    L[L_BUDDY_ORDER] = 16 if layout.name == "page32" else 40
    L[L_LINKS_IN_ENTRY] = int(layout.buddy_links_in_entry)
    f = layout.fields
    for slot, name in ((F_FLAGS, "flags"), (F_LRU_NEXT, "lru_next"), (F_LRU_PREV, "lru_prev"),
                       (F_MAPPING, "mapping"), (F_INDEX, "index"), (F_REFCOUNT, "refcount"),
                       (F_MAPCOUNT, "mapcount"), (F_MEMCG, "memcg"), (F_NR_PAGES, "nr_pages"),
                       (F_LARGE_MAPCOUNT, "large_mapcount")):
        L[slot] = f[name][1]
    L[F_ORDER] = f["order"][1] if "order" in f else f["flags_1"][1]
    L[F_PFN] = f["pfn"][1] if "pfn" in f else -1
    L[F_PAGE_TYPE] = f["page_type"][1] if "page_type" in f else -1
    return L


# One compiled signature: the generators call _emit from ~100 sites with
# literal constants, and numba compiled a copy per combination of literals
# (92 copies, ~9 s of a cold start).
@njit(types.int64(types.Array(from_dtype(RECORD_DTYPE), 1, "C"), types.int64, types.int64, types.int64,
                  types.int64, types.int64, types.int64, types.int64, types.int64), cache=True)
def _emit(out, n, addr, size, kind, tag, op, site, dep):
    r = out[n]
    r.addr = np.uint64(addr)
    r.size = size
    r.kind = kind
    r.tag = tag
    r.op = op
    r.site = site
    r.dep = dep
    r.weight = 1
    return n + 1


@njit(cache=True)
def _lru_neighbours(lru_all, lru_start, lru_len, lst, pos):
    """(lru.next, lru.prev) folio ids of the folio at position pos of list lst;
    -1 = the list head. Lists are stored newest first (head->next first), so
    lru.next is the older neighbour and lru.prev the newer one."""
    nxt = lru_all[lru_start[lst] + pos + 1] if pos + 1 < lru_len[lst] else -1
    prv = lru_all[lru_start[lst] + pos - 1] if pos > 0 else -1
    return nxt, prv


@njit(cache=True)
def _pageblock_checks(out, n, pfn, op):
    # get_pageblock_skip()/get_pageblock_migratetype(): mem_section root ->
    # usage -> pageblock_flags[], a dependent chain of three loads
    sec = pfn >> 15                      # 128 MiB sections
    n = _emit(out, n, SECTION + (sec >> 8) * 8, 8, READ, T_PBFLAGS, op, 100, 0)
    n = _emit(out, n, SECTION + 0x100000 + sec * 16 + 8, 8, READ, T_PBFLAGS, op, 101, 1)
    n = _emit(out, n, SECTION + 0x200000 + sec * 64 + 24 + ((pfn >> 9) & 63) // 2, 1, READ, T_PBFLAGS,
              op, 102, 1)
    return n


@njit(cache=True)
def gen_migrate(out, cur, L, kind, order, folio_of, desc, lru_all, lru_start, lru_len, lru_list, lru_pos,
                folio_order, unmovable_pb, start_pfn, end_pfn, async_mode, cc_order, ops_target):
    """isolate_migratepages_block(): one op per PFN visited, upward."""
    n = 0
    cap = out.shape[0] - 64
    p = cur[0] if cur[0] > 0 else start_pfn
    ops = cur[1]
    isolated = cur[2]
    prev_iso = cur[3]
    indirect = L[L_INDIRECT] == 1
    entry = L[L_ENTRY]
    while ops < ops_target and n < cap:
        if p >= end_pfn:
            p = start_pfn            # wrap: compaction restarts from the zone start
        if p % 512 == 0:
            if async_mode and unmovable_pb[p >> 9]:
                p += 512             # suitable_migration_source(): async skips non-movable blocks
                continue
            n = _pageblock_checks(out, n, p, ops)
        k = kind[p]
        o = order[p]
        P = VMEMMAP_S + p * entry
        tagm = 0
        if not indirect:
            n = _emit(out, n, P + 8, 8, READ, tagm, ops, 1, 0)        # A1 PageHuge -> compound_head
            n = _emit(out, n, P + 48, 4, READ, tagm, ops, 2, 0)       # A2 PageBuddy (page_type)
            if k == FREE:
                n = _emit(out, n, P + 40, 8, READ, tagm, ops, 3, 0)   # A3 buddy_order_unsafe
                p += 1 << o
                ops += 1
                continue
            n = _emit(out, n, P + 0, 8, READ, tagm, ops, 4, 0)        # A4 PageCompound
            if k != ANON and k != FILE:
                n = _emit(out, n, P + 0, 8, READ, tagm, ops, 6, 0)    # A6 PageLRU fails; movable check
                p += 1
                ops += 1
                continue
            if o > 0:
                n = _emit(out, n, P + 64, 8, READ, tagm, ops, 5, 0)   # A5 compound_order: page[1]
                if o >= cc_order:
                    p += 1 << o
                    ops += 1
                    continue
            base = P
            tagd = tagm
            dep_base = 0
        else:
            W = P + L[L_WORD]
            n = _emit(out, n, W, 8, READ, tagm, ops, 1, 0)            # B1 the memdesc word
            rw = n - 1
            if k == FREE:
                if L[L_ORDER_IN_WORD] == 0:
                    n = _emit(out, n, P + L[L_BUDDY_ORDER], 8, READ, tagm, ops, 3, 0)
                p += 1 << o
                ops += 1
                continue
            if k != ANON and k != FILE:
                p += 1                                                # slab/pgtable/reserved: no deref
                ops += 1
                continue
            f = folio_of[p]
            base = desc[f]
            tagd = T_DESC
            n = _emit(out, n, base + L[F_FLAGS], 8, READ, tagd, ops, 4, n - rw)   # B3 hugetlb/head/lru
            n = _emit(out, n, base + L[F_ORDER], 1, READ, tagd, ops, 5, n - rw)   # B4 order
            if o > 0:
                n = _emit(out, n, base + L[F_PFN], 8, READ, tagd, ops, 5, n - rw)  # B4 pfn for the skip
                if o >= cc_order:
                    p += 1 << o
                    ops += 1
                    continue
            dep_base = rw
        f = folio_of[p]
        # A6 PageLRU through the head (cached); A7/B5 get_page_unless_zero
        n = _emit(out, n, base + L[F_FLAGS], 8, READ, tagd, ops, 6, (n - dep_base) if indirect else 0)
        n = _emit(out, n, base + L[F_REFCOUNT], 4, RMW, tagd, ops, 7, (n - dep_base) if indirect else 0)
        if indirect:
            n = _emit(out, n, P + L[L_WORD], 8, READ, T_MEMMAP, ops, 1, 0)   # B5b RCU revalidation
        # A8 folio_mapping: page_type, flags, mapping
        n = _emit(out, n, base + L[F_MAPPING], 8, READ, tagd, ops, 8, (n - dep_base) if indirect else 0)
        # A9 pinned check: refcount vs mapcount (large: _large_mapcount)
        mc = L[F_LARGE_MAPCOUNT] if o > 0 else L[F_MAPCOUNT]
        n = _emit(out, n, base + mc, 4, READ, tagd, ops, 9, (n - dep_base) if indirect else 0)
        # A10 lru/unevictable/writeback/dirty tests; A12 folio_test_clear_lru
        n = _emit(out, n, base + L[F_FLAGS], 8, READ, tagd, ops, 10, (n - dep_base) if indirect else 0)
        n = _emit(out, n, base + L[F_FLAGS], 8, RMW, tagd, ops, 12, (n - dep_base) if indirect else 0)
        # A13 folio_lruvec: memcg_data -> nodeinfo[nid] -> lruvec (dependent chain)
        n = _emit(out, n, base + L[F_MEMCG], 8, READ, tagd, ops, 13, (n - dep_base) if indirect else 0)
        n = _emit(out, n, MEMCG + 2136, 8, READ, T_MEMCG, ops, 14, 1)
        n = _emit(out, n, LRUVEC + 136, 8, READ, T_LRUVEC, ops, 15, 1)
        if isolated % COMPACT_CLUSTER_MAX == 0:
            n = _emit(out, n, LRUVEC + 80, 4, RMW, T_LRUVEC, ops, 15, 0)      # lru_lock
        if o > 0:
            n = _emit(out, n, base + L[F_NR_PAGES], 4, READ, tagd, ops, 16, (n - dep_base) if indirect else 0)
        # A15/B9 lruvec_del_folio: list_del writes the neighbours' links
        r_next = n
        n = _emit(out, n, base + L[F_LRU_NEXT], 8, READ, tagd, ops, 17, (n - dep_base) if indirect else 0)
        r_prev = n
        n = _emit(out, n, base + L[F_LRU_PREV], 8, READ, tagd, ops, 17, (n - dep_base) if indirect else 0)
        nxt, prv = _lru_neighbours(lru_all, lru_start, lru_len, lru_list[f], lru_pos[f])
        lst = lru_list[f]
        a_next = desc[nxt] + L[F_LRU_PREV] if nxt >= 0 else LRUVEC + 16 * lst + 8
        a_prev = desc[prv] + L[F_LRU_NEXT] if prv >= 0 else LRUVEC + 16 * lst
        n = _emit(out, n, a_next, 8, WRITE, tagd if nxt >= 0 else T_LRUVEC, ops, 18, n - r_next)
        n = _emit(out, n, a_prev, 8, WRITE, tagd if prv >= 0 else T_LRUVEC, ops, 18, n - r_prev)
        # A16 list_add to cc->migratepages
        n = _emit(out, n, base + L[F_LRU_NEXT], 8, WRITE, tagd, ops, 19, 0)
        n = _emit(out, n, base + L[F_LRU_PREV], 8, WRITE, tagd, ops, 19, 0)
        if prev_iso >= 0:
            n = _emit(out, n, desc[prev_iso] + L[F_LRU_PREV], 8, WRITE, tagd, ops, 19, 0)
        prev_iso = f
        isolated += 1
        p += 1 << o
        ops += 1
    cur[0] = p
    cur[1] = ops
    cur[2] = isolated
    cur[3] = prev_iso
    return n, ops


@njit(cache=True)
def gen_free(out, cur, L, kind, order, folio_of, desc, free_next, free_prev, unmovable_pb, start_pfn,
             end_pfn, stride, ops_target):
    """isolate_freepages_block(): pageblocks downward from the zone end, each
    scanned upward with `stride`; one op per PFN visited."""
    n = 0
    cap = out.shape[0] - 64
    ops = cur[1]
    blk = cur[0] if cur[0] > 0 else (end_pfn >> 9) - 1
    p = cur[2] if cur[0] > 0 else blk * 512
    indirect = L[L_INDIRECT] == 1
    entry = L[L_ENTRY]
    links_in_entry = L[L_LINKS_IN_ENTRY] == 1
    while ops < ops_target and n < cap:
        if p >= (blk + 1) * 512:
            blk -= 1
            if blk < (start_pfn >> 9):
                blk = (end_pfn >> 9) - 1
            p = blk * 512
            continue
        if p == blk * 512:
            if unmovable_pb[blk]:            # suitable_migration_target(): not MOVABLE
                blk -= 1
                if blk < (start_pfn >> 9):
                    blk = (end_pfn >> 9) - 1
                p = blk * 512
                continue
            n = _pageblock_checks(out, n, p, ops)
        k = kind[p]
        o = order[p]
        P = VMEMMAP_S + p * entry
        if not indirect:
            n = _emit(out, n, P + 0, 8, READ, T_MEMMAP, ops, 21, 0)       # F1 PageCompound
            n = _emit(out, n, P + 8, 8, READ, T_MEMMAP, ops, 21, 0)
            if (k == ANON or k == FILE) and o > 0:
                n = _emit(out, n, P + 64, 8, READ, T_MEMMAP, ops, 22, 0)  # compound_order, skip
                p += 1 << o
                ops += 1
                continue
            n = _emit(out, n, P + 48, 4, READ, T_MEMMAP, ops, 23, 0)      # F2 PageBuddy
        else:
            W = P + L[L_WORD]
            n = _emit(out, n, W, 8, READ, T_MEMMAP, ops, 21, 0)           # type and order in the word
            if (k == ANON or k == FILE) and o > 0:
                n = _emit(out, n, desc[folio_of[p]] + L[F_ORDER], 1, READ, T_DESC, ops, 22, 1)
                p += 1 << o
                ops += 1
                continue
        if k != FREE:
            p += stride
            ops += 1
            continue
        # F3 zone->lock and recheck; F4 buddy_order
        n = _emit(out, n, ZONE + 1672, 4, RMW, T_ZONE, ops, 24, 0)
        if not indirect:
            n = _emit(out, n, P + 48, 4, READ, T_MEMMAP, ops, 23, 0)
            n = _emit(out, n, P + 40, 8, READ, T_MEMMAP, ops, 25, 0)
        else:
            n = _emit(out, n, P + L[L_WORD], 8, READ, T_MEMMAP, ops, 23, 0)
            if L[L_ORDER_IN_WORD] == 0:
                n = _emit(out, n, P + L[L_BUDDY_ORDER], 8, READ, T_MEMMAP, ops, 25, 0)
        # F5 __isolate_free_page: watermark, del_page_from_free_list (neighbours), nr_free
        n = _emit(out, n, ZONE + 0, 8, READ, T_ZONE, ops, 30, 0)
        if links_in_entry:
            lk = P + (8 if not indirect else L[L_WORD] + (8 if L[L_WORD] == 0 else 0))
            ltag = T_MEMMAP
            lstride = entry
            lbase = VMEMMAP_S + (8 if not indirect else L[L_WORD] + (8 if L[L_WORD] == 0 else 0))
        else:
            lk = BUDDY_EXT + p * 16
            ltag = T_LINKS
            lstride = 16
            lbase = BUDDY_EXT
        r0 = n
        n = _emit(out, n, lk, 8, READ, ltag, ops, 26, 0)
        r1 = n
        n = _emit(out, n, lk + 8, 8, READ, ltag, ops, 26, 0)
        fn = free_next[p]
        fp = free_prev[p]
        if fn >= 0:
            n = _emit(out, n, lbase + fn * lstride + 8, 8, WRITE, ltag, ops, 27, n - r0)
        if fp >= 0:
            n = _emit(out, n, lbase + fp * lstride, 8, WRITE, ltag, ops, 27, n - r1)
        if not indirect:
            n = _emit(out, n, P + 48, 4, WRITE, T_MEMMAP, ops, 28, 0)     # __ClearPageBuddy
            n = _emit(out, n, P + 40, 8, WRITE, T_MEMMAP, ops, 28, 0)     # set_page_private(0)
        else:
            n = _emit(out, n, P + L[L_WORD], 8, WRITE, T_MEMMAP, ops, 28, 0)
        n = _emit(out, n, ZONE + 256 + 128 * o + 80, 8, RMW, T_ZONE, ops, 29, 0)
        # F6 list_add_tail to cc->freepages[order]
        n = _emit(out, n, lk, 8, WRITE, ltag, ops, 31, 0)
        n = _emit(out, n, lk + 8, 8, WRITE, ltag, ops, 31, 0)
        p += 1 << o
        ops += 1
    cur[0] = blk
    cur[1] = ops
    cur[2] = p
    return n, ops


@njit(cache=True)
def gen_lru(out, cur, L, desc, folio_order, folio_head, file_of, mapping, lru_all, lru_start, lru_len,
            pt_pfns, ops_target):
    """isolate_lru_folios() batches of 32 from the tail of the inactive file
    and anon lists, alternately, then shrink_folio_list()'s checks and
    folio_referenced()'s PTE walk on each isolated folio. One op per folio."""
    n = 0
    cap = out.shape[0] - 2048
    ops = cur[1]
    indirect = L[L_INDIRECT] == 1
    tagd = T_DESC if indirect else T_MEMMAP
    batch = np.zeros(32, np.int64)
    bop = np.zeros(32, np.int64)
    npt = pt_pfns.shape[0]
    while ops < ops_target and n < cap:
        lst = 2 if cur[2] % 2 == 0 else 0        # inactive_file, inactive_anon
        cur[2] += 1
        if lru_len[lst] == 0:
            lst = 2 - lst
        if lru_len[lst] == 0:
            break
        # L0 the list head's prev
        r_prod = n
        n = _emit(out, n, LRUVEC + 16 * lst + 8, 8, READ, T_LRUVEC, ops, 40, 0)
        nb = 0
        for j in range(min(32, lru_len[lst])):
            if ops + nb >= ops_target:
                break
            pos = lru_len[lst] - 1 - (cur[3 + lst] % lru_len[lst])
            cur[3 + lst] += 1
            f = lru_all[lru_start[lst] + pos]
            base = desc[f]
            dp = n - r_prod
            op = ops + nb
            r_l1 = n
            n = _emit(out, n, base + L[F_LRU_PREV], 8, READ, tagd, op, 41, dp)     # L1 lru.prev: the chase
            nxt_pos = pos - 1 if pos > 0 else lru_len[lst] - 1
            nf = lru_all[lru_start[lst] + nxt_pos]
            n = _emit(out, n, desc[nf] + L[F_FLAGS], 64, PREFETCHW, tagd, op, 42, 1)  # prefetchw_prev_lru_folio
            n = _emit(out, n, base + L[F_FLAGS], 8, READ, tagd, op, 43, n - r_prod)  # L2 flags
            if folio_order[f] > 0:
                n = _emit(out, n, base + L[F_NR_PAGES], 4, READ, tagd, op, 44, n - r_prod)
            n = _emit(out, n, base + L[F_REFCOUNT], 4, RMW, tagd, op, 45, n - r_prod)  # L4 folio_try_get
            n = _emit(out, n, base + L[F_FLAGS], 8, RMW, tagd, op, 46, n - r_prod)     # L5 test_clear_lru
            # L6 list_move to the private list
            n = _emit(out, n, base + L[F_LRU_NEXT], 8, READ, tagd, op, 47, n - r_prod)
            n = _emit(out, n, LRUVEC + 16 * lst + 8, 8, WRITE, T_LRUVEC, op, 48, 0)
            n = _emit(out, n, desc[nf] + L[F_LRU_NEXT], 8, WRITE, tagd, op, 49, n - r_l1)
            n = _emit(out, n, base + L[F_LRU_NEXT], 8, WRITE, tagd, op, 50, n - r_prod)
            n = _emit(out, n, base + L[F_LRU_PREV], 8, WRITE, tagd, op, 50, n - r_prod)
            if nb > 0:
                n = _emit(out, n, desc[batch[nb - 1]] + L[F_LRU_PREV], 8, WRITE, tagd, op, 51, 0)
            batch[nb] = f
            bop[nb] = op
            nb += 1
            r_prod = r_l1
        # shrink_folio_list() on the isolated batch
        for j in range(nb):
            f = batch[j]
            op = bop[j]
            base = desc[f]
            large = folio_order[f] > 0
            n = _emit(out, n, base + L[F_FLAGS], 8, RMW, tagd, op, 60, 0)            # folio_trylock
            if large:
                n = _emit(out, n, base + L[F_NR_PAGES], 4, READ, tagd, op, 61, 0)
            r_map = n
            n = _emit(out, n, base + L[F_MAPPING], 8, READ, tagd, op, 62, 0)         # folio_evictable
            fid = file_of[f]
            mp = mapping[fid] if fid >= 0 else PAGE_OFFSET_S + 0x7000000 + (f % 4096) * 128  # anon_vma
            n = _emit(out, n, mp + 112, 8, READ, T_MAPPING, op, 63, n - r_map)
            mc = L[F_LARGE_MAPCOUNT] if large else L[F_MAPCOUNT]
            n = _emit(out, n, base + mc, 4, READ, tagd, op, 64, 0)                   # folio_mapped
            n = _emit(out, n, base + L[F_FLAGS], 8, READ, tagd, op, 65, 0)           # dirty/writeback
            # folio_referenced(): rmap walk to the vma, then page_vma_mapped_walk
            n = _emit(out, n, mp + 72, 8, READ, T_MAPPING, op, 66, n - r_map)        # i_mmap / anon_vma root
            r_vma = n
            n = _emit(out, n, VMA + (f % 65536) * 192 + 32, 8, READ, T_VMA, op, 67, 1)
            n = _emit(out, n, base + L[F_INDEX], 8, READ, tagd, op, 68, 0)           # vma_address
            if indirect:
                n = _emit(out, n, base + L[F_PFN], 8, READ, tagd, op, 69, 0)         # pvmw.pfn = folio_pfn()
            n = _emit(out, n, PGD + (f % 512) * 8, 8, READ, T_PT, op, 70, n - r_vma)  # pgd
            n = _emit(out, n, PGD + 0x1000 + (f % 512) * 8, 8, READ, T_PT, op, 71, 1)  # pud
            n = _emit(out, n, PGD + 0x2000 + ((f >> 9) % 512) * 8, 8, READ, T_PT, op, 72, 1)  # pmd
            pte = PAGE_OFFSET_S + pt_pfns[(f >> 9) % npt] * 4096 + (f % 512) * 8
            n = _emit(out, n, pte, 8, READ, T_PT, op, 73, 1)
            n = _emit(out, n, pte, 8, RMW, T_PT, op, 74, 0)                          # ptep_clear_flush_young
            n = _emit(out, n, base + L[F_FLAGS], 8, RMW, tagd, op, 75, 0)            # test_clear_referenced
            n = _emit(out, n, base + L[F_FLAGS], 8, RMW, tagd, op, 76, 0)            # folio_unlock
        ops += nb
    cur[1] = ops
    return n, ops


@njit(cache=True)
def _xorshift(s):
    s ^= s << np.uint64(13)
    s ^= s >> np.uint64(7)
    s ^= s << np.uint64(17)
    return s


@njit(cache=True)
def gen_pagecache(out, cur, L, desc, folios_pfn, folio_order, file_first, file_nfolios, file_pages,
                  file_index_sorted, file_cum, mapping, xa_nodes, xa_first, xa_depth, sequential, seed,
                  ops_target):
    """filemap_get_entry() through the xarray, folio_try_get(), the mapping
    and index checks, and the first data line. One op per lookup."""
    n = 0
    cap = out.shape[0] - 64
    ops = cur[1]
    st = np.uint64(cur[4]) if cur[4] != 0 else np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(7)
    indirect = L[L_INDIRECT] == 1
    tagd = T_DESC if indirect else T_MEMMAP
    nfiles = file_first.shape[0]
    total = file_cum[nfiles - 1]
    fcur = cur[2]
    icur = cur[3]
    while ops < ops_target and n < cap:
        if sequential and fcur >= 0 and icur + 1 < file_pages[fcur]:
            fl = fcur
            idx = icur + 1
        else:
            st = _xorshift(st)
            u = np.int64(st % np.uint64(total))
            fl = np.searchsorted(file_cum, u, side="right")
            if fl >= nfiles:
                fl = nfiles - 1
            st = _xorshift(st)
            idx = 0 if sequential else np.int64(st % np.uint64(file_pages[fl]))
        fcur = fl
        icur = idx
        # the folio covering idx (folios of a file are in index order)
        a = file_first[fl]
        j = a + np.searchsorted(file_index_sorted[a:a + file_nfolios[fl]], idx, side="right") - 1
        if j < a:
            j = a
        f = j  # folio ids of files are renumbered in file order by the driver
        k = folio_order[f]
        mp = mapping[fl]
        r_prod = n
        n = _emit(out, n, mp + 16, 8, READ, T_MAPPING, ops, 80, 0)              # C0 xa_head
        d = xa_depth[fl]
        stop = 1 if k >= 6 else 0
        r_leaf = n - 1
        node = 0
        for lvl in range(d - 1, stop - 1, -1):
            node = xa_nodes[xa_first[fl, lvl] + (idx >> (6 * (lvl + 1)))]
            n = _emit(out, n, node + 0, 1, READ, T_XA, ops, 81, n - r_prod)      # shift
            off = (idx >> (6 * lvl)) & 63
            dslot = n - r_prod
            r_prod = n
            n = _emit(out, n, node + 40 + 8 * off, 8, READ, T_XA, ops, 82, dslot)  # slot
            r_leaf = r_prod
            if lvl == stop and k > 0 and k < 6:
                canon = off & ~((1 << k) - 1)
                if canon != off:                                                # sibling entry
                    r_leaf = n
                    n = _emit(out, n, node + 40 + 8 * canon, 8, READ, T_XA, ops, 83, 1)
        base = desc[f]
        n = _emit(out, n, base + L[F_REFCOUNT], 4, RMW, tagd, ops, 84, n - r_leaf)   # C4 folio_try_get
        if d > 0:
            n = _emit(out, n, node + 40 + 8 * ((idx >> (6 * stop)) & 63), 8, READ, T_XA, ops, 85, 0)  # C5
        n = _emit(out, n, base + L[F_FLAGS], 8, RMW, tagd, ops, 86, n - r_leaf)      # C6 lock
        n = _emit(out, n, base + L[F_MAPPING], 8, READ, tagd, ops, 87, n - r_leaf)
        n = _emit(out, n, base + L[F_INDEX], 8, READ, tagd, ops, 88, n - r_leaf)
        if k > 0:
            n = _emit(out, n, base + L[F_NR_PAGES], 4, READ, tagd, ops, 89, n - r_leaf)
        sub = idx - file_index_sorted[f]
        data = PAGE_OFFSET_S + (folios_pfn[f] + sub) * 4096
        if indirect:
            r_pfn = n
            n = _emit(out, n, base + L[F_PFN], 8, READ, tagd, ops, 90, n - r_leaf)   # folio_pfn()
            n = _emit(out, n, data, 64, READ, T_DATA, ops, 91, n - r_pfn)
        else:
            n = _emit(out, n, data, 64, READ, T_DATA, ops, 91, n - r_leaf)        # page_address(): no load
        ops += 1
    cur[1] = ops
    cur[2] = fcur
    cur[3] = icur
    cur[4] = np.int64(st)
    return n, ops


@njit(cache=True)
def gen_pfn_to_folio(out, cur, L, folios_pfn, folio_order, desc, page_cum, seed, ops_target):
    """try_grab_folio() from a PFN (GUP after a PTE, kpageflags): one op per
    PFN, drawn uniformly over folio pages (heads and tails)."""
    n = 0
    cap = out.shape[0] - 16
    ops = cur[1]
    st = np.uint64(cur[4]) if cur[4] != 0 else np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(9)
    indirect = L[L_INDIRECT] == 1
    entry = L[L_ENTRY]
    nf = folios_pfn.shape[0]
    total = page_cum[nf - 1]
    while ops < ops_target and n < cap:
        st = _xorshift(st)
        u = np.int64(st % np.uint64(total))
        f = np.searchsorted(page_cum, u, side="right")
        start = page_cum[f - 1] if f > 0 else 0
        p = folios_pfn[f] + (u - start)
        P = VMEMMAP_S + p * entry
        if not indirect:
            r0 = n
            n = _emit(out, n, P + 8, 8, READ, T_MEMMAP, ops, 95, 0)              # page_folio: compound_head
            H = desc[f]
            if p != folios_pfn[f]:                                               # tail -> head line
                n = _emit(out, n, H + L[F_FLAGS], 8, READ, T_MEMMAP, ops, 96, n - r0)
                n = _emit(out, n, H + L[F_REFCOUNT], 4, RMW, T_MEMMAP, ops, 97, n - r0)
            else:
                n = _emit(out, n, H + L[F_FLAGS], 8, READ, T_MEMMAP, ops, 96, 0)
                n = _emit(out, n, H + L[F_REFCOUNT], 4, RMW, T_MEMMAP, ops, 97, 0)
        else:
            r0 = n
            n = _emit(out, n, P + L[L_WORD], 8, READ, T_MEMMAP, ops, 95, 0)     # the word -> D
            D = desc[f]
            n = _emit(out, n, D + L[F_FLAGS], 8, READ, T_DESC, ops, 96, n - r0)
            n = _emit(out, n, D + L[F_REFCOUNT], 4, RMW, T_DESC, ops, 97, n - r0)
        ops += 1
    cur[1] = ops
    cur[4] = np.int64(st)
    return n, ops


WORKLOADS = ("lru_walk", "compaction_migrate", "compaction_free", "pagecache_lookup", "pfn_to_folio")
