"""Dinero traditional din reader (cachesim.readers.din; FORMATS.md section 3)."""
import gzip
import lzma
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cachesim.errors import TraceError
from cachesim.readers import din, textio
from cachesim.trace import IFETCH, READ, RECORD_DTYPE, WRITE, TraceMeta

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(path, skip_bad=False):
    meta = TraceMeta()
    chunks = list(din.read(path, meta, skip_bad))
    for c in chunks:
        assert c.dtype == RECORD_DTYPE
    recs = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    return recs, meta


def rows(recs):
    return [(int(r["addr"]), int(r["kind"]), int(r["size"]), int(r["tag"]), int(r["op"])) for r in recs]


def write(tmp_path, text, name="t.din"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


SAMPLE = "2 401000\n0 1ffefffd60\n1 1ffefffd58\n"


def test_formats_md_example(tmp_path):
    recs, meta = load(write(tmp_path, SAMPLE))
    assert rows(recs) == [(0x401000, IFETCH, 4, 1, 0), (0x1ffefffd60, READ, 4, 0, 1), (0x1ffefffd58, WRITE, 4, 0, 2)]
    assert (recs["weight"] == 1).all() and (recs["dep"] == 0).all() and (recs["site"] == 0).all()
    assert meta.tags == ["data", "code"] and meta.format == "din"
    assert meta.skipped_lines == 0 and meta.ignored_lines == 0


def test_labels_alignment_prefixes_and_ignored_tail(tmp_path):
    text = ("0 1003\n"                       # & ~3
            "3 0x2002\n"                     # misc -> read, 0x prefix
            "0x1 0X3FF7 8 a size column and a comment\n"   # 0x label, 0X prefix, tail ignored
            "4 1000\n"                       # copy-back: ignored
            "5 0 \n"                         # invalidate: ignored
            "\t 2\t\tABCDEF\t# comment after a tab\n"
            "02 0000000000000000000401000\n")  # leading zeros are free
    recs, meta = load(write(tmp_path, text))
    assert rows(recs) == [(0x1000, READ, 4, 0, 0), (0x2000, READ, 4, 0, 1), (0x3ff4, WRITE, 4, 0, 2),
                          (0xabcdec, IFETCH, 4, 1, 3), (0x401000, IFETCH, 4, 1, 4)]
    assert meta.ignored_lines == 2 and meta.skipped_lines == 0


def test_64_bit_32_bit_and_kernel_addresses(tmp_path):
    text = "0 ffffffff\n1 ffff888000000000\n0 FFFFFFFFFFFFFFFF\n2 ffffffff81000003\n0 7fffffffe000\n"
    recs, _ = load(write(tmp_path, text))
    assert [int(a) for a in recs["addr"]] == [0xfffffffc, 0xffff888000000000, 0xfffffffffffffffc,
                                              0xffffffff81000000, 0x7fffffffe000]
    assert recs["addr"].dtype == np.uint64


def test_crlf_blank_lines_and_missing_final_newline(tmp_path):
    text = "2 401000\r\n\r\n   \r\n\n0 1ffefffd60 8\r\n1 1ffefffd58"
    recs, meta = load(write(tmp_path, text))
    assert rows(recs) == [(0x401000, IFETCH, 4, 1, 0), (0x1ffefffd60, READ, 4, 0, 1), (0x1ffefffd58, WRITE, 4, 0, 2)]
    assert meta.ignored_lines == 3 and meta.skipped_lines == 0


@pytest.mark.parametrize("line", [
    "# a comment", "2", "2 ", "2 40100g", "2 401000#x", "6 1000", "10 1000", "x 1000", "2 0x", "0x 1000",
    "2 12345678901234567", "r 1000 4", "2,1000", "2 1000\r\r", "\x00", "2 -1000", "2 0x0x10", "é 1000"])
def test_garbage_is_an_error_naming_the_line(tmp_path, line):
    p = write(tmp_path, "2 401000\n0 1000\n" + line + "\n1 2000\n", "bad.din")
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:3: bad din record ") and "\n" not in msg
    assert "expected 'LABEL ADDRESS'" in msg
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == [(0x401000, IFETCH, 4, 1, 0), (0x1000, READ, 4, 0, 1), (0x2000, WRITE, 4, 0, 2)]
    assert meta.skipped_lines == 1 and meta.ignored_lines == 0


def test_error_message_shows_truncated_text_and_reason(tmp_path):
    p = write(tmp_path, "2 401000\n" + "2 " + "z" * 200 + "\n")
    with pytest.raises(TraceError, match=r":2: bad din record '2 z+\.\.\.': address is not hex") as ei:
        load(p)
    assert len(str(ei.value)) - len(str(p)) < 250
    p = write(tmp_path, "0 123456789abcdef01\n")
    with pytest.raises(TraceError, match=r":1: .*does not fit in 64 bits"):
        load(p)


def test_skip_bad_counts_every_bad_line(tmp_path):
    text = "#hdr\n2 401000\nfoo\n\n0 1000\n7 1\n4 0\n"
    recs, meta = load(write(tmp_path, text), skip_bad=True)
    assert rows(recs) == [(0x401000, IFETCH, 4, 1, 0), (0x1000, READ, 4, 0, 1)]
    assert meta.skipped_lines == 3 and meta.ignored_lines == 2


@pytest.mark.parametrize("compress,suffix", [(gzip.compress, ".gz"), (lzma.compress, ".xz"), (gzip.compress, "")])
def test_gz_and_xz_by_magic(tmp_path, compress, suffix):
    p = write(tmp_path, compress((SAMPLE * 3).encode()), "t.din" + suffix)
    recs, _ = load(p)
    assert len(recs) == 9 and list(recs["op"]) == list(range(9))
    assert int(recs["addr"][3]) == 0x401000


def test_corrupt_gzip_is_a_trace_error(tmp_path):
    g = gzip.compress((SAMPLE * 50).encode())
    p = write(tmp_path, g[:12] + b"\xff" * 20 + g[32:], "c.din.gz")
    with pytest.raises(TraceError, match="corrupt"):
        load(p)


@pytest.mark.parametrize("content", [b"", b"\n\n \r\n"])
def test_empty_input_has_no_records(tmp_path, content):
    recs, meta = load(write(tmp_path, content))
    assert len(recs) == 0 and meta.skipped_lines == 0


def test_line_numbers_and_ops_across_blocks(tmp_path, monkeypatch):
    small = textio.blocks                  # the shared line driver reads through textio.blocks
    monkeypatch.setattr(textio, "blocks", lambda p: small(p, 37))
    lines = [f"{i % 3} {0x1000 + 8 * i:x}" for i in range(500)]
    p = write(tmp_path, "\n".join(lines) + "\n")
    recs, _ = load(p)
    assert list(recs["op"]) == list(range(500))
    assert [int(a) for a in recs["addr"]] == [0x1000 + 8 * i for i in range(500)]
    lines[433] = "2 zz"
    p = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"t\.din:434: bad din record '2 zz'"):
        load(p)


def test_sniff():
    assert din.sniff(SAMPLE.encode())
    assert din.sniff(b"2 0x401000 4 comment\r\n\r\n0 1000\r\n")
    assert not din.sniff(b"i 401000 2\nr 1000 8\n")         # xdin
    assert not din.sniff(b"I  00401000,3\n L 1ffefffd60,8\n")  # lackey
    assert not din.sniff(b"2 401000\n# comment\n")
    assert not din.sniff(b"7 401000\n")
    assert not din.sniff(b"")
    assert not din.sniff(b"\x00\x01\x02\x03" * 16)


# ---- reference parser and fuzzing -----------------------------------------------------------------

_REF = re.compile(r"[ \t]*(?:0[xX])?([0-9a-fA-F]+)[ \t]+(?:0[xX])?([0-9a-fA-F]+)(?:[ \t].*)?", re.S)


def reference(text: str):
    """(records, ignored, bad line numbers) by a straightforward reading of the rules."""
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
        if m is None or int(m.group(1), 16) > 5 or int(m.group(2), 16) >= 1 << 64:
            bad.append(no)
            continue
        lab, a = int(m.group(1), 16), int(m.group(2), 16)
        if lab >= 4:
            ignored += 1
            continue
        k = {0: READ, 1: WRITE, 2: IFETCH, 3: READ}[lab]
        recs.append((a & ~3, k, 4, int(k == IFETCH), len(recs)))
    return recs, ignored, bad


hexs = st.text("0123456789abcdefABCDEF", min_size=1, max_size=18)
valid_line = st.builds(lambda lab, px, a, tail, cr: f"{lab} {px}{a}{tail}{cr}",
                       st.sampled_from(["0", "1", "2", "3", "4", "5", "0x2", "00"]), st.sampled_from(["", "0x", "0X"]),
                       hexs, st.sampled_from(["", " 8", "\tcomment", " #x"]), st.sampled_from(["", "\r"]))
junk_line = st.text("0123456789abcdefABCDEFxX \t\r#g,-", max_size=24)
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
        with pytest.raises(TraceError, match=rf"^{re.escape(str(p))}:{bad[0]}: bad din record"):
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
    din.sniff(data)
