"""Re-laying a struct page trace out as memdesc (or another indirect layout).

A trace captured on today's kernel (perf, or ``cachesim trace ... --layout
structpage``) reads struct pages at ``vmemmap + 64*pfn + off``. Under the
memdesc plan the same kernel line reads the PFN's 8-byte word first and then
the field in the descriptor the word points to. Each record in the vmemmap
range becomes two:

1. the word: ``vmemmap + entry*pfn + word``, 8-byte read, tag ``memmap``,
   ``dep`` = the original record's (the page pointer came from the same load),
   site = the original site with bit 31 flipped (a different instruction, so
   the IP-stride prefetcher sees the 8-byte word stride apart from the field's);
2. the field: ``D(pfn) + map[off]``, the original size and kind, tag
   ``descriptor``, ``dep`` = records back to that word load.

The word is loaded once per op and PFN: further accesses of the same op to
the same PFN's struct page (with no other PFN's in between) reuse the
descriptor pointer, as ``folio = page_folio(page)`` followed by several
``folio->field`` accesses does, so they become only the descriptor access.
perf samples are one op each, so every sample gets its word load.

Every other record passes through unchanged apart from ``dep``, which is
recounted so it still reaches its producer across the inserted records
(exact within RING records; the engine's timing ignores anything further).

Field map (``offset_map``): struct page byte offset -> descriptor offset, built
from the tables in layouts.py by field name (flags, lru, mapping, index,
private, mapcount, refcount, memcg; offset 8 is taken as lru.next, the
compound_head read of a tail page being the word load itself in memdesc).
A trace carries no folio structure, so every PFN is its own order-0 folio
with its own descriptor: where the traced kernel went from a tail page to
its head page (``compound_head``), the re-laid trace reads two words and two
descriptors where memdesc reads one of each. The generated memdesc workloads
(``cachesim trace --layout memdesc``) model folios exactly.

Descriptors (``descriptor``): slab slots of ``layout.folio_desc`` bytes (96 for
memdesc: KERNEL.md 2.7), packed 4096 // slot per slab page, in a region of the
direct map above 1 TiB of physical memory, so they never share a line with
anything the trace itself touched. Two orders:

* ``random`` (the default, as in the scenarios: an aged system): the slot of
  PFN p is a seeded permutation of p over the machine's PFNs (``memory``,
  default 16 GiB), so a folio's descriptor is wherever the slab had a free
  slot, and each slab page sits at a seeded page of a RAM-sized range, as
  memory.py scatters slab pages over the slab pageblocks: the TLB reach the
  descriptors need is that of the machine's memory;
* ``sequential`` (a freshly booted machine, the best case): slot = p, slab
  pages in order, so PFN-adjacent pages have adjacent descriptors.

Stateless, so any chunk of any length is re-laid the same way with bounded
memory; the seed is the config's (``run``) or ``--seed`` (``convert``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from ..errors import CachesimError
from ..trace import READ, RECORD_DTYPE, Trace
from .layouts import LAYOUTS, PAGE_OFFSET, STRUCT_PAGE_FOLIO, VMEMMAP, Layout

VMEMMAP_SPAN = 1 << 40           # the vmemmap area with 4-level paging: 1 TiB (Documentation/arch/x86/x86_64/mm.rst)
DEFAULT_MEMORY = 16 << 30        # the machine's RAM when not given: the default scenario's (workloads/server.toml)
DESC_REGION = PAGE_OFFSET + (1 << 40)
RING = 1 << 16                   # records over which dep is recounted exactly
WORD_SITE = np.uint32(1 << 31)
ORDERS = ("random", "sequential")
IDENTITY = "structpage"          # the layout the trace was recorded in: records only re-tagged
FEISTEL_ROUNDS = 4


def offset_map(target: Layout) -> np.ndarray:
    """Descriptor offset of each of the 64 struct page bytes (first matching field by name wins)."""
    m = np.full(64, -1, np.int64)
    for name, (_, off, size) in STRUCT_PAGE_FOLIO.items():
        if off >= 64 or name not in target.fields:
            continue
        obj, doff, _ = target.fields[name]
        if obj != "desc":
            continue
        for b in range(off, off + size):
            if m[b] < 0:
                m[b] = doff + b - off
    hole = np.flatnonzero(m < 0)
    if len(hole):
        raise CachesimError(f"layout {target.name}: struct page bytes {hole[0]}..{hole[-1]} map to no descriptor field")
    return m


@njit(cache=True, inline="always")
def _mix(x):
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    return x


@njit(cache=True)
def permute(x, n, keys):
    """A seeded bijection on [0, n): a balanced Feistel network on the smallest even
    number of bits covering n, cycle-walked back into range (at most ~4 steps on average)."""
    bits = 2
    while (1 << bits) < n:
        bits += 2
    half = np.uint64(bits // 2)
    mask = np.uint64((1 << (bits // 2)) - 1)
    y = np.uint64(x)
    while True:
        left = (y >> half) & mask
        right = y & mask
        for k in range(keys.shape[0]):
            left, right = right, left ^ (_mix(right ^ keys[k]) & mask)
        y = (left << half) | right
        if y < np.uint64(n):
            return np.int64(y)


@njit(cache=True)
def descriptor(pfn, npfns, slot_size, per_page, slot_keys, page_keys):
    """Offset of PFN's descriptor in the descriptor region. No keys: slot = PFN, slab pages in
    order. Keys: slot = a permutation of the PFN within the machine's npfns, and the slab page
    holding it a permutation of the page number over npfns pages (scattered like RAM)."""
    if slot_keys.shape[0] == 0:
        return (pfn // per_page) * 4096 + (pfn % per_page) * slot_size
    wrap = (pfn // npfns) * npfns         # a PFN above the memory given: the same scheme, one RAM higher
    s = permute(pfn - wrap, npfns, slot_keys)
    page = permute(s // per_page, npfns, page_keys)
    return (wrap + page) * 4096 + (s % per_page) * slot_size


@njit(cache=True, inline="always")
def _put(out, n, addr, size, kind, tag, op, site, dep, weight):
    o = out[n]
    o.addr = addr
    o.size = size
    o.kind = kind
    o.tag = tag
    o.op = op
    o.site = site
    o.dep = min(dep, 0xFFFFFFFF)
    o.weight = weight


# relayout_chunk's state, carried from chunk to chunk
S_READ, S_INSERTED, S_WRITTEN, S_REWRITTEN, S_OP, S_PFN, S_WORD = range(7)


@njit(cache=True)
def relayout_chunk(inp, out, base, entry, word, offmap, desc_base, npfns, slot_size, per_page, slot_keys,
                   page_keys, identity, t_memmap, t_desc, ring, state):
    """Re-lay `inp` into `out` (at least 2*len(inp) long); returns records written.
    `state` (S_*): records read, word loads inserted, records written, struct page records
    re-laid, and the op, PFN and output index of the last word load."""
    n = 0
    i = state[S_READ]
    ins = state[S_INSERTED]
    n0 = state[S_WRITTEN]
    span = np.uint64(VMEMMAP_SPAN)
    ubase = np.uint64(base)
    for r in range(inp.shape[0]):
        rec = inp[r]
        ring[i % RING] = ins
        d = np.int64(rec.dep)
        nd = d
        if 0 < d < RING and d <= i:
            nd = d + ins - ring[(i - d + 1) % RING]     # word loads inserted between producer and us
        a = np.uint64(rec.addr)
        rel = a - ubase
        if a >= ubase and rel < span:
            pfn = np.int64(rel >> np.uint64(6))
            state[S_REWRITTEN] += 1
            if identity:
                _put(out, n, a, rec.size, rec.kind, t_memmap, rec.op, rec.site, d, rec.weight)
                n += 1
            else:
                if not (np.int64(rec.op) == state[S_OP] and pfn == state[S_PFN]):
                    # the kernel loads the word once and keeps the descriptor pointer in a
                    # register while it works on that page: a new op or another PFN reloads it
                    _put(out, n, ubase + np.uint64(entry * pfn + word), 8, READ, t_memmap, rec.op,
                         rec.site ^ WORD_SITE, nd, rec.weight)
                    state[S_OP] = np.int64(rec.op)
                    state[S_PFN] = pfn
                    state[S_WORD] = n0 + n
                    n += 1
                    ins += 1
                daddr = desc_base + descriptor(pfn, npfns, slot_size, per_page, slot_keys, page_keys) \
                    + offmap[np.int64(rel & np.uint64(63))]
                _put(out, n, np.uint64(daddr), rec.size, rec.kind, t_desc, rec.op, rec.site,
                     n0 + n - state[S_WORD], rec.weight)
                n += 1
        else:
            _put(out, n, a, rec.size, rec.kind, rec.tag, rec.op, rec.site, nd, rec.weight)
            n += 1
        i += 1
    state[S_READ] = i
    state[S_INSERTED] = ins
    state[S_WRITTEN] = n0 + n
    return n


@dataclass(frozen=True)
class Relayout:
    """How to re-lay a struct page trace: target layout, vmemmap base, descriptor order and seed."""
    layout: str
    vmemmap: int = VMEMMAP
    order: str = "random"
    seed: int = 0
    memory: int = DEFAULT_MEMORY

    def check(self) -> Layout:
        if self.layout not in LAYOUTS:
            raise CachesimError(f"unknown layout {self.layout!r} to re-lay a trace in: "
                                f"expected one of {', '.join(LAYOUTS)}")
        target = LAYOUTS[self.layout]
        if self.layout != IDENTITY and not target.indirect:
            raise CachesimError(f"layout {self.layout!r} has no descriptors to re-lay a struct page trace into")
        if self.order not in ORDERS:
            raise CachesimError(f"descriptor order {self.order!r}: expected one of {', '.join(ORDERS)}")
        if not (1 << 20 <= self.memory <= 1 << 46) or self.memory % 4096:
            raise CachesimError(f"memory {self.memory}: expected whole 4 KiB pages, 1 MiB to 64 TiB")
        if not (0 <= self.vmemmap < 1 << 64) or self.vmemmap % 4096:
            raise CachesimError(f"vmemmap base {self.vmemmap:#x}: expected a page-aligned 64-bit address")
        return target

    def keys(self) -> np.ndarray:
        if self.order == "sequential":
            return np.zeros(0, np.uint64)
        ss = np.random.SeedSequence([self.seed, 0x6D656D64])   # "memd": keys apart from other seeded draws
        return ss.generate_state(2 * FEISTEL_ROUNDS, np.uint64)      # slots, then slab pages

    def describe(self) -> dict:
        t = LAYOUTS[self.layout]
        d = {"layout": self.layout, "vmemmap": f"{self.vmemmap:#x}"}
        if self.layout != IDENTITY:
            d.update(descriptor_order=self.order, seed=self.seed, memory=self.memory,
                     descriptor_slot=t.folio_desc, descriptor_region=f"{DESC_REGION:#x}", memmap_entry=t.entry)
        return d


def _tag(tags: list[str], name: str) -> int:
    if name not in tags:
        if len(tags) >= 255:
            raise CachesimError(f"trace has {len(tags)} tags: no room for {name!r}")
        tags.append(name)
    return tags.index(name)


def relayout(trace: Trace, how: Relayout) -> Trace:
    """A streaming trace: `trace` with its struct page accesses re-laid per `how`."""
    target = how.check()
    info = {**how.describe(), "records_rewritten": 0, "word_loads": 0}
    meta = replace(trace.meta, extra={**trace.meta.extra, "relayout": info})

    def name_tags() -> tuple[int, int]:
        meta.tags = list(trace.meta.tags)
        return _tag(meta.tags, "memmap"), _tag(meta.tags, "descriptor")

    name_tags()                              # known now for .npy; a text reader names its tags as it starts
    identity = how.layout == IDENTITY
    offmap = np.zeros(64, np.int64) if identity else offset_map(target)
    slot = max(16, target.folio_desc)
    keys = how.keys()
    npfns = how.memory // 4096
    base = how.vmemmap - (1 << 64) if how.vmemmap >= 1 << 63 else how.vmemmap
    desc_base = DESC_REGION - (1 << 64)

    def sync(state):
        # a streaming reader sets its tags and fills its counters as it reads
        src = trace.meta
        meta.skipped_lines, meta.ignored_lines = src.skipped_lines, src.ignored_lines
        meta.format, meta.sampled, meta.sites = src.format, src.sampled, list(src.sites)
        meta.extra.update({k: v for k, v in src.extra.items() if k != "relayout"})
        info["records_rewritten"] = int(state[S_REWRITTEN])
        info["word_loads"] = int(state[S_INSERTED])

    def chunks():
        ring = np.zeros(RING, np.int64)
        state = np.zeros(7, np.int64)
        state[S_OP] = state[S_PFN] = -1
        t_memmap = -1
        for c in trace.chunks():
            if t_memmap < 0:
                t_memmap, t_desc = name_tags()
            out = np.empty(2 * len(c), RECORD_DTYPE)
            n = relayout_chunk(c, out, base, target.entry, target.word, offmap, desc_base, npfns, slot,
                               4096 // slot, keys[:FEISTEL_ROUNDS], keys[FEISTEL_ROUNDS:], identity,
                               t_memmap, t_desc, ring, state)
            sync(state)
            yield out[:n]
        sync(state)

    return Trace(chunks, meta, trace.name)
