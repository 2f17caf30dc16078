"""Tiny memory states built by hand, for exact-sequence tests."""
import numpy as np

from cachesim.kernel.memory import ANON, FILE, FREE, PGTABLE, SLAB, Memory
from cachesim.kernel.scenario import Scenario

V = 0xFFFFEA0000000000
PO = 0xFFFF888000000000


def tiny(blocks, lru, files=(), npfns=1024, cc_order=9):
    """blocks: (pfn, kind, order) for pageblock 0; pageblock 1 is slab pages
    (pfn 600 a page table). lru: {list name: [head pfns], newest first}.
    files: list of lists of (head pfn, index)."""
    kind = np.full(npfns, FREE, np.int8)
    order = np.zeros(npfns, np.int8)
    covered = np.zeros(npfns, bool)
    for pfn, k, o in blocks:
        kind[pfn:pfn + (1 << o)] = k
        order[pfn:pfn + (1 << o)] = o
        covered[pfn:pfn + (1 << o)] = True
    # fill the rest of pageblock 0 with naturally aligned free blocks
    p = 0
    while p < 512:
        if covered[p]:
            p += 1
            continue
        o = 0
        while o < 9 and p % (1 << (o + 1)) == 0 and not covered[p:p + (1 << (o + 1))].any() \
                and p + (1 << (o + 1)) <= 512:
            o += 1
        kind[p:p + (1 << o)] = FREE
        order[p:p + (1 << o)] = o
        covered[p:p + (1 << o)] = True
        p += 1 << o
    kind[512:] = SLAB
    kind[600] = PGTABLE
    folios = np.array(sorted(pfn for pfn, k, o in blocks if k in (ANON, FILE)), np.int64)
    fid = {int(p): i for i, p in enumerate(folios)}
    lists = {}
    lru_list = np.zeros(len(folios), np.int8)
    lru_pos = np.zeros(len(folios), np.int64)
    for li, name in enumerate(("inactive_anon", "active_anon", "inactive_file", "active_file")):
        ids = np.array([fid[p] for p in lru.get(name, [])], np.int64)
        lists[name] = ids
        lru_list[ids] = li
        lru_pos[ids] = np.arange(len(ids))
    file_of = np.full(len(folios), -1, np.int64)
    file_index = np.zeros(len(folios), np.int64)
    pages, first, nfol = [], [], []
    for f, entries in enumerate(files):
        for pfn, idx in entries:
            file_of[fid[pfn]] = f
            file_index[fid[pfn]] = idx
        last_pfn, last_idx = entries[-1]
        pages.append(last_idx + (1 << order[last_pfn]))
        nfol.append(len(entries))
        first.append(sum(nfol[:-1]))
    sc = Scenario(memory=npfns * 4096 if npfns * 4096 >= 64 << 20 else 64 << 20, cc_order=cc_order)
    slab = np.array([p for p in range(512, npfns) if kind[p] == SLAB], np.int64)
    return Memory(sc, kind, order, folios, kind[folios], order[folios], lists, lru_list, lru_pos, slab,
                  np.array([600], np.int64), file_of, file_index, np.array(pages, np.int64),
                  np.array(first, np.int64), np.array(nfol, np.int64), 0)
