"""perf mem report -D reader (cachesim.readers.perf_mem; FORMATS.md section 1.4).

Real dumps in tests/data/perf (commands in its README.txt): pf.mem.txt and
pf.mem.csv are the default-separator and ``-x,`` dumps of one recording,
ds.mem*.txt add PHYS ADDR and DATA PAGE SIZE columns to a recording whose
data_src/weight/phys values were patched to PEBS-like ones.
"""
import gzip
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cachesim.errors import TraceError
from cachesim.readers import perf, perf_mem, textio
from cachesim.trace import PREFETCH, READ, RECORD_DTYPE, WRITE, TraceMeta

from conftest import DATA

PD = DATA / "perf"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
M32 = 0xFFFFFFFF


def load(path, skip_bad=False):
    meta = TraceMeta()
    chunks = list(perf_mem.read(path, meta, skip_bad))
    for c in chunks:
        assert c.dtype == RECORD_DTYPE
    recs = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    return recs, meta


def write(tmp_path, text, name="t.mem"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def rows(recs):
    return [(int(r["addr"]), int(r["site"]), int(r["kind"])) for r in recs]


def kind_of(dsrc):
    op = dsrc & 0x1F
    return WRITE if op & 4 else PREFETCH if op & 8 else READ


def csv_rows(name, sep):
    lines = (PD / name).read_text().splitlines()
    cols = [c.strip() for c in lines[0].lstrip("#").split(",")]
    out = []
    for ln in lines[1:]:
        f = ln.split(sep, len(cols) - 1)
        out.append((int(f[cols.index("ADDR")], 16), int(f[cols.index("IP")], 16) & M32,
                    kind_of(int(f[cols.index("DSRC")], 16))))
    return out


# ---- real dumps ------------------------------------------------------------------------------------

def test_default_separator_and_first_row_quirk():
    text = (PD / "pf.mem.txt").read_text().splitlines()
    assert text[1].split()[3] == "0x0164bb2b0"                 # perf printed 0x016 + 4bb2b0
    recs, meta = load(PD / "pf.mem.txt")
    want = csv_rows("pf.mem.csv", ",")
    assert len(recs) == 45 == len(want) == len(text) - 1
    assert rows(recs) == want
    assert int(recs["addr"][0]) == 0x4BB2B0
    assert list(recs["op"]) == list(range(45))
    assert (recs["size"] == 8).all() and (recs["weight"] == 1).all() and (recs["tag"] == 0).all()
    assert meta.sampled and meta.format == "perf-mem" and meta.ignored_lines == 1 and meta.skipped_lines == 0
    assert meta.extra["columns"] == ["PID", "TID", "IP", "ADDR", "LOCAL WEIGHT", "DSRC", "SYMBOL"]


def test_comma_separator():
    recs, _ = load(PD / "pf.mem.csv")
    assert rows(recs) == csv_rows("pf.mem.csv", ",")


def test_same_samples_as_perf_script():
    a, _ = load(PD / "pf.mem.txt")
    meta = TraceMeta()
    b = np.concatenate(list(perf.read(PD / "pf.fields.txt", meta)))
    assert (a["addr"] == b["addr"]).all() and (a["site"] == b["site"]).all()


@pytest.mark.parametrize("name", ["ds.mem.txt", "ds.mem.semicolon.txt"])
def test_phys_and_page_size_columns_and_kinds(name):
    recs, meta = load(PD / name)
    want = csv_rows("ds.mem.semicolon.txt", ";")
    assert rows(recs) == want and len(recs) == 45
    assert meta.extra["columns"] == ["PID", "TID", "IP", "ADDR", "PHYS ADDR", "DATA PAGE SIZE", "LOCAL WEIGHT",
                                     "DSRC", "SYMBOL"]
    assert {READ, WRITE, PREFETCH} <= set(int(k) for k in recs["kind"])
    assert int(recs["addr"][3]) == 0xFFFFFFFFB752B814          # kernel data address
    assert (recs["weight"] == 1).all()                         # LOCAL WEIGHT (31, 180, 2107...) is not kept
    ds_script = np.concatenate(list(perf.read(PD / "ds.full.txt", TraceMeta())))
    assert (ds_script["addr"] == recs["addr"]).all() and (ds_script["kind"] == recs["kind"]).all()


@pytest.mark.parametrize("name", ["pf.mem.txt", "pf.mem.csv", "ds.mem.txt", "ds.mem.semicolon.txt"])
def test_crlf_gz_missing_newline_and_tiny_blocks(tmp_path, monkeypatch, name):
    raw = (PD / name).read_bytes()
    want, wmeta = load(PD / name)
    variants = [(raw.replace(b"\n", b"\r\n"), "crlf"), (gzip.compress(raw), "t.gz"), (raw.rstrip(b"\n"), "nonl")]
    for data, fname in variants:
        got, meta = load(write(tmp_path, data, fname))
        assert (got == want).all() and meta.ignored_lines == wmeta.ignored_lines
    monkeypatch.setattr(perf_mem, "blocks", lambda p: textio.blocks(p, 53))
    got, meta = load(PD / name)
    assert (got == want).all() and meta.extra == wmeta.extra


# ---- FORMATS.md 1.4 examples and the quirk's limits -----------------------------------------------

HDR7 = "# PID, TID, IP, ADDR, LOCAL WEIGHT, DSRC, SYMBOL\n"
HDR9 = "# PID, TID, IP, ADDR, PHYS ADDR, DATA PAGE SIZE, LOCAL WEIGHT, DSRC, SYMBOL\n"


@pytest.mark.parametrize("text,want", [
    (HDR7 + " 4321  4321 0xffffffff8120028a 0x016555555558010     0 0x1e05080021 [kernel.kallsyms]:elf_load\n"
     "4321 4321 0xffffffff8120028a 0x7f0000002110 0 0x1e05080021 [kernel.kallsyms]:elf_load\n",
     [(0x555555558010, 0x8120028A, READ), (0x7F0000002110, 0x8120028A, READ)]),
    (HDR7 + "4321,4321,0xffffffff8120028a,0x555555558010,0,0x1e05080021,[kernel.kallsyms]:elf_load\n",
     [(0x555555558010, 0x8120028A, READ)]),
    (HDR9 + " 4387  4387 0x00007f0000087a07 0x0167f000009d910 0x0000000000000000 N/A     0 0x1e05080021 "
     "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2:_dl_start\n"
     "4387 4387 0x7f000006e0c0 0x7f000006e0c0 0x0000000000000000 N/A 0 0x1e05080021 "
     "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2:_dl_debug_initialize\n",
     [(0x7F000009D910, 0x00087A07, READ), (0x7F000006E0C0, 0x0006E0C0, READ)]),
    # Kan Liang's --data-page-size example: 0x016 + a 16-digit kernel address
    (HDR9 + " 4387  4387 0xffffffffb752b814 0x016ffff9a274e96a308 0x000000044e96a308 4K     0 0x68100142 x:y\n",
     [(0xFFFF9A274E96A308, 0xB752B814, READ)]),
])
def test_formats_md_examples(tmp_path, text, want):
    recs, _ = load(write(tmp_path, text))
    assert rows(recs) == want


def test_quirk_only_on_the_first_row_of_each_blank_separated_dump(tmp_path):
    row2 = "1 1 0xffffffff81000000 0x0161000 7 0x5080144 k:f\n"        # a real address 0x161000
    text = HDR7 + " 1 1 0xffffffff81000000 0x0161000 7 0x5080144 k:f\n" + row2
    recs, _ = load(write(tmp_path, text))
    assert rows(recs) == [(0x1000, 0x81000000, WRITE), (0x161000, 0x81000000, WRITE)]
    recs, _ = load(write(tmp_path, text + text))                   # two dumps concatenated
    assert [r[0] for r in rows(recs)] == [0x1000, 0x161000, 0x1000, 0x161000]
    recs, _ = load(write(tmp_path, HDR7 + row2.replace(" ", ",", 6)))   # -x,: never padded
    assert rows(recs) == [(0x161000, 0x81000000, WRITE)]
    recs, _ = load(write(tmp_path, HDR7 + "1 1 0x401000 0x0161000 7 0x5080144 k:f\n"))  # unpadded ip: not the quirk
    assert rows(recs) == [(0x161000, 0x401000, WRITE)]


def test_symbols_containing_the_separator(tmp_path):
    sym = "/usr/lib/libstdc++.so.6:std::vector<int, std::allocator<int> >::push_back(int const&)"
    text = (HDR7 + f"7 8 0x10 0x20 0 0x5080144 {sym}\n" + f"7,8,0x11,0x21,0,0x5080028,{sym}\n"
            + f"7, 8, 0x12, 0x22, 0, 0x68100142, {sym}\n")
    recs, meta = load(write(tmp_path, text))
    assert rows(recs) == [(0x20, 0x10, WRITE), (0x21, 0x11, PREFETCH), (0x22, 0x12, READ)]
    recs, _ = load(write(tmp_path, text.split("\n", 1)[1]))       # no header: columns inferred
    assert rows(recs) == [(0x20, 0x10, WRITE), (0x21, 0x11, PREFETCH), (0x22, 0x12, READ)]


@pytest.mark.parametrize("name", ["pf.mem.txt", "pf.mem.csv", "ds.mem.txt", "ds.mem.semicolon.txt"])
def test_without_header_columns_are_inferred(tmp_path, name):
    raw = (PD / name).read_text()
    want, _ = load(PD / name)
    body = raw.split("\n", 1)[1]           # pf.mem.txt keeps its padded 0x016 first row
    got, meta = load(write(tmp_path, body))
    assert rows(got) == rows(want) and "columns" not in meta.extra


def test_negative_pid_and_tabs(tmp_path):
    recs, _ = load(write(tmp_path, HDR7 + "-1 -1 0xffffffff81000000 0x1000 0 0x1e05080021 [kernel.kallsyms]:x\n"
                          + "5\t6\t0x2\t0x3000\t0\t0x5080144\tk:y\n"))
    assert rows(recs) == [(0x1000, 0x81000000, READ), (0x3000, 2, WRITE)]


# ---- errors and skip_bad -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad,reason", [
    ("x 1 0x1 0x2 0 0x3 s", "PID or TID is not a decimal"),
    ("1", "no TID"),
    ("1 2 0x1 0x2 0 0x3", "missing SYMBOL"),
    ("1 2 0x1", "too few fields"),
    ("1 2 0x1 0x2", "too few fields"),
    ("1 2 401000 0x2 0 0x3 s", "IP is not 0x"),
    ("1 2 0x40100g 0x2 0 0x3 s", "IP is not 0x"),
    ("1 2 0x1 2 0 0x3 s", "ADDR is not 0x"),
    ("1 2 0x1 0x 0 0x3 s", "ADDR is not 0x"),
    ("1 2 0x1 0x123456789abcdef01 0 0x3 s", "ADDR does not fit in 64 bits"),
    ("1 2 0x1 0x2 w 0x3 s", "LOCAL WEIGHT is not a decimal"),
    ("1 2 0x1 0x2 0 3 s", "DSRC is not 0x"),
    ("1 x2 0x1 0x2 0 0x3 s", "too few fields"),          # " x" taken as the separator
    ("garbage", "PID or TID is not a decimal"),
])
def test_bad_rows_name_the_line_and_skip_bad_counts(tmp_path, bad, reason):
    good = ["1 2 0x10 0x20 0 0x5080144 a:b", "1 2 0x11 0x21 0 0x68100142 a:b", "1 2 0x12 0x22 0 0x5080028 a:b"]
    text = HDR7 + "\n".join([good[0], good[1], bad, good[2]]) + "\n"
    p = write(tmp_path, text)
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:4: bad perf mem -D sample ") and reason in msg and "\n" not in msg
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == [(0x20, 0x10, WRITE), (0x21, 0x11, READ), (0x22, 0x12, PREFETCH)]
    assert meta.skipped_lines == 1 and meta.ignored_lines == 1 and list(recs["op"]) == [0, 1, 2]


def test_bad_header(tmp_path):
    with pytest.raises(TraceError, match=r":2: bad perf mem -D header '# PID, TID, IP, SYMBOL'"):
        load(write(tmp_path, "\n# PID, TID, IP, SYMBOL\n1 2 0x1 x\n"))


def test_phys_column_checked(tmp_path):
    with pytest.raises(TraceError, match="PHYS ADDR is not 0x"):
        load(write(tmp_path, HDR9 + "1 2 0x1 0x2 zz 4K 0 0x3 s\n"))


def test_line_numbers_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(perf_mem, "blocks", lambda p: textio.blocks(p, 41))
    lines = [f"1,2,0x{i:x},0x{0x1000 + i:x},0,0x5080144,a:b" for i in range(300)]
    lines[211] = "1,2,0x1,nope,0,0x3,s"
    with pytest.raises(TraceError, match=r"t\.mem:213: bad perf mem -D sample '1,2,0x1,nope,0,0x3,s'"):
        load(write(tmp_path, HDR7 + "\n".join(lines) + "\n"))


@pytest.mark.parametrize("content", [b"", b"\n \n", HDR7.encode()])
def test_empty_input_has_no_records(tmp_path, content):
    recs, meta = load(write(tmp_path, content))
    assert len(recs) == 0 and meta.skipped_lines == 0


def test_sniff():
    for name in ["pf.mem.txt", "pf.mem.csv", "ds.mem.txt", "ds.mem.semicolon.txt"]:
        raw = (PD / name).read_bytes()
        assert perf_mem.sniff(raw), name
        assert perf_mem.sniff(raw.split(b"\n", 2)[2]), name      # without the header
    for name in ["pf.fields.txt", "pf.addr.txt", "ds.full.txt", "cg.txt", "pf.header.txt"]:
        assert not perf_mem.sniff((PD / name).read_bytes()), name
    assert not perf_mem.sniff(b"2 401000\n0 1ffefffd60\n") and not perf_mem.sniff(b"")


# ---- fuzzing ---------------------------------------------------------------------------------------

REAL = [ln for name in ["pf.mem.csv", "ds.mem.txt", "ds.mem.semicolon.txt"]
        for ln in (PD / name).read_text().splitlines()[2:]]

line_strat = st.one_of(
    st.sampled_from(REAL + ["", "#", HDR7.strip(), HDR9.strip()]),
    st.builds(lambda ln, i, ch: ln[:i % (len(ln) + 1)] + ch + ln[i % (len(ln) + 1):],
              st.sampled_from(REAL), st.integers(0, 200), st.text("0123456789abcdefx, ;:-\t#", max_size=3)),
    st.text(max_size=60).filter(lambda s: "\n" not in s),
    st.text(" 0123456789abcdefx,;-", max_size=60))


@FUZZ
@given(st.lists(line_strat, max_size=20), st.booleans())
@example(["# PID, TID, IP, ADDR, LOCAL WEIGHT, DSRC, SYMBOL", " 1 1 0x0000000000000001 0x016 0 0x1 s"], True)
def test_arbitrary_lines_parse_or_trace_error(tmp_path, lines, final_newline):
    p = write(tmp_path, "\n".join(lines) + ("\n" if final_newline else ""))
    for skip in (False, True):
        try:
            recs, meta = load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
            assert skip is False or "header" in str(e)
        else:
            assert len(recs) <= len(lines)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_trace_error(tmp_path, data):
    p = write(tmp_path, data)
    for skip in (False, True):
        try:
            load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
    perf_mem.sniff(data)


_REF = re.compile(r"(-?\d+),(-?\d+),0x([0-9a-f]{1,16}),0x([0-9a-f]{1,16}),(\d+),0x([0-9a-f]{1,16}),(.+)")


@FUZZ
@given(st.lists(st.tuples(st.integers(-1, 1 << 22), st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1),
                          st.integers(0, 1 << 40), st.text("abc:,; <>()&", min_size=1, max_size=20)),
                max_size=20))
def test_comma_rows_match_a_reference(tmp_path, samples):
    text = HDR7 + "".join(f"{pid},{pid},0x{ip:x},0x{a:x},0,0x{ds:x},{sym}\n" for pid, ip, a, ds, sym in samples)
    recs, _ = load(write(tmp_path, text))
    want = []
    for ln in text.splitlines()[1:]:
        m = _REF.fullmatch(ln)
        want.append((int(m.group(4), 16), int(m.group(3), 16) & M32, kind_of(int(m.group(6), 16))))
    assert rows(recs) == want
