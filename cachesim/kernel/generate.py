"""Drive the workload generators: memory state + layout -> record chunks.

Memory states and placements are cached per (scenario, layout) within a
process, so a study builds each once; a lock makes the caches safe for
threads (a Dask worker may run several sweep points in threads).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import CachesimError
from ..trace import RECORD_DTYPE, Trace, TraceMeta
from . import workloads as W
from .layouts import get as get_layout
from .memory import FREE, LRU_LISTS, PAGEBLOCK, RESERVED, SLAB, PGTABLE, Memory, Placement, build, place
from .scenario import Scenario

CHUNK = 1 << 20


@dataclass
class Prepared:
    mem: Memory
    folio_of: np.ndarray
    unmovable_pb: np.ndarray
    free_next: np.ndarray
    free_prev: np.ndarray
    lru_all: np.ndarray
    lru_start: np.ndarray
    lru_len: np.ndarray
    file_sorted: np.ndarray     # folio ids of file folios in (file, index) order
    page_cum: np.ndarray


_MEM: dict = {}
_PLACE: dict = {}
_LOCK = threading.RLock()    # re-entrant: placement() asks prepared()


def _key(sc: Scenario) -> str:
    import json
    return json.dumps(sc.describe(), sort_keys=True)


def prepared(sc: Scenario) -> Prepared:
    key = _key(sc)
    with _LOCK:
        if key not in _MEM:
            p = prepare(build(sc))
            _MEM.clear()
            _MEM[key] = p
        return _MEM[key]


def prepare(mem: Memory) -> Prepared:
    """Derived arrays the generators need, for any memory state (built from a
    scenario, or by hand in tests)."""
    sc = mem.scenario
    n = mem.pfns
    folio_of = np.full(n, -1, np.int64)
    folio_of[mem.folios] = np.arange(len(mem.folios))
    k = mem.kind.reshape(-1, PAGEBLOCK)
    unmovable_pb = ((k == SLAB) | (k == PGTABLE) | (k == RESERVED)).any(axis=1)
    # free lists: the free blocks of each order in a random (aged) order
    rng = np.random.default_rng(sc.seed + 3)
    pfn = np.arange(n, dtype=np.int64)
    free_heads = np.nonzero((mem.kind == FREE) & ((pfn & ((1 << mem.order.astype(np.int64)) - 1)) == 0))[0]
    free_next = np.full(n, -1, np.int64)
    free_prev = np.full(n, -1, np.int64)
    for o in range(10):
        heads = free_heads[mem.order[free_heads] == o]
        heads = heads[rng.permutation(len(heads))]
        free_next[heads[:-1]] = heads[1:]
        free_prev[heads[1:]] = heads[:-1]
    lru_all = np.concatenate([mem.lru[name] for name in LRU_LISTS]).astype(np.int64)
    lru_len = np.array([len(mem.lru[name]) for name in LRU_LISTS], np.int64)
    lru_start = np.concatenate([[0], np.cumsum(lru_len)[:-1]]).astype(np.int64)
    files = np.nonzero(mem.file_of >= 0)[0]
    order_key = np.lexsort((mem.file_index[files], mem.file_of[files]))
    file_sorted = files[order_key]
    page_cum = np.cumsum(1 << mem.folio_order.astype(np.int64))
    return Prepared(mem, folio_of, unmovable_pb, free_next, free_prev, lru_all, lru_start, lru_len,
                    file_sorted, page_cum)


def placement(sc: Scenario, layout_name: str) -> Placement:
    key = (_key(sc), layout_name)
    with _LOCK:
        if key not in _PLACE:
            if len(_PLACE) > 8:
                _PLACE.clear()
            _PLACE[key] = place(prepared(sc).mem, get_layout(layout_name), sc)
        return _PLACE[key]


def chunks(workload: str, layout_name: str, sc: Scenario, ops: int | None = None,
           chunk: int = CHUNK, reuse: bool = False) -> Iterator[np.ndarray]:
    if workload not in W.WORKLOADS:
        raise CachesimError(f"unknown workload {workload!r}: expected one of {', '.join(W.WORKLOADS)}")
    get_layout(layout_name)
    return generate(workload, layout_name, prepared(sc), placement(sc, layout_name), ops, chunk, reuse)


def generate(workload: str, layout_name: str, pr: Prepared, pl: Placement, ops: int | None = None,
             chunk: int = CHUNK, reuse: bool = False) -> Iterator[np.ndarray]:
    """Record chunks of a workload. With reuse, every chunk is the same buffer,
    valid until the next one is asked for: for a consumer that replays each
    chunk at once (the study), it saves a 32 MiB allocation and its page
    faults per chunk (2.5 s of a 30 s study)."""
    layout = get_layout(layout_name)
    mem = pr.mem
    sc = mem.scenario
    L = W.layout_vector(layout)
    target = int(ops if ops is not None else sc.ops)
    cur = np.zeros(8, np.int64)
    cur[3] = -1 if workload == "compaction_migrate" else 0
    if workload == "pagecache_lookup":
        cur[2] = -1
    out = np.zeros(chunk, dtype=RECORD_DTYPE)
    start, end = mem.zone_normal, mem.pfns
    done = 0
    fs = pr.file_sorted
    if workload == "pagecache_lookup" and len(fs) == 0:
        raise CachesimError(f"{sc.source}: scenario has no file folios for pagecache_lookup")
    # Argument tuples are built once: the arrays they derive are whole-memory sized.
    forder = mem.folio_order.astype(np.int64)
    if workload == "compaction_migrate":
        gen, args = W.gen_migrate, (L, mem.kind, mem.order, pr.folio_of, pl.desc, pr.lru_all, pr.lru_start,
                                    pr.lru_len, mem.lru_list.astype(np.int64), mem.lru_pos, forder,
                                    pr.unmovable_pb, start, end, sc.compaction_mode == "async", sc.cc_order)
    elif workload == "compaction_free":
        gen, args = W.gen_free, (L, mem.kind, mem.order, pr.folio_of, pl.desc, pr.free_next, pr.free_prev,
                                 pr.unmovable_pb, start, end, 32 if sc.compaction_mode == "async" else 1)
    elif workload == "lru_walk":
        gen, args = W.gen_lru, (L, pl.desc, forder, mem.folios, mem.file_of, pl.mapping, pr.lru_all,
                                pr.lru_start, pr.lru_len, mem.pgtable_pfns)
    elif workload == "pagecache_lookup":
        # file folios renumbered in (file, index) order, as gen_pagecache expects
        first = np.concatenate([[0], np.cumsum(mem.file_nfolios)[:-1]]).astype(np.int64)
        gen, args = W.gen_pagecache, (L, pl.desc[fs], mem.folios[fs], forder[fs], first, mem.file_nfolios,
                                      mem.file_pages, mem.file_index[fs], np.cumsum(mem.file_pages), pl.mapping,
                                      pl.xa_nodes, pl.xa_first, pl.xa_depth, sc.lookup == "sequential", sc.seed)
    else:
        gen, args = W.gen_pfn_to_folio, (L, mem.folios, forder, pl.desc, pr.page_cum, sc.seed)
    while done < target:
        n, done = gen(out, cur, *args, target)
        if n == 0:
            break
        yield out[:n] if reuse else out[:n].copy()


def trace(workload: str, layout_name: str, sc: Scenario, ops: int | None = None, reuse: bool = False) -> Trace:
    meta = TraceMeta(tags=list(W.TAGS), source=f"{workload}/{layout_name}", format="kernel",
                     extra={"workload": workload, "layout": layout_name, "scenario": sc.name,
                            "scenario_file": sc.source, "seed": sc.seed,
                            "ops": int(ops if ops is not None else sc.ops)})
    return Trace(lambda: chunks(workload, layout_name, sc, ops, reuse=reuse), meta, workload)
