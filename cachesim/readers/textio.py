"""Streaming text input shared by the line-oriented readers.

Files are read as bytes in large blocks (gzip and xz are detected by their
magic bytes and decompressed on the fly), cut at the last newline, and handed
to a numba line parser as one uint8 array per block: memory stays bounded by
the block size whatever the file size.
"""
from __future__ import annotations

import gzip
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from ..errors import TraceError

BLOCK = 8 << 20


def open_binary(path: str | Path) -> BinaryIO:
    p = Path(path)
    try:
        f = open(p, "rb")
    except FileNotFoundError:
        raise TraceError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise TraceError(f"{p}: is a directory") from None
    except OSError as e:
        raise TraceError(f"{p}: cannot read: {e.strerror}") from None
    head = f.read(6)
    f.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(f, mode="rb")  # type: ignore[return-value]
    return f


def peek(path: str | Path, n: int = 65536) -> bytes:
    """The first n decompressed bytes (for format sniffing)."""
    with open_binary(path) as f:
        try:
            return f.read(n)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
            raise TraceError(f"{path}: corrupt compressed data ({e})") from None


def blocks(path: str | Path, block: int = BLOCK) -> Iterator[tuple[np.ndarray, bool]]:
    """Yield (bytes ending at a line boundary, is_last). The last block may
    end without a newline (a truncated final line)."""
    carry = b""
    with open_binary(path) as f:
        while True:
            try:
                data = f.read(block)
            except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
                raise TraceError(f"{path}: corrupt or truncated compressed data ({e})") from None
            if not data:
                if carry:
                    yield np.frombuffer(carry, np.uint8), True
                return
            data = carry + data
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1:]
            yield np.frombuffer(data[:cut + 1], np.uint8), False


def line_text(buf: np.ndarray, start: int, end: int, limit: int = 80) -> str:
    s = bytes(buf[start:end]).decode("utf-8", "replace").rstrip("\r\n")
    return s if len(s) <= limit else s[:limit] + "..."


def read_lines(path: str | Path, meta, parse, describe) -> Iterator[np.ndarray]:
    """The driver every simple line reader shares: one numba `parse` call per
    block, counters into `meta`, the first bad line as a one-line error.

    parse(buf, out, cur_op, last) -> (records, lines, bad_start, bad_end, err,
    ignored, skipped, cur_op); describe(err) -> (what the line should have
    been, why it is not), printed around the offending text."""
    from ..trace import empty_fields
    line0 = 0
    cur_op = 0
    for buf, last in blocks(path):
        out = empty_fields(int(np.count_nonzero(buf == 10)) + 1)
        nrec, nlines, bs, be, err, ign, skp, cur_op = parse(buf, out, cur_op, last)
        meta.ignored_lines += ign
        meta.skipped_lines += skp
        if bs >= 0:
            what, why = describe(err)
            raise TraceError(f"{path}:{line0 + nlines}: {what} {line_text(buf, bs, be)!r}: {why}")
        line0 += nlines
        if nrec:
            yield out[:nrec]
