"""Memory overhead of each layout: memmap, descriptors (with slab slot
rounding), total, as a share of RAM (KERNEL.md section 5)."""
from __future__ import annotations

from .layouts import PAGE_SIZE, Layout
from .memory import PGTABLE, SLAB, Memory


def slab_bytes(count: int, slot: int) -> int:
    """Bytes of whole slab pages holding `count` objects of `slot` bytes."""
    if count == 0 or slot == 0:
        return 0
    per = PAGE_SIZE // slot
    return -(-count // per) * PAGE_SIZE


def overhead(mem: Memory, layout: Layout) -> dict:
    ram = mem.pfns * PAGE_SIZE
    memmap = mem.pfns * layout.entry
    desc = 0
    if layout.indirect:
        large = int((mem.folio_order > 0).sum())
        small = len(mem.folios) - large
        desc += slab_bytes(small, layout.folio_desc) + slab_bytes(large, layout.large_desc)
        # struct slab and ptdesc become separate allocations too (KERNEL.md 2.7)
        desc += slab_bytes(int((mem.kind == SLAB).sum()), layout.slab_desc)
        desc += slab_bytes(int((mem.kind == PGTABLE).sum()), layout.ptdesc)
    total = memmap + desc
    return {"layout": layout.name, "ram_bytes": ram, "memmap_bytes": memmap, "descriptor_bytes": desc,
            "total_bytes": total, "memmap_pct": 100 * memmap / ram, "descriptor_pct": 100 * desc / ram,
            "total_pct": 100 * total / ram}


def break_even_pages(desc_bytes: int, entry: int = 8, structpage: int = 64) -> float:
    """Folio size (pages) above which the indirect layout costs less memory
    than struct page: entry + desc/n < structpage  <=>  n > desc / (structpage - entry)."""
    return desc_bytes / (structpage - entry)


def per_pfn_bytes(desc_bytes: int, pages: int, entry: int = 8) -> float:
    return entry + desc_bytes / pages
