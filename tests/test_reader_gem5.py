"""gem5 packet trace reader (cachesim.readers.gem5; FORMATS.md section 5).

Traces are built with a small protobuf wire-format encoder below; when the
``protobuf`` package happens to be importable the decoding is cross-checked
against it (it is not a dependency)."""
import gzip
import lzma

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cachesim.errors import TraceError
from cachesim.readers import gem5
from cachesim.trace import IFETCH, READ, RECORD_DTYPE, WRITE, TraceMeta

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---- a tiny protobuf encoder ----------------------------------------------------------------------

def varint(v, pad=0):
    """Varint of v (< 2**64); pad adds non-minimal continuation bytes (total <= 10)."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v or pad:
            out.append(b | 0x80)
        else:
            out.append(b)
            break
        if not v:
            pad -= 1
            if pad == 0:
                out.append(0)
                break
    return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def vfield(field, v, pad=0):
    return key(field, 0) + varint(v, pad)


def lfield(field, b):
    return key(field, 2) + varint(len(b)) + b


def delimited(msg):
    return varint(len(msg)) + msg


def header(obj_id=b"system.monitor", tick_freq=10 ** 12, ids=((0, b"writebacks"), (1, b"system.cpu.inst"),
                                                              (2, b"system.cpu.data")), ver=None):
    h = lfield(1, obj_id) + vfield(3, tick_freq)
    if ver is not None:
        h += vfield(2, ver)
    for k, v in ids:
        h += lfield(4, vfield(1, k) + lfield(2, v))
    return h


def packet(tick, cmd, addr, size, flags=None, pkt_id=None, pc=None):
    """Field order as MemTraceProbe writes them: tick, cmd, flags, addr, size, [pc], pkt_id."""
    m = vfield(1, tick) + vfield(2, cmd)
    if flags is not None:
        m += vfield(5, flags)
    m += vfield(3, addr) + vfield(4, size)
    if pc is not None:
        m += vfield(7, pc)
    if pkt_id is not None:
        m += vfield(6, pkt_id)
    return m


def trace(*packets, hdr=None):
    return b"gem5" + delimited(header() if hdr is None else hdr) + b"".join(delimited(p) for p in packets)


def load(path, skip_bad=False):
    meta = TraceMeta()
    chunks = list(gem5.read(path, meta, skip_bad))
    for c in chunks:
        assert c.dtype == RECORD_DTYPE
    recs = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    return recs, meta


def rows(recs):
    return [(int(r["addr"]), int(r["kind"]), int(r["size"]), int(r["tag"]), int(r["op"]), int(r["site"]))
            for r in recs]


def write(tmp_path, data, name="t.trc"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---- tests ------------------------------------------------------------------------------------------

FORMATS_PACKET = bytes.fromhex("08 00 10 01 18 90 b4 80 02 20 02 28 80 02 30 01 38 90 b4 80 02")


def test_encoder_matches_formats_md_bytes():
    assert packet(0, 1, 0x401a10, 2, flags=256, pkt_id=1, pc=0x401a10) == bytes.fromhex(
        "08 00 10 01 28 80 02 18 90 b4 80 02 20 02 38 90 b4 80 02 30 01")
    assert vfield(3, 10 ** 12) == bytes.fromhex("18 80 a0 94 a5 8d 1d")
    assert lfield(4, vfield(1, 0) + lfield(2, b"writebacks")) == bytes.fromhex("22 0e 08 00 12 0a") + b"writebacks"
    assert varint(1, pad=3) == b"\x81\x80\x80\x00" and varint(5, pad=9) == b"\x85" + b"\x80" * 8 + b"\x00"
    assert len(varint(2 ** 64 - 1)) == 10


def test_formats_md_example(tmp_path):
    data = trace(FORMATS_PACKET, packet(0, 1, 77774872, 8, flags=0, pkt_id=2, pc=4200976))
    recs, meta = load(write(tmp_path, data))
    assert rows(recs) == [(0x401a10, IFETCH, 2, 1, 0, 0x401a10), (77774872, READ, 8, 0, 1, 4200976)]
    assert (recs["weight"] == 1).all() and (recs["dep"] == 0).all()
    assert meta.tags == ["data", "code"] and meta.format == "gem5"
    assert meta.extra["tick_freq"] == 10 ** 12 and meta.extra["obj_id"] == "system.monitor"
    assert meta.extra["id_strings"] == {"0": "writebacks", "1": "system.cpu.inst", "2": "system.cpu.data"}
    assert meta.extra["packets"] == 2 and "ver" not in meta.extra
    assert meta.skipped_lines == 0 and meta.ignored_lines == 0


def test_commands_flags_pc_and_kernel_addresses(tmp_path):
    data = trace(
        packet(10, 4, 0xffff888000000000, 64, flags=0, pkt_id=2),                      # WriteReq
        packet(11, 2, 0x1000, 64, flags=0),                                              # ReadResp: ignored
        packet(12, 7, 0x2000, 64),                                                       # WritebackDirty: ignored
        packet(13, 1, 0x3000, 8),                                                        # no flags: READ
        packet(14, 1, 0x4000, 4, flags=0x100 | 0x400, pc=0xffffffff81000000),           # ifetch, pc too wide
        packet(15, 4, 0xffffffff, 4, flags=0x100, pc=0xffffffff),                       # write stays a write
        packet(16, 13, 0x5000, 64),                                                      # HardPFReq: ignored
        hdr=header(ver=3))
    recs, meta = load(write(tmp_path, data))
    assert rows(recs) == [(0xffff888000000000, WRITE, 64, 0, 0, 0), (0x3000, READ, 8, 0, 1, 0),
                          (0x4000, IFETCH, 4, 1, 2, 0), (0xffffffff, WRITE, 4, 0, 3, 0xffffffff)]
    assert meta.ignored_lines == 3 and meta.extra["packets"] == 7 and meta.extra["ver"] == 3


def test_wire_format_edge_cases(tmp_path):
    u64 = 2 ** 64 - 1
    packets = [
        # fields in reverse order, unknown fields of every skippable wire type
        vfield(4, 8) + key(9, 1) + b"12345678" + vfield(3, 0x1000) + key(10, 5) + b"abcd" + lfield(11, b"xyz" * 50)
        + vfield(12, u64) + vfield(2, 1) + vfield(1, 99),
        # non-minimal varints everywhere, a 10-byte varint, and a repeated field (last wins)
        vfield(1, 5, pad=9) + vfield(2, 4, pad=2) + vfield(3, 0x7, pad=1) + vfield(3, u64) + vfield(4, 16, pad=4),
        # uint32 fields keep the low 32 bits of a longer varint; pkt_id may be any uint64
        vfield(1, 0) + vfield(2, (1 << 40) | 1) + vfield(3, 0x2000) + vfield(4, (7 << 32) | 2) + vfield(6, u64),
        # a known field with the wrong wire type is an unknown field: addr comes from the varint
        vfield(1, 0) + vfield(2, 1) + lfield(3, b"\x01\x02") + vfield(3, 0x3000) + vfield(4, 4),
        # flags given then pc absent; key varint non-minimal
        varint(1 << 3, pad=2) + varint(0) + vfield(2, 1) + vfield(5, 0x100) + vfield(3, 0x4000) + vfield(4, 4),
    ]
    recs, meta = load(write(tmp_path, trace(*packets)))
    assert rows(recs) == [(0x1000, READ, 8, 0, 0, 0), (u64, WRITE, 16, 0, 1, 0), (0x2000, READ, 2, 0, 2, 0),
                          (0x3000, READ, 4, 0, 3, 0), (0x4000, IFETCH, 4, 1, 4, 0)]
    assert meta.skipped_lines == 0 and meta.ignored_lines == 0


@pytest.mark.parametrize("bad,why", [
    (vfield(1, 0) + vfield(2, 1) + vfield(3, 0x1000), "missing required size"),
    (vfield(2, 1) + vfield(4, 8), "missing required tick, addr"),
    (b"", "missing required tick, cmd, addr, size"),
    (vfield(1, 0) + vfield(2, 1) + vfield(3, 0x1000) + vfield(4, 0), "size out of range"),
    (vfield(1, 0) + vfield(2, 4) + vfield(3, 0x1000) + vfield(4, 65536), "size out of range"),
    (packet(0, 1, 0x1000, 8) + key(1, 0) + b"\x80" * 10 + b"\x01", "varint longer than 10 bytes"),
    (packet(0, 1, 0x1000, 8) + key(5, 3), "wire type"),
    (packet(0, 1, 0x1000, 8) + key(5, 6) + b"\x00", "wire type"),
    (packet(0, 1, 0x1000, 8) + b"\x00\x00", "field number 0"),
    (packet(0, 1, 0x1000, 8) + key(9, 1) + b"1234", "past the end"),
    (packet(0, 1, 0x1000, 8) + key(9, 5) + b"12", "past the end"),
    (packet(0, 1, 0x1000, 8) + lfield(9, b"abc")[:-1], "past the end"),
    (packet(0, 1, 0x1000, 8) + key(3, 0) + b"\x80", "past the end"),
])
def test_bad_packet_is_an_error_naming_the_byte_offset(tmp_path, bad, why):
    good = [packet(0, 1, 0x40, 8), packet(1, 4, 0x80, 8)]
    data = trace(good[0], bad, good[1])
    off = len(trace(good[0]))
    p = write(tmp_path, data)
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: byte {off}: bad gem5 Packet #1 (") and why in msg and "\n" not in msg
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == [(0x40, READ, 8, 0, 0, 0), (0x80, WRITE, 8, 0, 1, 0)]
    assert meta.skipped_lines == 1 and meta.extra["packets"] == 3


@pytest.mark.parametrize("cut", [1, 2, 5, 10])
@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress])
def test_truncated_final_message(tmp_path, cut, compress):
    full = trace(packet(0, 1, 0x40, 8), packet(1, 4, 0x80, 8), packet(2, 1, 0xffff888000000000, 64, pc=2 ** 40))
    off = len(trace(packet(0, 1, 0x40, 8), packet(1, 4, 0x80, 8)))
    p = write(tmp_path, compress(full[:-cut]))
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: byte {off}: truncated gem5 Packet #2 at end of file") and "\n" not in msg
    recs, meta = load(p, skip_bad=True)
    assert rows(recs) == [(0x40, READ, 8, 0, 0, 0), (0x80, WRITE, 8, 0, 1, 0)] and meta.skipped_lines == 1


def test_truncated_inside_a_length_prefix(tmp_path):
    data = trace(packet(0, 1, 0x40, 8)) + b"\x85"            # a length prefix needing one more byte
    with pytest.raises(TraceError, match=r"truncated gem5 Packet #1 at end of file \(1 bytes '85'\)"):
        load(write(tmp_path, data))


def test_bad_length_prefixes_stop_the_reader(tmp_path):
    p = write(tmp_path, trace(packet(0, 1, 0x40, 8)) + b"\x80\x80\x80\x80\x80\x01" + b"x" * 40)
    for skip in (False, True):
        with pytest.raises(TraceError, match="length prefix longer than 5 bytes"):
            load(p, skip_bad=skip)
    p = write(tmp_path, trace(packet(0, 1, 0x40, 8)) + varint(gem5.MAX_MESSAGE + 1) + b"x" * 40)
    with pytest.raises(TraceError, match="length prefix of Packet #1 .*over"):
        load(p, skip_bad=True)


@pytest.mark.parametrize("data,match", [
    (b"gem4" + delimited(header()), "bad gem5 magic"),
    (b"\x67\x65\x6d", "truncated gem5 file"),
    (b"gem5", "truncated gem5 file"),
    (b"gem5" + delimited(header())[:-1], "truncated gem5 file"),
    (b"gem5" + delimited(vfield(3, 10 ** 12)), "missing required obj_id"),
    (b"gem5" + delimited(lfield(1, b"m")), "missing required tick_freq"),
    (b"gem5" + delimited(lfield(1, b"m") + vfield(3, 1) + key(2, 3)), "wire type"),
    (b"gem5" + b"\xff\xff\xff\xff\xff\x01", "longer than 5 bytes"),
    (b"2 401000\n", "bad gem5 magic"),
])
def test_bad_magic_and_header(tmp_path, data, match):
    for skip in (False, True):
        with pytest.raises(TraceError, match=match) as ei:
            load(write(tmp_path, data), skip_bad=skip)
        assert "\n" not in str(ei.value)


def test_header_fields_in_any_order_with_unknown_fields(tmp_path):
    h = (lfield(4, lfield(2, b"cpu") + vfield(1, 7)) + key(15, 5) + b"\0\0\0\0" + vfield(3, 10 ** 9)
         + vfield(2, 1) + lfield(1, "monitor é".encode()) + lfield(4, b""))
    recs, meta = load(write(tmp_path, trace(packet(0, 1, 0x40, 8), hdr=h)))
    assert len(recs) == 1
    assert meta.extra["tick_freq"] == 10 ** 9 and meta.extra["obj_id"] == "monitor é" and meta.extra["ver"] == 1
    assert meta.extra["id_strings"] == {"7": "cpu", "0": ""}


def test_gzip_xz_empty_and_header_only(tmp_path):
    data = trace(FORMATS_PACKET, packet(5, 4, 0x80, 8))
    for comp, name in ((gzip.compress, "t.trc.gz"), (lzma.compress, "t.trc.xz"), (gzip.compress, "t.trc")):
        recs, meta = load(write(tmp_path, comp(data), name))
        assert rows(recs) == [(0x401a10, IFETCH, 2, 1, 0, 0x401a10), (0x80, WRITE, 8, 0, 1, 0)]
    recs, meta = load(write(tmp_path, b""))
    assert len(recs) == 0
    recs, meta = load(write(tmp_path, gzip.compress(trace())))
    assert len(recs) == 0 and meta.extra["packets"] == 0 and meta.extra["tick_freq"] == 10 ** 12
    g = gzip.compress(data * 20)
    with pytest.raises(TraceError, match="corrupt"):
        load(write(tmp_path, g[:12] + b"\xff" * 20 + g[32:]))


def test_many_packets_across_blocks(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    n = 3000
    addrs = rng.integers(0, 2 ** 63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    cmds = rng.choice([1, 4, 2, 7], n)
    pkts = [packet(i, int(c), int(a), 64, flags=0, pkt_id=i) for i, (c, a) in enumerate(zip(cmds, addrs))]
    data = trace(*pkts)
    whole, _ = load(write(tmp_path, data, "a"))
    monkeypatch.setattr(gem5, "BLOCK", 7)
    small, meta = load(write(tmp_path, gzip.compress(data), "b.gz"))
    assert rows(whole) == rows(small)
    keep = np.isin(cmds, [1, 4])
    assert [int(a) for a in small["addr"]] == [int(a) for a in addrs[keep]]
    assert list(small["kind"]) == [READ if c == 1 else WRITE for c in cmds[keep]]
    assert list(small["op"]) == list(range(int(keep.sum())))
    assert meta.ignored_lines == n - keep.sum() and meta.extra["packets"] == n
    monkeypatch.setattr(gem5, "BLOCK", 64)
    last = len(data) - len(delimited(pkts[-1]))
    with pytest.raises(TraceError, match=rf"byte {last}: truncated gem5 Packet #{n - 1}"):
        load(write(tmp_path, data[:-1], "c"))


def test_sniff():
    assert gem5.sniff(trace(FORMATS_PACKET))
    assert not gem5.sniff(b"gem4")
    assert not gem5.sniff(b"")


# ---- cross-check with the official runtime, when present ------------------------------------------

def _pb_classes():
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool
    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:  # older protobuf
        from google.protobuf.message_factory import MessageFactory
        GetMessageClass = MessageFactory().GetPrototype  # noqa: N806
    fd = descriptor_pb2.FileDescriptorProto(name="cachesim_test_packet.proto", package="ProtoMessage", syntax="proto2")
    F = descriptor_pb2.FieldDescriptorProto  # noqa: N806
    msg = fd.message_type.add(name="Packet")
    for name, num, typ, lab in (("tick", 1, F.TYPE_UINT64, F.LABEL_REQUIRED),
                                ("cmd", 2, F.TYPE_UINT32, F.LABEL_REQUIRED),
                                ("addr", 3, F.TYPE_UINT64, F.LABEL_REQUIRED),
                                ("size", 4, F.TYPE_UINT32, F.LABEL_REQUIRED),
                                ("flags", 5, F.TYPE_UINT32, F.LABEL_OPTIONAL),
                                ("pkt_id", 6, F.TYPE_UINT64, F.LABEL_OPTIONAL),
                                ("pc", 7, F.TYPE_UINT64, F.LABEL_OPTIONAL)):
        msg.field.add(name=name, number=num, type=typ, label=lab)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return GetMessageClass(pool.FindMessageTypeByName("ProtoMessage.Packet"))


field_bytes = st.one_of(
    st.builds(lambda f, v, pad: vfield(f, v, pad), st.integers(1, 8), st.integers(0, 2 ** 64 - 1), st.integers(0, 3)),
    st.builds(lambda f, b: lfield(f, b), st.integers(8, 20), st.binary(max_size=6)),
    st.builds(lambda f, b: key(f, 1) + b, st.integers(8, 20), st.binary(min_size=8, max_size=8)),
    st.builds(lambda f, b: key(f, 5) + b, st.integers(8, 20), st.binary(min_size=4, max_size=4)),
)

fields = st.lists(field_bytes, max_size=4).map(b"".join)
good_packet = st.builds(packet, st.integers(0, 2 ** 64 - 1), st.sampled_from([1, 4, 2, 1 << 33 | 1]),
                        st.integers(0, 2 ** 64 - 1), st.sampled_from([0, 1, 8, 64, 65535, 65536, 1 << 32 | 8]),
                        st.none() | st.sampled_from([0, 0x100, 0x500, 1 << 40]),
                        st.none() | st.integers(0, 2 ** 64 - 1),
                        st.none() | st.sampled_from([0, 0x401a10, 2 ** 32 - 1, 2 ** 32, 2 ** 64 - 1]))
message = st.one_of(st.lists(field_bytes, max_size=9).map(b"".join),
                    st.builds(lambda a, b, c: a + b + c, fields, good_packet, fields), good_packet)


@FUZZ
@given(msgs=st.lists(message, min_size=1, max_size=8))
def test_matches_protobuf_runtime(tmp_path, msgs):
    Packet = _pb_classes()  # noqa: N806
    from google.protobuf.message import DecodeError
    want = []
    for m in msgs:
        x = Packet()
        try:
            x.ParseFromString(m)
        except DecodeError:
            want = None
            break
        if not x.IsInitialized():             # missing required fields: our reader errors too
            want = None
            break
        if x.cmd in (1, 4):
            if not 1 <= x.size <= 65535:
                want = None
                break
            kind = WRITE if x.cmd == 4 else IFETCH if x.HasField("flags") and x.flags & 0x100 else READ
            site = x.pc if x.HasField("pc") and x.pc < 2 ** 32 else 0
            want.append((x.addr, kind, x.size, int(kind == IFETCH), len(want), site))
    p = write(tmp_path, trace(*msgs))
    event("protobuf: invalid" if want is None else f"protobuf: {len(want)} records")
    if want is None:
        with pytest.raises(TraceError):
            load(p)
    else:
        assert rows(load(p)[0]) == want


# ---- fuzzing ------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.binary(max_size=2000), prefix=st.sampled_from([b"", b"gem5", trace()]))
@example(data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 30, prefix=b"")
@example(data=b"\xfd7zXZ\x00garbage", prefix=b"")
@example(data=b"\x05\x08\x00\x10\x01\x18", prefix=trace())
def test_arbitrary_bytes_parse_or_trace_error(tmp_path, data, prefix):
    p = write(tmp_path, prefix + data)
    for skip in (False, True):
        try:
            load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
    gem5.sniff(prefix + data)


@FUZZ
@given(msgs=st.lists(message, max_size=10), cut=st.integers(0, 30))
def test_arbitrary_messages_parse_or_trace_error(tmp_path, msgs, cut):
    data = trace(*msgs)
    data = data[:len(data) - cut] if cut < len(data) - 4 else data
    p = write(tmp_path, data)
    for skip in (False, True):
        try:
            recs, meta = load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
        else:
            assert len(recs) + meta.skipped_lines + meta.ignored_lines >= meta.extra["packets"]
