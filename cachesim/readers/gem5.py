"""gem5 packet traces from ``MemTraceProbe`` / ``CommMonitor`` (FORMATS.md section 5).

Layout (gem5 src/proto/protoio.cc), after optional gzip (detected by its
magic; xz is accepted too): the 4-byte magic ``gem5`` (0x356d6567 LE), a
varint32-length-delimited ``PacketHeader``, then varint32-length-delimited
``Packet`` messages until EOF.

The protobuf wire format is decoded by hand, Packets in numba, the single
header in Python, rather than through the ``protobuf`` runtime:

* no dependency (protobuf is big, not otherwise needed, and its generated
  ``packet_pb2`` would have to be shipped and kept in step with gem5);
* speed: every Packet field is a varint, so a numba loop over the bytes
  decodes tens of millions of packets per second, where the pure-Python
  protobuf runtime manages well under a million;
* control: a malformed message is reported with its byte offset, or skipped
  and counted, instead of an opaque ``DecodeError`` that ends the stream.

The decoder follows protobuf's parsing rules, as FORMATS.md requires:
fields in any order; a field seen twice -> the last value wins; unknown
fields (and known fields with an unexpected wire type) are skipped by wire
type 0 (varint), 1 (8 bytes), 2 (length-delimited) and 5 (4 bytes); wire
types 3/4 (groups, unused by gem5), 6 and 7 and field number 0 are errors;
varints may be non-minimal and up to 10 bytes (bits beyond 64 dropped, an
11th byte is an error); uint32 fields keep the low 32 bits of a longer
varint; length prefixes are varint32s of 1-5 bytes.  ``tick``, ``cmd``,
``addr`` and ``size`` are required; missing optional fields are absent, not
0.  A message longer than ``MAX_MESSAGE`` (64 MiB, protobuf's classic total
limit; a Packet is a few dozen bytes) is taken as corruption.

Records: ``cmd`` 1 ReadReq -> READ, or IFETCH (tag 1, "code") when
``flags & 0x100`` (Request::INST_FETCH); ``cmd`` 4 WriteReq -> WRITE; any
other command (responses, writebacks, prefetches, whose numbering changed
between gem5 releases) is skipped and counted in ``meta.ignored_lines``.
``size`` must be 1..65535 for reads and writes.  ``site`` is the ``pc`` when
present and below 2**32, else 0 (a 64-bit pc cannot be kept in the 32-bit
field, and a truncated one could alias an unrelated site).  ``op`` is the
index of the emitted record.

Bad packets (malformed fields, missing required fields, bad size) are
errors naming the byte offset of the message's length prefix in the
decompressed stream and the packet number (from 0), or with
``skip_bad`` are skipped and counted in ``meta.skipped_lines``.  A message
cut off by the end of the file is an error, or with ``skip_bad`` dropped
and counted once.  A bad magic, a bad header, a bad length prefix (more than
5 bytes, or over ``MAX_MESSAGE``) stop the reader whatever ``skip_bad``
says: there is no way to resynchronise.  An empty file has no records.

``meta.extra`` gets ``tick_freq``, ``obj_id``, ``ver`` (when present),
``id_strings`` (requestor id -> name, keys as strings) and ``packets``
(Packet messages read).
"""
from __future__ import annotations

import lzma
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from ..errors import TraceError
from ..trace import IFETCH, READ, WRITE, TraceMeta, empty_fields
from .textio import open_binary

TAGS = ["data", "code"]
NAME = "gem5"
MAGIC = b"gem5"
MAX_MESSAGE = 64 << 20
BLOCK = 8 << 20
INST_FETCH = 0x100
CMD_READ_REQ, CMD_WRITE_REQ = 1, 4

# field presence bits
F_TICK, F_CMD, F_ADDR, F_SIZE, F_FLAGS, F_PC = 1, 2, 4, 8, 16, 32
REQUIRED = F_TICK | F_CMD | F_ADDR | F_SIZE
_FIELD_NAMES = ((F_TICK, "tick"), (F_CMD, "cmd"), (F_ADDR, "addr"), (F_SIZE, "size"))

# error codes from parse_packets
E_VARINT, E_OVERRUN, E_WIRE, E_FIELD0, E_MISSING, E_SIZE, E_LENPREFIX, E_TOOBIG = 1, 2, 3, 4, 5, 6, 7, 8
_REASONS = {
    E_VARINT: "varint longer than 10 bytes",
    E_OVERRUN: "field runs past the end of the message",
    E_WIRE: "invalid or unsupported wire type (groups, 6, 7)",
    E_FIELD0: "field number 0",
    E_SIZE: "size out of range 1..65535",
    E_LENPREFIX: "length prefix longer than 5 bytes",
    E_TOOBIG: f"length prefix over {MAX_MESSAGE} bytes",
}


@njit(cache=True)
def _varint(buf, i, end):
    """Varint at buf[i:end]: (value, next index, status 0 ok / 1 ran off end / 2 over 10 bytes)."""
    v = np.uint64(0)
    shift = 0
    while True:
        if i >= end:
            return v, i, 1
        b = buf[i]
        i += 1
        if shift < 64:
            v |= np.uint64(b & 0x7F) << np.uint64(shift)
        if b < 128:
            return v, i, 0
        shift += 7
        if shift >= 70:
            return v, i, 2


@njit(cache=True)
def _packet(buf, p, e):
    """Fields of the Packet message buf[p:e].

    Returns (err, have, tick, cmd, addr, size, flags, pc)."""
    have = 0
    tick = np.uint64(0)
    cmd = np.uint64(0)
    addr = np.uint64(0)
    size = np.uint64(0)
    flags = np.uint64(0)
    pc = np.uint64(0)
    low32 = np.uint64(0xFFFFFFFF)
    while p < e:
        key, p, st = _varint(buf, p, e)
        if st == 1:
            return E_OVERRUN, have, tick, cmd, addr, size, flags, pc
        if st == 2:
            return E_VARINT, have, tick, cmd, addr, size, flags, pc
        key = key & low32            # tags are varint32
        wire = np.int64(key & np.uint64(7))
        field = np.int64(key >> np.uint64(3))
        if field == 0:
            return E_FIELD0, have, tick, cmd, addr, size, flags, pc
        if wire == 0:
            v, p, st = _varint(buf, p, e)
            if st == 1:
                return E_OVERRUN, have, tick, cmd, addr, size, flags, pc
            if st == 2:
                return E_VARINT, have, tick, cmd, addr, size, flags, pc
            if field == 1:
                tick = v
                have |= F_TICK
            elif field == 2:
                cmd = v & low32
                have |= F_CMD
            elif field == 3:
                addr = v
                have |= F_ADDR
            elif field == 4:
                size = v & low32
                have |= F_SIZE
            elif field == 5:
                flags = v & low32
                have |= F_FLAGS
            elif field == 7:
                pc = v
                have |= F_PC
            # field 6 pkt_id and unknown fields: ignored
        elif wire == 1:
            if e - p < 8:
                return E_OVERRUN, have, tick, cmd, addr, size, flags, pc
            p += 8
        elif wire == 5:
            if e - p < 4:
                return E_OVERRUN, have, tick, cmd, addr, size, flags, pc
            p += 4
        elif wire == 2:
            ln, p, st = _varint(buf, p, e)
            if st == 1:
                return E_OVERRUN, have, tick, cmd, addr, size, flags, pc
            if st == 2:
                return E_VARINT, have, tick, cmd, addr, size, flags, pc
            if ln > np.uint64(e - p):
                return E_OVERRUN, have, tick, cmd, addr, size, flags, pc
            p += np.int64(ln)
        else:
            return E_WIRE, have, tick, cmd, addr, size, flags, pc
    return 0, have, tick, cmd, addr, size, flags, pc


@njit(cache=True)
def parse_packets(buf, addr, size, kind, tag, op, site, op0, skip_bad, maxlen):
    """Decode the whole Packet messages at the start of buf.

    Returns (records, pos, packets, err, err_pos, err_info, ignored, skipped, op):
    pos is where the first incomplete message starts (len(buf) when none);
    err != 0 stops at the message starting at err_pos (err_info: the
    presence bits for a missing-field error)."""
    n = buf.shape[0]
    pos = 0
    nrec = 0
    npk = 0
    ignored = 0
    skipped = 0
    cur_op = op0
    lim = np.uint64(0xFFFFFFFF)
    while pos < n:
        mstart = pos
        # varint32 length prefix, 1-5 bytes
        ln = np.uint64(0)
        p = pos
        shift = 0
        state = 1                      # 1 incomplete, 0 done, 2 too long
        while p < n:
            b = buf[p]
            p += 1
            ln |= np.uint64(b & 0x7F) << np.uint64(shift)
            if b < 128:
                state = 0
                break
            shift += 7
            if shift >= 35:
                state = 2
                break
        if state == 1:
            break                      # need more bytes
        if state == 2:
            return nrec, mstart, npk, E_LENPREFIX, mstart, 0, ignored, skipped, cur_op
        if ln > np.uint64(maxlen):
            return nrec, mstart, npk, E_TOOBIG, mstart, 0, ignored, skipped, cur_op
        end = p + np.int64(ln)
        if end > n:
            break                      # need more bytes
        pos = end
        npk += 1
        err, have, tick, cmd, a, sz, flags, pc = _packet(buf, p, end)
        info = 0
        if err == 0 and (have & REQUIRED) != REQUIRED:
            err = E_MISSING
            info = have
        k = -1
        if err == 0:
            if cmd == np.uint64(CMD_READ_REQ):
                k = IFETCH if (have & F_FLAGS) != 0 and (flags & np.uint64(INST_FETCH)) != 0 else READ
            elif cmd == np.uint64(CMD_WRITE_REQ):
                k = WRITE
            if k >= 0 and (sz == np.uint64(0) or sz > np.uint64(65535)):
                err = E_SIZE
        if err != 0:
            if skip_bad:
                skipped += 1
                continue
            return nrec, mstart, npk - 1, err, mstart, info, ignored, skipped, cur_op
        if k < 0:
            ignored += 1
            continue
        addr[nrec] = a
        size[nrec] = sz
        kind[nrec] = k
        tag[nrec] = 1 if k == IFETCH else 0
        op[nrec] = cur_op
        site[nrec] = np.uint32(pc) if (have & F_PC) != 0 and pc <= lim else np.uint32(0)
        cur_op += 1
        nrec += 1
    return nrec, pos, npk, 0, -1, 0, ignored, skipped, cur_op


# ---- the header, in Python (one message) ---------------------------------------------------------

def _py_varint(data: bytes, i: int, end: int) -> tuple[int, int]:
    v = 0
    shift = 0
    while True:
        if i >= end:
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        if shift < 64:
            v |= (b & 0x7F) << shift
        if b < 128:
            return v & 0xFFFFFFFFFFFFFFFF, i
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _py_fields(data: bytes, i: int, end: int) -> list[tuple[int, int, int | bytes]]:
    """(field, wire, value) of the message data[i:end]; value is bytes for wire type 2."""
    out: list[tuple[int, int, int | bytes]] = []
    while i < end:
        key, i = _py_varint(data, i, end)
        key &= 0xFFFFFFFF
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == 0:
            v, i = _py_varint(data, i, end)
            out.append((field, wire, v))
        elif wire in (1, 5):
            w = 8 if wire == 1 else 4
            if end - i < w:
                raise ValueError("field runs past the end of the message")
            out.append((field, wire, int.from_bytes(data[i:i + w], "little")))
            i += w
        elif wire == 2:
            ln, i = _py_varint(data, i, end)
            if ln > end - i:
                raise ValueError("field runs past the end of the message")
            out.append((field, wire, bytes(data[i:i + ln])))
            i += ln
        else:
            raise ValueError(f"invalid or unsupported wire type {wire}")
    return out


def _header(data: bytes, path) -> tuple[dict, int] | None:
    """Parse magic + PacketHeader at the start of data: (extra, bytes used), or
    None when data is too short to tell (read more)."""
    if len(data) < 4:
        if MAGIC.startswith(data):
            return None
        raise TraceError(f"{path}: byte 0: bad gem5 magic {data[:4].hex(' ')!r}: expected 67 65 6d 35 ('gem5')")
    if data[:4] != MAGIC:
        raise TraceError(f"{path}: byte 0: bad gem5 magic {data[:4].hex(' ')!r}: "
                         "expected 67 65 6d 35 ('gem5'), optionally gzip-compressed")
    ln, p, shift = 0, 4, 0
    while True:
        if p >= len(data):
            return None
        b = data[p]
        p += 1
        ln |= (b & 0x7F) << shift
        if b < 128:
            break
        shift += 7
        if shift >= 35:
            raise TraceError(f"{path}: byte 4: bad PacketHeader length prefix: longer than 5 bytes")
    if ln > MAX_MESSAGE:
        raise TraceError(f"{path}: byte 4: PacketHeader length {ln} over {MAX_MESSAGE} bytes: corrupt file")
    if p + ln > len(data):
        return None
    where = f"{path}: byte 4: bad gem5 PacketHeader ({{}}) {data[p:p + 16].hex(' ')!r}"
    try:
        fields = _py_fields(data, p, p + ln)
        extra: dict = {}
        ids: dict[str, str] = {}
        for field, wire, v in fields:
            if field == 1 and wire == 2:
                extra["obj_id"] = v.decode("utf-8", "replace")
            elif field == 2 and wire == 0:
                extra["ver"] = v & 0xFFFFFFFF
            elif field == 3 and wire == 0:
                extra["tick_freq"] = v
            elif field == 4 and wire == 2:
                key, value = 0, ""
                for f2, w2, v2 in _py_fields(v, 0, len(v)):
                    if f2 == 1 and w2 == 0:
                        key = v2 & 0xFFFFFFFF
                    elif f2 == 2 and w2 == 2:
                        value = v2.decode("utf-8", "replace")
                ids[str(key)] = value
    except ValueError as e:
        raise TraceError(where.format(e) + ": expected a protobuf PacketHeader message") from None
    missing = [name for name in ("obj_id", "tick_freq") if name not in extra]
    if missing:
        raise TraceError(where.format("missing required " + ", ".join(missing)) +
                         ": expected a PacketHeader with obj_id and tick_freq")
    extra["id_strings"] = ids
    return extra, p + ln


def _read_chunks(f, path):
    while True:
        try:
            data = f.read(BLOCK)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
            raise TraceError(f"{path}: corrupt or truncated compressed data ({e})") from None
        if not data:
            return
        yield data


def _hexhead(b: bytes) -> str:
    return b[:24].hex(" ") + (" ..." if len(b) > 24 else "")


def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False) -> Iterator[np.ndarray]:
    """Yield record chunks; updates meta as it goes."""
    meta.tags = list(TAGS)
    meta.format = NAME
    with open_binary(path) as f:
        chunks = _read_chunks(f, path)
        data = b""
        hdr = None
        for more in chunks:
            data += more
            hdr = _header(data, path)
            if hdr is not None:
                break
        if hdr is None:
            if not data:
                return                   # empty file: no records
            _header_eof(data, path)
        extra, used = hdr
        meta.extra.update(extra)
        meta.extra["packets"] = 0
        base = used                      # stream offset of data[0] after slicing
        carry = data[used:]
        cur_op = 0
        npk_total = 0
        pending = True                   # carry holds unparsed bytes from the header read
        while True:
            if pending:
                buf_bytes = carry
                pending = False
            else:
                more = next(chunks, None)
                if more is None:
                    break
                buf_bytes = carry + more
            buf = np.frombuffer(buf_bytes, np.uint8)
            out = empty_fields(len(buf) // 8 + 1)
            nrec, pos, npk, err, epos, info, ign, skp, cur_op = parse_packets(
                buf, out["addr"], out["size"], out["kind"], out["tag"], out["op"], out["site"],
                cur_op, skip_bad, MAX_MESSAGE)
            meta.ignored_lines += ign
            meta.skipped_lines += skp
            npk_total += npk
            meta.extra["packets"] = npk_total
            if err:
                if err == E_MISSING:
                    miss = [nm for bit, nm in _FIELD_NAMES if not info & bit]
                    why = "missing required " + ", ".join(miss)
                else:
                    why = _REASONS[err]
                what = "Packet" if err not in (E_LENPREFIX, E_TOOBIG) else "length prefix of Packet"
                raise TraceError(f"{path}: byte {base + epos}: bad gem5 {what} #{npk_total} ({why}) "
                                 f"{_hexhead(buf_bytes[epos:])!r}: expected a varint32 length and a Packet "
                                 "with tick, cmd, addr, size")
            carry = buf_bytes[pos:]
            base += pos
            if nrec:
                yield out[:nrec]
        if carry:
            if skip_bad:
                meta.skipped_lines += 1
                return
            raise TraceError(f"{path}: byte {base}: truncated gem5 Packet #{npk_total} at end of file "
                             f"({len(carry)} bytes {_hexhead(carry)!r}): expected a varint32 length and "
                             "that many bytes of Packet")


def _header_eof(data: bytes, path) -> None:
    raise TraceError(f"{path}: byte 0: truncated gem5 file ({len(data)} bytes {_hexhead(data)!r}): "
                     "expected the 'gem5' magic and a whole PacketHeader")


def sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)
