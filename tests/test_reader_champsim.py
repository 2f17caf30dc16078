"""ChampSim input_instr / cloudsuite_instr reader (cachesim.readers.champsim; FORMATS.md section 4)."""
import gzip
import lzma
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cachesim.errors import TraceError
from cachesim.readers import champsim, champsim_cloudsuite
from cachesim.trace import IFETCH, READ, RECORD_DTYPE, RMW, WRITE, TraceMeta

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

INSTR = struct.Struct("<QBB2B4B2Q4Q")            # FORMATS.md: input_instr, 64 bytes
CLOUD = struct.Struct("<QBB4B4B6x4Q4Q2B6x")      # cloudsuite_instr, 96 bytes
assert INSTR.size == 64 and CLOUD.size == 96


def instr(ip, src=(), dst=(), is_branch=0, taken=0, dregs=(0, 0), sregs=(0, 0, 0, 0)):
    src, dst = list(src) + [0] * (4 - len(src)), list(dst) + [0] * (2 - len(dst))
    return INSTR.pack(ip, is_branch, taken, *dregs, *sregs, *dst, *src)


def cloud(ip, src=(), dst=(), asid=(0, 0)):
    src, dst = list(src) + [0] * (4 - len(src)), list(dst) + [0] * (4 - len(dst))
    return CLOUD.pack(ip, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, *dst, *src, *asid)


def load(path, skip_bad=False, mod=champsim, **kw):
    meta = TraceMeta()
    chunks = list(mod.read(path, meta, skip_bad, **kw))
    for c in chunks:
        assert c.dtype == RECORD_DTYPE
    recs = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    return recs, meta


def rows(recs):
    return [(int(r["addr"]), int(r["kind"]), int(r["size"]), int(r["tag"]), int(r["op"]), int(r["site"]))
            for r in recs]


def write(tmp_path, data, name="t.champsimtrace"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# the three records of the FORMATS.md example, plus a kernel instruction
TRACE = b"".join([
    instr(0x401a10, src=[0x4a2c018]),
    instr(0x401a28, src=[0x4a2c020], dst=[0x4a2c020]),                    # read-modify-write
    instr(0x401a33, is_branch=1, taken=1, dregs=(26, 0), sregs=(26, 25, 0, 0)),
    instr(0xffffffff81000000, src=[0xffff888000000000, 0, 0x1000], dst=[0, 0xffff888000000040]),
])
WANT = [
    (0x401a10, IFETCH, 4, 1, 0, 0x401a10), (0x4a2c018, READ, 1, 0, 0, 0x401a10),
    (0x401a28, IFETCH, 4, 1, 1, 0x401a28), (0x4a2c020, RMW, 1, 0, 1, 0x401a28),
    (0x401a33, IFETCH, 4, 1, 2, 0x401a33),
    (0xffffffff81000000, IFETCH, 4, 1, 3, 0), (0xffff888000000000, READ, 1, 0, 3, 0), (0x1000, READ, 1, 0, 3, 0),
    (0xffff888000000040, WRITE, 1, 0, 3, 0),
]


def test_record_zero_bytes_match_formats_md():
    b = instr(0x401a10, src=[0x4a2c018])
    assert b.hex(" ") == ("10 1a 40 00 00 00 00 00 00 00 00 00 00 00 00 00 " + "00 " * 16
                          + "18 c0 a2 04 00 00 00 00 " + "00 " * 24).strip()


def test_formats_md_example(tmp_path):
    recs, meta = load(write(tmp_path, TRACE))
    assert rows(recs) == WANT
    assert (recs["weight"] == 1).all() and (recs["dep"] == 0).all()
    assert meta.tags == ["data", "code"] and meta.format == "champsim"
    assert meta.extra["instructions"] == 4 and meta.extra["record_layout"] == "input_instr"
    assert meta.skipped_lines == 0 and meta.ignored_lines == 0


def test_rmw_pairing_and_duplicates(tmp_path):
    t = instr(0x400000, src=[0xa0, 0xb0, 0xa0, 0xc0], dst=[0xa0, 0xc0])
    recs, _ = load(write(tmp_path, t))
    # each destination slot pairs with one source slot: a0 RMW, b0 read, a0 read (dst a0 used), c0 RMW
    assert [(int(r["addr"]), int(r["kind"])) for r in recs[1:]] == [(0xa0, RMW), (0xb0, READ), (0xa0, READ),
                                                                     (0xc0, RMW)]
    t = instr(0x400000, dst=[0xa0, 0xa0], src=[0xa0])
    recs, _ = load(write(tmp_path, t))
    assert [(int(r["addr"]), int(r["kind"])) for r in recs[1:]] == [(0xa0, RMW), (0xa0, WRITE)]


@pytest.mark.parametrize("compress,name", [(lzma.compress, "t.champsimtrace.xz"), (gzip.compress, "t.trace.gz"),
                                           (lzma.compress, "no_suffix"), (lambda b: b, "t.xz")])
def test_xz_gz_and_raw_by_magic(tmp_path, compress, name):
    recs, meta = load(write(tmp_path, compress(TRACE * 3), name))
    assert rows(recs[:9]) == WANT and len(recs) == 27
    assert list(np.unique(recs["op"])) == list(range(12))


@pytest.mark.parametrize("tail", [1, 17, 63])
@pytest.mark.parametrize("compress", [lambda b: b, lzma.compress])
def test_truncated_tail_is_an_error_naming_the_byte_offset(tmp_path, tail, compress):
    p = write(tmp_path, compress(TRACE + instr(0x500000, src=[0x77])[:tail]))
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: byte 256: truncated champsim record 4 ({tail} trailing bytes") and "\n" not in msg
    assert "not a multiple of 64" in msg
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == WANT and meta.skipped_lines == 1


def test_empty_file_has_no_records(tmp_path):
    recs, meta = load(write(tmp_path, b""))
    assert len(recs) == 0 and meta.extra["instructions"] == 0
    recs, _ = load(write(tmp_path, lzma.compress(b""), "e.xz"))
    assert len(recs) == 0


def test_corrupt_compressed_data(tmp_path):
    x = lzma.compress(TRACE * 100)
    p = write(tmp_path, x[: len(x) // 2], "cut.xz")
    with pytest.raises(TraceError, match="corrupt or truncated compressed data"):
        load(p)
    g = gzip.compress(TRACE * 100)
    p = write(tmp_path, g[:12] + b"\xff" * 20 + g[32:], "bad.gz")
    with pytest.raises(TraceError, match="corrupt"):
        load(p)


def test_ops_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(champsim, "BLOCK_RECORDS", 3)
    rng = np.random.default_rng(1)
    n = 50
    data = b"".join(instr(0x400000 + 4 * i, src=[int(x) for x in rng.integers(0, 4, 4) * 0x40],
                          dst=[int(x) for x in rng.integers(0, 3, 2) * 0x40]) for i in range(n))
    whole, _ = load(write(tmp_path, data, "a"))
    monkeypatch.setattr(champsim, "BLOCK_RECORDS", 1 << 17)
    again, _ = load(write(tmp_path, gzip.compress(data), "b.gz"))
    assert rows(whole) == rows(again)
    assert list(whole["op"][whole["kind"] == IFETCH]) == list(range(n))
    assert rows(whole) == reference(data, champsim.INPUT_INSTR)


def test_cloudsuite_layout(tmp_path):
    data = b"".join([cloud(0x401000, src=[0x10, 0x20], dst=[0x20, 0x30, 0x40, 0x50], asid=(3, 3)),
                     cloud(0xffffffff81000000, src=[0, 0, 0, 0x60])])
    p = write(tmp_path, lzma.compress(data), "c.xz")
    recs, meta = load(p, mod=champsim_cloudsuite)
    assert rows(recs) == [(0x401000, IFETCH, 4, 1, 0, 0x401000), (0x10, READ, 1, 0, 0, 0x401000),
                          (0x20, RMW, 1, 0, 0, 0x401000), (0x30, WRITE, 1, 0, 0, 0x401000),
                          (0x40, WRITE, 1, 0, 0, 0x401000), (0x50, WRITE, 1, 0, 0, 0x401000),
                          (0xffffffff81000000, IFETCH, 4, 1, 1, 0), (0x60, READ, 1, 0, 1, 0)]
    assert meta.format == "champsim-cloudsuite" and meta.extra["record_layout"] == "cloudsuite_instr"
    p = write(tmp_path, data[:-10])
    with pytest.raises(TraceError, match=r"byte 96: truncated champsim-cloudsuite record 1 .*multiple of 96"):
        load(p, mod=champsim_cloudsuite)
    # a 96-byte trace read as 64-byte records is not a multiple of 64 here
    with pytest.raises(TraceError, match="byte 128"):
        load(write(tmp_path, data[:160] + data[:0]), mod=champsim)


def test_record_size_is_a_parameter(tmp_path):
    # the development-branch input_instr with a trailing load_type byte: 65 bytes, unaligned fields
    lay = champsim.Layout("input_instr_load_type", 65, ndst=2, dst=16, nsrc=4, src=32)
    data = b"".join([instr(0x401000, src=[0x100]) + b"\x01", instr(0x401004, dst=[0x200]) + b"\x02"])
    recs, _ = load(write(tmp_path, data), layout=lay, name="champsim")
    assert rows(recs) == [(0x401000, IFETCH, 4, 1, 0, 0x401000), (0x100, READ, 1, 0, 0, 0x401000),
                          (0x401004, IFETCH, 4, 1, 1, 0x401004), (0x200, WRITE, 1, 0, 1, 0x401004)]


def test_sniff():
    assert champsim.sniff(TRACE)
    assert champsim.sniff(TRACE * 2000)                      # bigger than the sniff window
    cs = b"".join(cloud(0x401000 + 4 * i, src=[0x10 * (i + 1)], dst=[0x800]) for i in range(20))
    assert champsim_cloudsuite.sniff(cs) and not champsim.sniff(cs)
    assert not champsim_cloudsuite.sniff(TRACE * 3)
    assert not champsim.sniff(b"2 401000\n0 1000\n" * 10)   # text
    assert not champsim.sniff(TRACE[:63])                    # not one whole record
    assert not champsim.sniff(b"gem5" + TRACE[4:])
    assert not champsim.sniff(b"\x93NUMPY" + TRACE[6:])
    assert not champsim.sniff(instr(0, src=[1]) * 2)         # ip 0
    assert not champsim.sniff(instr(0x400000, is_branch=7))


# ---- reference and fuzzing ------------------------------------------------------------------------

def reference(data: bytes, lay):
    """Per-instruction emission written the obvious way, from struct.unpack."""
    fmt = struct.Struct(f"<Q{lay.dst - 8}x{lay.ndst}Q{lay.src - lay.dst - 8 * lay.ndst}x{lay.nsrc}Q"
                        f"{lay.itemsize - lay.src - 8 * lay.nsrc}x")
    out = []
    for k in range(len(data) // lay.itemsize):
        v = fmt.unpack_from(data, k * lay.itemsize)
        ip, dst, src = v[0], list(v[1:1 + lay.ndst]), list(v[1 + lay.ndst:])
        site = ip if ip < 1 << 32 else 0
        out.append((ip, IFETCH, 4, 1, k, site))
        free = [d != 0 for d in dst]
        for a in src:
            if not a:
                continue
            kind = READ
            for j, d in enumerate(dst):
                if free[j] and d == a:
                    free[j], kind = False, RMW
                    break
            out.append((a, kind, 1, 0, k, site))
        out += [(d, WRITE, 1, 0, k, site) for j, d in enumerate(dst) if free[j]]
    return out


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 30)
@example(data=b"\xfd7zXZ\x00garbage")
def test_arbitrary_bytes_parse_or_trace_error(tmp_path, data):
    p = write(tmp_path, data)
    for mod in (champsim, champsim_cloudsuite):
        for skip in (False, True):
            try:
                recs, _ = load(p, skip_bad=skip, mod=mod)
            except TraceError as e:
                assert "\n" not in str(e)
            else:
                if data[:2] not in (b"\x1f\x8b", b"\xfd7"):
                    assert rows(recs) == reference(data, mod.LAYOUT if mod is champsim_cloudsuite
                                                   else champsim.INPUT_INSTR)
        mod.sniff(data)


slot = st.sampled_from([0, 0, 0, 0x40, 0x80, 0xffff888000000000, 2 ** 64 - 1])


@FUZZ
@given(ins=st.lists(st.tuples(st.sampled_from([0x401000, 0xffffffff81000000, 2 ** 32 - 1, 2 ** 32]),
                              st.lists(slot, min_size=4, max_size=4), st.lists(slot, min_size=2, max_size=2)),
                    max_size=30))
def test_matches_reference_emission(tmp_path, ins):
    data = b"".join(instr(ip, s, d) for ip, s, d in ins)
    recs, _ = load(write(tmp_path, data))
    assert rows(recs) == reference(data, champsim.INPUT_INSTR)
