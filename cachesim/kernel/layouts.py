"""Metadata layouts as data: where each field a kernel path reads lives.

A layout is one table. ``entry`` is the bytes of memmap per PFN; every field
is (object, offset, size), object ``"page"`` (the PFN's memmap entry, or the
head page's for folio fields in struct page) or ``"desc"`` (a separately
allocated descriptor). Another design is another table, not new code.

Sources: KERNEL.md 1.2-1.3 (struct page / struct folio offsets from 6.18
BTF), 2.3 (32-byte struct page and the 80-byte folio of the Path design),
2.4 (16-byte buddy Option 1), 2.7 (the 8-byte memdesc word, descriptors
16-byte aligned from slab caches).
"""
from __future__ import annotations

from dataclasses import dataclass, field

VMEMMAP = 0xFFFFEA0000000000      # __VMEMMAP_BASE_L4 (arch/x86/include/asm/pgtable_64_types.h)
PAGE_OFFSET = 0xFFFF888000000000  # direct map base, 4-level paging
PAGE_SIZE = 4096


def signed(addr: int) -> int:
    """A 64-bit address as the int64 bit pattern numpy and numba compute with."""
    return addr - (1 << 64) if addr >= 1 << 63 else addr


VMEMMAP_S = signed(VMEMMAP)
PAGE_OFFSET_S = signed(PAGE_OFFSET)

# memdesc word tags (KERNEL.md 2.2, newer revision): bits 0-3 type
TAG_MISC, TAG_BUDDY, TAG_FILE, TAG_ANON, TAG_KSM, TAG_SLAB, TAG_MOVABLE, TAG_PAGETABLE = range(8)
ORDER_SHIFT = 12  # order in bits 12-17 of pointer-less words (Misc, Buddy)

# folio fields used by the workloads; struct folio offsets (6.18 BTF)
STRUCT_PAGE_FOLIO = {
    "flags": ("page", 0, 8), "lru_next": ("page", 8, 8), "lru_prev": ("page", 16, 8),
    "compound_head": ("page", 8, 8), "mapping": ("page", 24, 8), "index": ("page", 32, 8),
    "private": ("page", 40, 8), "page_type": ("page", 48, 4), "mapcount": ("page", 48, 4),
    "refcount": ("page", 52, 4), "memcg": ("page", 56, 8), "flags_1": ("page", 64, 8),
    "large_mapcount": ("page", 80, 4), "pincount": ("page", 92, 4), "nr_pages": ("page", 120, 4),
    # free (buddy) pages
    "buddy_type": ("page", 48, 4), "buddy_order": ("page", 40, 8),
    "buddy_next": ("page", 8, 8), "buddy_prev": ("page", 16, 8),
}

# the Path design's struct folio (KERNEL.md 2.3), natural alignment, 80 B;
# large folios get the ASSUMPTION fields of 2.7 (128 B)
PATH_FOLIO = {
    "flags": ("desc", 0, 8), "lru_next": ("desc", 8, 8), "lru_prev": ("desc", 16, 8),
    "mapping": ("desc", 24, 8), "index": ("desc", 32, 8), "private": ("desc", 40, 8),
    "refcount": ("desc", 48, 4), "mapcount": ("desc", 52, 4), "pincount": ("desc", 56, 4),
    "order": ("desc", 60, 1), "pfn": ("desc", 64, 8), "memcg": ("desc", 72, 8),
    "large_mapcount": ("desc", 80, 4), "nr_pages": ("desc", 60, 1),
}


@dataclass(frozen=True)
class Layout:
    name: str
    entry: int                      # memmap bytes per PFN
    fields: dict                    # field -> (object, offset, size)
    indirect: bool                  # folio fields live in a descriptor reached from the memmap word
    word: int = 0                   # offset of the memdesc word in the entry
    buddy_order_in_word: bool = False
    buddy_links_in_entry: bool = False  # free-list links inside the memmap entry (else kept outside)
    folio_desc: int = 0             # descriptor slab slot, order-0 folio (bytes)
    large_desc: int = 0             # descriptor slab slot, large folio
    slab_desc: int = 0              # struct slab descriptor (separately allocated)
    ptdesc: int = 0
    notes: str = ""
    sources: tuple = field(default_factory=tuple)

    def field(self, name: str) -> tuple[str, int, int]:
        return self.fields[name]


LAYOUTS = {
    "structpage": Layout(
        "structpage", 64, STRUCT_PAGE_FOLIO, indirect=False, buddy_links_in_entry=True,
        notes="64-byte struct page per PFN; struct folio overlays the head page and the next 3",
        sources=("KERNEL.md 1.2", "KERNEL.md 1.3")),
    "memdesc": Layout(
        "memdesc", 8, PATH_FOLIO, indirect=True, word=0, buddy_order_in_word=True,
        folio_desc=96, large_desc=128, slab_desc=64, ptdesc=64,
        notes="8-byte tagged word per PFN; descriptors from SLAB_TYPESAFE_BY_RCU slabs, 16 B aligned "
              "(96 B slot for the 80 B folio: SLUB puts the free pointer after the object); "
              "free-list links kept outside the memmap (B-ext)",
        sources=("KERNEL.md 2.2", "KERNEL.md 2.7")),
    "page32": Layout(
        "page32", 32, PATH_FOLIO, indirect=True, word=8, buddy_order_in_word=False,
        buddy_links_in_entry=True, folio_desc=80, large_desc=128,
        notes="32-byte struct page {flags; memdesc|buddy_list; private|_mapcount; _refcount}; "
              "buddy order in private@16; 80 B folio with freeptr_offset",
        sources=("KERNEL.md 2.3",)),
    "page16": Layout(
        "page16", 16, PATH_FOLIO, indirect=True, word=0, buddy_order_in_word=True,
        buddy_links_in_entry=True, folio_desc=96, large_desc=128, slab_desc=64, ptdesc=64,
        notes="16-byte struct page, buddy Option 1 {next|type, prev|order}: links in the entry",
        sources=("KERNEL.md 2.4",)),
}

# where the buddy order lives for layouts that keep it outside the word
PAGE32_BUDDY_ORDER = 16


def get(name: str) -> Layout:
    from ..errors import CachesimError
    if name not in LAYOUTS:
        raise CachesimError(f"unknown layout {name!r}: expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
