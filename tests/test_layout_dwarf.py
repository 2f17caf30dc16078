"""`cachesim layout --vmlinux`: struct offsets from DWARF.

tests/data/dwarf/mm_types.c declares struct page, folio, slab and ptdesc as
Linux 6.18 lays them out. It is compiled twice: with -g -c for the DWARF
the reader reads, and as a program that prints offsetof/sizeof (and the
bits a bitfield occupies) as the compiler itself laid them out: the
independent truth. KERNEL.md's published offsets are checked as well."""
import shutil
import subprocess
import tomllib

import pytest

from cachesim.cli import main
from cachesim.kernel.layoutfile import structpage_fields, structpage_layout
from cachesim.kernel.layouts import STRUCT_PAGE_FOLIO
from conftest import DATA

SRC = DATA / "dwarf" / "mm_types.c"

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ld") is None,
                                reason="gcc/ld not installed: these tests compile tests/data/dwarf/mm_types.c")


def gcc(*args):
    subprocess.run(["gcc", *map(str, args)], check=True, capture_output=True)


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """{struct: {"size": n, member: (offset, size) or ("bit", first, bits)}} from the compiled program."""
    d = tmp_path_factory.mktemp("truth")
    gcc("-O0", "-o", d / "mm_types", SRC)
    out = subprocess.run([d / "mm_types"], check=True, capture_output=True, text=True).stdout
    t: dict = {}
    for line in out.splitlines():
        s, m, *rest = line.split()
        if m == "size":
            t.setdefault(s, {})["size"] = int(rest[0])
        elif rest[0] == "bit":
            t[s][m] = ("bit", int(rest[1]), int(rest[2]))
        else:
            t[s][m] = (int(rest[0]), int(rest[1]))
    assert set(t) == {"list_head", "page", "folio", "slab", "ptdesc"}
    return t


def layout_toml(capsys, tmp_path, obj):
    out = tmp_path / "LAYOUT.toml"
    rc, stdout, err = cli(capsys, "layout", "--vmlinux", obj, "-o", out)
    assert rc == 0, err
    assert str(out) in stdout
    return out, tomllib.loads(out.read_text())


@pytest.mark.parametrize("version", [4, 5])
def test_offsets_equal_the_compiler_s(tmp_path, capsys, truth, version):
    obj = tmp_path / "mm_types.o"
    gcc("-g", f"-gdwarf-{version}", "-c", "-o", obj, SRC)
    _, doc = layout_toml(capsys, tmp_path, obj)
    assert doc["source"]["dwarf_versions"] == [version]
    for sname, want in truth.items():
        got = doc[sname]
        assert got["size"] == want["size"], sname
        members = got["members"]
        assert set(members) == set(want) - {"size"}, sname        # every member, flattened, nothing more
        for mname, w in want.items():
            if mname == "size":
                continue
            m = members[mname]
            if w[0] == "bit":
                assert (m["bit_offset"], m["bits"]) == w[1:], (sname, mname)
                assert m["offset"] == w[1] // 8 and m["offset"] + m["size"] == (w[1] + w[2] - 1) // 8 + 1
            else:
                assert (m["offset"], m["size"]) == w, (sname, mname)
                assert "bits" not in m


def test_kernel_md_published_offsets(tmp_path, capsys):
    obj = tmp_path / "mm_types.o"
    gcc("-g", "-c", "-o", obj, SRC)
    _, doc = layout_toml(capsys, tmp_path, obj)
    page = {k: (v["offset"], v["size"]) for k, v in doc["page"]["members"].items()}
    # KERNEL.md 1.2 (6.18 BTF)
    assert doc["page"]["size"] == 64
    assert page["flags"] == (0, 8) and page["lru"] == (8, 16) and page["compound_head"] == (8, 8)
    assert page["mapping"] == (24, 8) and page["__folio_index"] == (32, 8) and page["private"] == (40, 8)
    assert page["page_type"] == (48, 4) and page["_mapcount"] == (48, 4)
    assert page["_refcount"] == (52, 4) and page["memcg_data"] == (56, 8)
    # KERNEL.md 1.3 and 1.6
    folio = {k: v["offset"] for k, v in doc["folio"]["members"].items()}
    assert doc["folio"]["size"] == 256
    assert (folio["_flags_1"], folio["_large_mapcount"], folio["_nr_pages_mapped"], folio["_entire_mapcount"],
            folio["_pincount"], folio["_nr_pages"], folio["_deferred_list"]) == (64, 80, 84, 88, 92, 120, 144)
    slab = doc["slab"]["members"]
    assert slab["freelist"]["offset"] == 32 and slab["counters"]["offset"] == 40 and slab["obj_exts"]["offset"] == 56
    assert (slab["inuse"]["bits"], slab["objects"]["bits"], slab["frozen"]["bits"]) == (16, 15, 1)
    assert doc["ptdesc"]["members"]["ptl"]["offset"] == 40


@pytest.mark.parametrize("version", [4, 5])
def test_layout_file_gives_the_structpage_table(tmp_path, capsys, version):
    """The built-in structpage table (layouts.py) is exactly what the DWARF says."""
    obj = tmp_path / "mm_types.o"
    gcc("-g", f"-gdwarf-{version}", "-c", "-o", obj, SRC)
    out, _ = layout_toml(capsys, tmp_path, obj)
    assert structpage_fields(out) == STRUCT_PAGE_FOLIO
    assert structpage_layout(out).fields == STRUCT_PAGE_FOLIO


def test_structs_split_over_compile_units(tmp_path, capsys):
    """struct slab only in a later unit (DWARF 4), struct page in the first (DWARF 5)."""
    page_c, slab_c = tmp_path / "page_unit.c", tmp_path / "slab_unit.c"
    shutil.copy(SRC, page_c)
    shutil.copy(SRC, slab_c)
    gcc("-g", "-gdwarf-5", "-c", "-DNO_MAIN", "-DPAGE_UNIT", "-o", tmp_path / "a.o", page_c)
    gcc("-g", "-gdwarf-4", "-c", "-DNO_MAIN", "-DSLAB_UNIT", "-o", tmp_path / "b.o", slab_c)
    subprocess.run(["ld", "-r", "-o", tmp_path / "ab.o", tmp_path / "a.o", tmp_path / "b.o"], check=True)
    _, doc = layout_toml(capsys, tmp_path, tmp_path / "ab.o")
    assert doc["source"]["dwarf_versions"] == [4, 5] and doc["source"]["compile_units_read"] == 2
    assert doc["page"]["compile_unit"].endswith("page_unit.c")
    assert doc["slab"]["compile_unit"].endswith("slab_unit.c")
    assert doc["slab"]["members"]["frozen"]["bit_offset"] == 351


def test_stdout_when_no_output_file(tmp_path, capsys):
    obj = tmp_path / "mm_types.o"
    gcc("-g", "-c", "-o", obj, SRC)
    rc, out, err = cli(capsys, "layout", "--vmlinux", obj)
    assert rc == 0, err
    assert tomllib.loads(out)["page"]["members"]["_refcount"]["offset"] == 52


def _no_page_unit(tmp_path):
    gcc("-g", "-c", "-DNO_MAIN", "-DSLAB_UNIT", "-o", tmp_path / "bad.o", SRC)


def _no_dwarf(tmp_path):
    gcc("-c", "-o", tmp_path / "bad.o", SRC)


def _not_elf(tmp_path):
    (tmp_path / "bad.o").write_text("struct page { long flags; };\n")


def _truncated(tmp_path):
    gcc("-g", "-c", "-o", tmp_path / "full.o", SRC)
    data = (tmp_path / "full.o").read_bytes()
    (tmp_path / "bad.o").write_bytes(data[:len(data) // 3])


@pytest.mark.parametrize("make,needle", [(_no_page_unit, "no struct page"), (_no_dwarf, "no DWARF"),
                                         (_not_elf, "not an ELF file"), (_truncated, "malformed ELF/DWARF")])
def test_bad_input_one_line_exit_2(tmp_path, capsys, make, needle):
    make(tmp_path)
    out = tmp_path / "LAYOUT.toml"
    rc, stdout, err = cli(capsys, "layout", "--vmlinux", tmp_path / "bad.o", "-o", out)
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(tmp_path / "bad.o") in err and needle in err
    assert not out.exists()


def test_missing_file(tmp_path, capsys):
    rc, _, err = cli(capsys, "layout", "--vmlinux", tmp_path / "vmlinux")
    assert rc == 2 and "no such file" in err and err.count("\n") == 1


def test_bad_layout_toml_names_the_key(tmp_path):
    from cachesim.errors import CachesimError
    p = tmp_path / "L.toml"
    p.write_text("[page]\nsize = 64\n[page.members]\nflags = { offset = 0, size = 8 }\n")
    with pytest.raises(CachesimError, match=r"L\.toml: \[page\.members\] has none of lru"):
        structpage_fields(p)
