"""Dinero IV extended din reader (cachesim.readers.xdin; FORMATS.md section 3)."""
import gzip
import lzma
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cachesim.errors import TraceError
from cachesim.readers import textio, xdin
from cachesim.trace import IFETCH, READ, RECORD_DTYPE, WRITE, TraceMeta

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(path, skip_bad=False):
    meta = TraceMeta()
    chunks = list(xdin.read(path, meta, skip_bad))
    for c in chunks:
        assert c.dtype == RECORD_DTYPE
    recs = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    return recs, meta


def rows(recs):
    return [(int(r["addr"]), int(r["kind"]), int(r["size"]), int(r["tag"]), int(r["op"])) for r in recs]


def write(tmp_path, text, name="t.xdin"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


SAMPLE = "i 401000 2\nr 1ffefffd60 8\nw 1ffefffd58 8\nw 4c1a20 10        <- a 16-byte store\n"
SAMPLE_ROWS = [(0x401000, IFETCH, 2, 1, 0), (0x1ffefffd60, READ, 8, 0, 1), (0x1ffefffd58, WRITE, 8, 0, 2),
               (0x4c1a20, WRITE, 16, 0, 3)]


def test_formats_md_example(tmp_path):
    recs, meta = load(write(tmp_path, SAMPLE))
    assert rows(recs) == SAMPLE_ROWS
    assert (recs["weight"] == 1).all() and (recs["dep"] == 0).all() and (recs["site"] == 0).all()
    assert meta.tags == ["data", "code"] and meta.format == "xdin"
    assert meta.skipped_lines == 0 and meta.ignored_lines == 0


def test_types_case_prefixes_and_control_records(tmp_path):
    text = ("R 0x1001 0x4\n"           # no alignment forced, 0x on both fields
            "W\t0X2002\t0Xa comment\n"
            "I 401003 F\n"
            "m 3000 8\n"               # misc -> read
            "M 3008 1\n"
            "c 0 0\n"                  # copy-back, whole cache: ignored
            "V 1000 40\n"              # invalidate: ignored
            "  r 00000000000000000000004000 ffff\n")
    recs, meta = load(write(tmp_path, text))
    assert rows(recs) == [(0x1001, READ, 4, 0, 0), (0x2002, WRITE, 10, 0, 1), (0x401003, IFETCH, 15, 1, 2),
                          (0x3000, READ, 8, 0, 3), (0x3008, READ, 1, 0, 4), (0x4000, READ, 0xffff, 0, 5)]
    assert meta.ignored_lines == 2 and meta.skipped_lines == 0


def test_64_bit_32_bit_and_kernel_addresses(tmp_path):
    text = "r ffffffff 4\nw ffff888000000000 40\nr FFFFFFFFFFFFFFFF 1\ni ffffffff81000003 3\n"
    recs, _ = load(write(tmp_path, text))
    assert [int(a) for a in recs["addr"]] == [0xffffffff, 0xffff888000000000, 0xffffffffffffffff,
                                              0xffffffff81000003]


def test_crlf_blank_lines_and_missing_final_newline(tmp_path):
    text = SAMPLE.replace("\n", "\r\n") + "\r\n \t\r\n" + "r 10 8"
    recs, meta = load(write(tmp_path, text))
    assert rows(recs) == SAMPLE_ROWS + [(0x10, READ, 8, 0, 4)]
    assert meta.ignored_lines == 2


@pytest.mark.parametrize("line,why", [
    ("# comment", "TYPE is not"), ("x 1000 4", "TYPE is not"), ("rw 1000 4", "TYPE is not"), ("r", "missing address"),
    ("r 1000", "missing size"), ("r 1000 ", "missing size"), ("r 100g 4", "address is not hex"),
    ("r 1000 4g", "size is not hex"), ("r 1000 0", "size out of range"), ("r 1000 10000", "size out of range"),
    ("r 12345678901234567 4", "64 bits"), ("2 401000", "TYPE is not"), ("I  00401000,3", "address is not hex"),
    ("r 0x 4", "address is not hex"), ("r 1000 0x", "size is not hex"), ("r 1000 4\r\r", "size is not hex"),
    ("\x00", "TYPE"), ("c 1000", "missing size")])
def test_garbage_is_an_error_naming_the_line(tmp_path, line, why):
    p = write(tmp_path, "i 401000 2\nr 1000 8\n" + line + "\nw 2000 4\n", "bad.xdin")
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:3: bad xdin record ") and "\n" not in msg and why in msg
    assert "expected 'TYPE ADDRESS SIZE'" in msg
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == [(0x401000, IFETCH, 2, 1, 0), (0x1000, READ, 8, 0, 1), (0x2000, WRITE, 4, 0, 2)]
    assert meta.skipped_lines == 1 and meta.ignored_lines == 0


def test_skip_bad_counts_every_bad_line(tmp_path):
    text = "#hdr\ni 401000 2\nr 1000\n\nr 1000 8\nq 1 1\nv 0 0\n"
    recs, meta = load(write(tmp_path, text), skip_bad=True)
    assert rows(recs) == [(0x401000, IFETCH, 2, 1, 0), (0x1000, READ, 8, 0, 1)]
    assert meta.skipped_lines == 3 and meta.ignored_lines == 2


@pytest.mark.parametrize("compress,suffix", [(gzip.compress, ".gz"), (lzma.compress, ".xz"), (lzma.compress, "")])
def test_gz_and_xz_by_magic(tmp_path, compress, suffix):
    p = write(tmp_path, compress((SAMPLE * 3).encode()), "t.xdin" + suffix)
    recs, _ = load(p)
    assert rows(recs)[:4] == SAMPLE_ROWS and list(recs["op"]) == list(range(12))


def test_corrupt_gzip_is_a_trace_error(tmp_path):
    g = gzip.compress((SAMPLE * 50).encode())
    p = write(tmp_path, g[:12] + b"\xff" * 20 + g[32:], "c.xdin.gz")
    with pytest.raises(TraceError, match="corrupt"):
        load(p)


@pytest.mark.parametrize("content", [b"", b"\n\n \r\n"])
def test_empty_input_has_no_records(tmp_path, content):
    recs, meta = load(write(tmp_path, content))
    assert len(recs) == 0 and meta.skipped_lines == 0


def test_line_numbers_and_ops_across_blocks(tmp_path, monkeypatch):
    small = textio.blocks                  # the shared line driver reads through textio.blocks
    monkeypatch.setattr(textio, "blocks", lambda p: small(p, 41))
    lines = [f"{'rwi'[i % 3]} {0x1000 + 8 * i:x} {1 + i % 16:x}" for i in range(500)]
    p = write(tmp_path, "\n".join(lines) + "\n")
    recs, _ = load(p)
    assert list(recs["op"]) == list(range(500))
    assert [int(s) for s in recs["size"]] == [1 + i % 16 for i in range(500)]
    lines[321] = "r 1000"
    p = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"t\.xdin:322: bad xdin record 'r 1000': missing size"):
        load(p)


def test_sniff():
    assert xdin.sniff(SAMPLE.encode())
    assert xdin.sniff(b"R 0x401000 0x4\r\n\r\nc 0 0\r\n")
    assert not xdin.sniff(b"2 401000\n0 1000\n")              # din
    assert not xdin.sniff(b"I  00401000,3\n L 1ffefffd60,8\n")  # lackey
    assert not xdin.sniff(b"r 401000\n")
    assert not xdin.sniff(b"")
    assert not xdin.sniff(bytes(range(256)))


# ---- reference parser and fuzzing -----------------------------------------------------------------

_REF = re.compile(r"[ \t]*([rwimcvRWIMCV])[ \t]+(?:0[xX])?([0-9a-fA-F]+)[ \t]+(?:0[xX])?([0-9a-fA-F]+)(?:[ \t].*)?",
                  re.S)


def reference(text: str):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    recs, ignored, bad = [], 0, []
    for no, line in enumerate(lines, 1):
        s = line[:-1] if line.endswith("\r") else line
        if s.strip(" \t") == "":
            ignored += 1
            continue
        m = _REF.fullmatch(s)
        if m is None or int(m.group(2), 16) >= 1 << 64:
            bad.append(no)
            continue
        t, a, sz = m.group(1).lower(), int(m.group(2), 16), int(m.group(3), 16)
        if t in "cv":
            ignored += 1
            continue
        if not 1 <= sz <= 0xffff:
            bad.append(no)
            continue
        k = {"r": READ, "w": WRITE, "i": IFETCH, "m": READ}[t]
        recs.append((a, k, sz, int(k == IFETCH), len(recs)))
    return recs, ignored, bad


hexs = st.text("0123456789abcdefABCDEF", min_size=1, max_size=18)
valid_line = st.builds(lambda t, a, px, s, tail, cr: f"{t} {px}{a} {s}{tail}{cr}",
                       st.sampled_from("rwimcvRWIMCV"), hexs, st.sampled_from(["", "0x"]),
                       st.text("0123456789abcdef", min_size=1, max_size=5), st.sampled_from(["", " #x", "\tcomment"]),
                       st.sampled_from(["", "\r"]))
junk_line = st.text("0123456789abcdefxX \t\r#rwimcvRWz,", max_size=24)
any_text = st.lists(st.one_of(valid_line, valid_line, junk_line, st.text(max_size=20).filter(lambda s: "\n" not in s)),
                    max_size=25).map("\n".join)


@FUZZ
@given(text=any_text, final_newline=st.booleans())
def test_matches_reference_parser(tmp_path, text, final_newline):
    if final_newline and text:
        text += "\n"
    p = write(tmp_path, text)
    want, ignored, bad = reference(text)
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == want
    assert meta.skipped_lines == len(bad) and meta.ignored_lines == ignored
    if bad:
        with pytest.raises(TraceError, match=rf"^{re.escape(str(p))}:{bad[0]}: bad xdin record"):
            load(p)
    else:
        assert rows(load(p)[0]) == want


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 30)
@example(data=b"\xfd7zXZ\x00garbage")
def test_arbitrary_bytes_parse_or_trace_error(tmp_path, data):
    p = write(tmp_path, data)
    for skip in (False, True):
        try:
            load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
    xdin.sniff(data)
