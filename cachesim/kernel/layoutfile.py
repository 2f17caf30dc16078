"""LAYOUT.toml: struct offsets read from DWARF (``cachesim layout``), written
as TOML and read back into the structpage field table of ``layouts.py``.

The file::

    [source]
    file = "vmlinux"
    dwarf_versions = [5]
    compile_units_read = 12

    [page]
    size = 64
    compile_unit = "init/main.c"

    [page.members]
    flags = { offset = 0, size = 8, type = "memdesc_flags_t" }
    lru = { offset = 8, size = 16, type = "struct list_head" }
    ...
    [slab.members]
    inuse = { offset = 40, size = 2, type = "unsigned int", bit_offset = 320, bits = 16 }

``structpage_fields`` maps it onto the table the workload generators use
(``layouts.STRUCT_PAGE_FOLIO``: field -> ("page", offset, size)), so a
kernel whose layout differs from the 6.18 one built in can be modelled with
``structpage_layout(path)``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import CachesimError
from .dwarf import DwarfLayout

HEADER = """\
# Struct layouts read from DWARF by `cachesim layout --vmlinux FILE` (pyelftools).
# offset and size are bytes; a bitfield also has bit_offset (its lowest bit, counted
# from the start of the struct) and bits. Members of anonymous unions and structs are
# listed as members of the enclosing struct, as C names them; a named member is one
# entry with the size of its type.
"""

# structpage table field -> (struct, member names to try in order, list_head member or None).
# Alternatives cover renames across kernels (KERNEL.md 1.4: index became __folio_index,
# _folio_nr_pages became _nr_pages).
STRUCT_PAGE_MEMBERS = {
    "flags": ("page", ("flags",), None),
    "lru_next": ("page", ("lru",), "next"),
    "lru_prev": ("page", ("lru",), "prev"),
    "compound_head": ("page", ("compound_head",), None),
    "mapping": ("page", ("mapping",), None),
    "index": ("page", ("__folio_index", "index"), None),
    "private": ("page", ("private",), None),
    "page_type": ("page", ("page_type",), None),
    "mapcount": ("page", ("_mapcount",), None),
    "refcount": ("page", ("_refcount",), None),
    "memcg": ("page", ("memcg_data",), None),
    "flags_1": ("folio", ("_flags_1",), None),
    "large_mapcount": ("folio", ("_large_mapcount",), None),
    "pincount": ("folio", ("_pincount",), None),
    "nr_pages": ("folio", ("_nr_pages", "_folio_nr_pages"), None),
    "buddy_type": ("page", ("page_type",), None),
    "buddy_order": ("page", ("private",), None),
    "buddy_next": ("page", ("buddy_list",), "next"),
    "buddy_prev": ("page", ("buddy_list",), "prev"),
}


def _s(v: str) -> str:
    return json.dumps(v)      # a JSON string is a TOML basic string


def to_toml(lay: DwarfLayout) -> str:
    out = [HEADER, "[source]", f"file = {_s(lay.source)}",
           f"dwarf_versions = [{', '.join(str(v) for v in lay.dwarf_versions)}]",
           f"compile_units_read = {lay.units_read}", ""]
    for name, st in lay.structs.items():
        out += [f"[{name}]", f"size = {st.size}", f"compile_unit = {_s(st.unit)}", "", f"[{name}.members]"]
        for m in st.members:
            extra = f", bit_offset = {m.bit_offset}, bits = {m.bits}" if m.bits is not None else ""
            out.append(f"{m.name} = {{ offset = {m.offset}, size = {m.size}, type = {_s(m.type)}{extra} }}")
        out.append("")
    return "\n".join(out)


def write(lay: DwarfLayout, output: str | None) -> None:
    """To `output` atomically, or to stdout."""
    text = to_toml(lay)
    if output is None:
        sys.stdout.write(text)
        return
    from ..trace import atomic_write_bytes
    p = Path(output)
    if not p.parent.is_dir():
        raise CachesimError(f"{p}: directory {p.parent} does not exist")
    atomic_write_bytes(p, text.encode())


def load(path: str | Path) -> dict:
    """A LAYOUT.toml as {struct: {"size": n, "members": {name: {...}}}}, checked."""
    import tomllib
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise CachesimError(f"{p}: no such layout file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CachesimError(f"{p}: invalid TOML: {e}") from None
    structs = {k: v for k, v in doc.items() if k != "source"}
    if "page" not in structs:
        raise CachesimError(f"{p}: no [page] table; expected the output of `cachesim layout`")
    for sname, st in structs.items():
        if not isinstance(st, dict) or not isinstance(st.get("size"), int) \
                or not isinstance(st.get("members"), dict):
            raise CachesimError(f"{p}: [{sname}] expected an integer 'size' and a [{sname}.members] table")
        for mname, m in st["members"].items():
            if not isinstance(m, dict) or not isinstance(m.get("offset"), int) or not isinstance(m.get("size"), int):
                raise CachesimError(f"{p}: [{sname}.members] {mname}: expected integer 'offset' and 'size'")
    return structs


def structpage_fields(path: str | Path) -> dict:
    """The structpage field table (layouts.STRUCT_PAGE_FOLIO's shape) from a LAYOUT.toml."""
    structs = load(path)
    table = {}
    for field, (sname, names, sub) in STRUCT_PAGE_MEMBERS.items():
        members = structs.get(sname, {}).get("members", {})
        m = next((members[n] for n in names if n in members), None)
        if m is None:
            raise CachesimError(f"{path}: [{sname}.members] has none of {', '.join(names)} "
                                f"(needed for the structpage field {field!r})")
        off, size = m["offset"], m["size"]
        if sub is not None:
            lh = structs.get("list_head", {}).get("members", {}).get(sub)
            if lh is None:
                raise CachesimError(f"{path}: [list_head.members] {sub} missing (needed for {field!r})")
            off, size = off + lh["offset"], lh["size"]
        table[field] = ("page", off, size)
    return table


def structpage_layout(path: str | Path):
    """The built-in structpage layout with its offsets taken from a LAYOUT.toml."""
    from .layouts import LAYOUTS
    return replace(LAYOUTS["structpage"], fields=structpage_fields(path), sources=(str(path),))
