"""Struct member offsets from DWARF (pyelftools): struct page, struct folio
and, where the binary has them, struct slab, struct ptdesc and list_head.

The kernel's struct page is mostly anonymous unions of anonymous structs,
so members are flattened the way C itself names them: a member of an
anonymous struct or union is a member of the enclosing struct, at the
enclosing offset plus its own. A named member (``lru``, ``__page_1``) is
one field with the size of its type; its own members are not listed (the
helper struct list_head is read so ``lru.prev`` can be computed). Bitfields
carry the absolute bit position of their lowest bit and their width, read
from DWARF 4+'s ``DW_AT_data_bit_offset`` or DWARF 2/3's big-endian
``DW_AT_bit_offset`` (which GCC still emits with -gdwarf-4).

A vmlinux is thousands of compile units, each defining the types it uses:
units are read in order, only their top-level type DIEs are looked at, and
reading stops as soon as every wanted struct has been found. Definitions in
later units are the same (one kernel, one set of headers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CachesimError

WANTED = ("page", "folio", "slab", "ptdesc", "list_head")
REQUIRED = "page"

_QUALIFIERS = {"DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_atomic_type",
               "DW_TAG_restrict_type"}
_AGGREGATES = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}
DW_OP_PLUS_UCONST = 0x23


@dataclass
class Member:
    name: str
    offset: int            # bytes from the start of the struct (bitfields: the byte holding the lowest bit)
    size: int              # bytes (bitfields: bytes the bits touch)
    type: str
    bit_offset: int | None = None   # bitfields: bit of the lowest bit, from the struct's start
    bits: int | None = None


@dataclass
class Struct:
    name: str
    size: int
    unit: str                       # compile unit it was read from
    members: list[Member] = field(default_factory=list)

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


@dataclass
class DwarfLayout:
    source: str
    dwarf_versions: list[int]
    units_read: int
    structs: dict[str, Struct]


class _Bad(Exception):
    """A DWARF construct this reader cannot interpret (message names it)."""


def _name(die) -> str | None:
    a = die.attributes.get("DW_AT_name")
    if a is None:
        return None
    v = a.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _type_of(die):
    return die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None


def _strip(t):
    """Follow typedefs and qualifiers to the type that has the layout."""
    while t is not None and t.tag in _QUALIFIERS:
        t = _type_of(t)
    return t


def _array_count(t) -> int:
    n = 1
    for sub in t.iter_children():
        if sub.tag != "DW_TAG_subrange_type":
            continue
        if "DW_AT_count" in sub.attributes:
            n *= int(sub.attributes["DW_AT_count"].value)
        elif "DW_AT_upper_bound" in sub.attributes:
            n *= int(sub.attributes["DW_AT_upper_bound"].value) + 1
        else:
            return 0                       # flexible array member: no storage of its own
    return n


def _size(t) -> int:
    t0 = t
    t = _strip(t)
    if t is None:
        raise _Bad(f"member of type {_type_name(t0)} has no size (void)")
    if "DW_AT_byte_size" in t.attributes:
        return int(t.attributes["DW_AT_byte_size"].value)
    if t.tag == "DW_TAG_pointer_type":
        return t.cu["address_size"]
    if t.tag == "DW_TAG_array_type":
        return _array_count(t) * _size(_type_of(t))
    raise _Bad(f"type {_type_name(t0)} ({t.tag}) has no byte size")


def _type_name(t) -> str:
    if t is None:
        return "void"
    name = _name(t)
    if t.tag in _AGGREGATES:
        return f"{_AGGREGATES[t.tag]} {name}" if name else f"<anonymous {_AGGREGATES[t.tag]}>"
    if t.tag == "DW_TAG_enumeration_type":
        return f"enum {name}" if name else "<anonymous enum>"
    if t.tag == "DW_TAG_pointer_type":
        return _type_name(_type_of(t)) + " *"
    if t.tag == "DW_TAG_array_type":
        return f"{_type_name(_type_of(t))}[{_array_count(t)}]"
    if t.tag == "DW_TAG_subroutine_type":
        return "function"
    if t.tag in _QUALIFIERS and t.tag != "DW_TAG_typedef":
        return _type_name(_type_of(t))
    return name or t.tag


def _uleb(data, i: int) -> int:
    v = shift = 0
    while True:
        b = data[i]
        v |= (b & 0x7F) << shift
        shift += 7
        i += 1
        if not b & 0x80:
            return v


def _location(m) -> int:
    """DW_AT_data_member_location: a constant (DWARF 3+) or, in DWARF 2, an
    expression DW_OP_plus_uconst N. Absent in union members: offset 0."""
    a = m.attributes.get("DW_AT_data_member_location")
    if a is None:
        return 0
    if isinstance(a.value, int):
        return a.value
    expr = list(a.value)
    if expr and expr[0] == DW_OP_PLUS_UCONST:
        return _uleb(expr, 1)
    raise _Bad(f"member {_name(m) or '<anonymous>'}: location expression {expr} is not DW_OP_plus_uconst")


def _bitfield(m, base: int, t) -> tuple[int, int]:
    """(absolute lowest bit, width) of a bitfield member on a little-endian target."""
    bits = int(m.attributes["DW_AT_bit_size"].value)
    if "DW_AT_data_bit_offset" in m.attributes:            # DWARF 4+: from the containing struct's start
        return base * 8 + int(m.attributes["DW_AT_data_bit_offset"].value), bits
    # DWARF 2/3: storage unit of DW_AT_byte_size bytes at the member location,
    # DW_AT_bit_offset counted from its most significant bit
    unit = int(m.attributes["DW_AT_byte_size"].value) if "DW_AT_byte_size" in m.attributes else _size(t)
    msb_off = int(m.attributes.get("DW_AT_bit_offset").value) if "DW_AT_bit_offset" in m.attributes else 0
    return (base + _location(m)) * 8 + unit * 8 - msb_off - bits, bits


def _flatten(agg, base: int, out: list[Member]) -> None:
    for m in agg.iter_children():
        if m.tag != "DW_TAG_member":
            continue
        t = _type_of(m)
        name = _name(m)
        st = _strip(t)
        if name is None:
            if st is None or st.tag not in _AGGREGATES:
                raise _Bad(f"anonymous member of {_type_name(agg)} is not a struct or union")
            _flatten(st, base + _location(m), out)
            continue
        if "DW_AT_bit_size" in m.attributes:
            first, bits = _bitfield(m, base, t)
            last = first + bits - 1
            out.append(Member(name, first // 8, last // 8 - first // 8 + 1, _type_name(t), first, bits))
            continue
        out.append(Member(name, base + _location(m), _size(t), _type_name(t)))


def _struct(die, unit: str) -> Struct:
    s = Struct(_name(die), int(die.attributes["DW_AT_byte_size"].value), unit)
    _flatten(die, 0, s.members)
    seen = set()
    s.members = [m for m in s.members if not (m.name in seen or seen.add(m.name))]
    s.members.sort(key=lambda m: (m.offset, m.bit_offset or 0))
    return s


def _unit_name(cu) -> str:
    try:
        return _name(cu.get_top_DIE()) or "?"
    except Exception:   # noqa: BLE001 - a unit without a readable name is still a unit
        return "?"


def read_structs(path: str | Path, wanted: tuple[str, ...] = WANTED) -> DwarfLayout:
    """The wanted structs from the DWARF of `path` (a vmlinux, module or object)."""
    from elftools.common.exceptions import DWARFError, ELFError, ELFParseError
    from elftools.construct.core import ConstructError
    from elftools.elf.elffile import ELFFile
    import struct as _struct_mod
    p = Path(path)
    malformed = (DWARFError, ELFParseError, ConstructError, _struct_mod.error, KeyError, IndexError,
                 ValueError, TypeError, AttributeError, UnicodeDecodeError, AssertionError)
    try:
        f = open(p, "rb")
    except FileNotFoundError:
        raise CachesimError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise CachesimError(f"{p}: is a directory, expected a vmlinux with DWARF") from None
    with f:
        try:
            elf = ELFFile(f)
        except (ELFError, *malformed) as e:
            raise CachesimError(f"{p}: not an ELF file ({e}); expected a vmlinux or object built with -g") from None
        try:
            if not elf.has_dwarf_info() or elf.get_section_by_name(".debug_info") is None \
                    and elf.get_section_by_name(".zdebug_info") is None:
                raise CachesimError(f"{p}: no DWARF debug info (.debug_info); build with CONFIG_DEBUG_INFO "
                                    "(DWARF4/DWARF5) or use the debug package's vmlinux")
            dwarf = elf.get_dwarf_info()
            found: dict[str, Struct] = {}
            versions: set[int] = set()
            units = 0
            for cu in dwarf.iter_CUs():
                units += 1
                versions.add(int(cu["version"]))
                top = cu.get_top_DIE()
                for die in top.iter_children():
                    if die.tag != "DW_TAG_structure_type" or "DW_AT_declaration" in die.attributes \
                            or "DW_AT_byte_size" not in die.attributes:
                        continue
                    name = _name(die)
                    if name in wanted and name not in found:
                        found[name] = _struct(die, _unit_name(cu))
                if len(found) == len(wanted):
                    break
        except _Bad as e:
            raise CachesimError(f"{p}: {e}") from None
        except (ELFError, *malformed) as e:
            raise CachesimError(f"{p}: malformed ELF/DWARF ({type(e).__name__}: {e})") from None
    if REQUIRED not in found:
        raise CachesimError(f"{p}: no struct {REQUIRED} in its DWARF ({units} compile units read); "
                            "expected a kernel built with debug info")
    return DwarfLayout(str(p), sorted(versions), units, {n: found[n] for n in wanted if n in found})
