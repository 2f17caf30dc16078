"""Trace records (DESIGN.md section 3): the dtype, the metadata sidecar and
chunked reading/writing with bounded memory.

A trace on disk is ``NAME.npy`` (a 1-D structured array, memory-mappable)
plus ``NAME.meta.json``. Readers never load a whole file: they memory-map the
``.npy`` and hand the engine fixed-size chunks, so a 200 M record trace
replays in a few tens of MiB of RSS beyond the mapped pages.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import TraceError

# Record kinds (the `kind` field).
READ, WRITE, RMW, IFETCH, PREFETCH, PREFETCHW = 0, 1, 2, 3, 4, 5
KIND_NAMES = ("read", "write", "rmw", "ifetch", "prefetch", "prefetchw")

RECORD_DTYPE = np.dtype([
    ("addr", "<u8"),     # virtual address
    ("op", "<u8"),       # logical operation index
    ("site", "<u4"),     # code site, like a PC
    ("dep", "<u4"),      # records back to the producer of this address (0 = none)
    ("weight", "<u4"),   # samples: the period a sample stands for (1 for full traces)
    ("size", "<u2"),     # bytes
    ("kind", "u1"),
    ("tag", "u1"),       # structure id; names in metadata
])
assert RECORD_DTYPE.itemsize == 32

CHUNK = 1 << 20  # records per chunk handed to the engine (32 MiB)


def meta_path(path: str | Path) -> Path:
    p = Path(path)
    name = p.name[:-4] if p.name.endswith(".npy") else p.name
    return p.with_name(name + ".meta.json")


@dataclass
class TraceMeta:
    """What a trace knows about itself; kept beside the records as JSON."""
    tags: list[str] = field(default_factory=lambda: ["data"])
    sites: list[str] = field(default_factory=list)
    source: str = ""
    format: str = "npy"
    sampled: bool = False
    skipped_lines: int = 0
    ignored_lines: int = 0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"version": 1, "tags": self.tags, "sites": self.sites, "source": self.source,
                "format": self.format, "sampled": self.sampled, "skipped_lines": self.skipped_lines,
                "ignored_lines": self.ignored_lines, "extra": self.extra}

    @classmethod
    def from_json(cls, d: dict, where: str) -> "TraceMeta":
        if not isinstance(d, dict) or not isinstance(d.get("tags", []), list):
            raise TraceError(f"{where}: metadata is not a cachesim trace sidecar")
        return cls(tags=[str(t) for t in d.get("tags", ["data"])], sites=[str(s) for s in d.get("sites", [])],
                   source=str(d.get("source", "")), format=str(d.get("format", "npy")),
                   sampled=bool(d.get("sampled", False)), skipped_lines=int(d.get("skipped_lines", 0)),
                   ignored_lines=int(d.get("ignored_lines", 0)), extra=dict(d.get("extra", {})))


def empty(n: int) -> np.ndarray:
    r = np.zeros(n, dtype=RECORD_DTYPE)
    r["size"] = 1
    r["weight"] = 1
    return r


def empty_fields(n: int) -> np.ndarray:
    """empty(n) with at least two rows, for a reader that hands numba the
    field views (out["addr"], ...): numba types them as strided arrays, but
    numpy calls a one-row view contiguous too, and a block that short
    compiled a second copy of the parser."""
    return empty(max(n, 2))


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent or ".")
    os.chmod(tmp, _umask_mode())  # mkstemp makes 0600; outputs get ordinary permissions
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class TraceWriter:
    """Streams record chunks into ``.npy`` without holding them all.

    Writes to a temporary file and renames on :meth:`close`, so an interrupted
    conversion never leaves a half-written trace under the final name.
    """

    def __init__(self, path: str | Path, meta: TraceMeta):
        self.path = Path(path)
        self.meta = meta
        self.count = 0
        d = self.path.parent if str(self.path.parent) else Path(".")
        if not d.is_dir():
            raise TraceError(f"{self.path}: output directory {d} does not exist")
        fd, self.tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=d)
        os.chmod(self.tmp, _umask_mode())
        self.f = os.fdopen(fd, "wb")
        self._header_len = self._write_header(0)

    def _write_header(self, n: int) -> int:
        self.f.seek(0)
        hdr = {"descr": np.lib.format.dtype_to_descr(RECORD_DTYPE), "fortran_order": False, "shape": (n,)}
        # Fixed-width header so it can be rewritten in place with the final count.
        np.lib.format.write_array_header_2_0(self.f, hdr)
        pos = self.f.tell()
        if hasattr(self, "_header_len") and pos != self._header_len:
            raise AssertionError("npy header length changed")
        return pos

    def write(self, records: np.ndarray) -> None:
        if records.dtype != RECORD_DTYPE:
            raise TypeError("records must have RECORD_DTYPE")
        self.f.write(np.ascontiguousarray(records).tobytes())
        self.count += len(records)

    def close(self) -> int:
        # Pad the count to a fixed width: write_array_header_2_0 pads to 64
        # bytes, and shape digits could cross that boundary, so compare.
        end = self.f.tell()
        self.f.seek(0)
        hdr = {"descr": np.lib.format.dtype_to_descr(RECORD_DTYPE), "fortran_order": False,
               "shape": (self.count,)}
        np.lib.format.write_array_header_2_0(self.f, hdr)
        if self.f.tell() != self._header_len:
            # Header grew past its padding: rewrite the body after a bigger header.
            self.f.close()
            self._rewrite_with_header(end)
        else:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
        os.replace(self.tmp, self.path)
        atomic_write_bytes(meta_path(self.path), json.dumps(self.meta.to_json(), indent=1).encode())
        return self.count

    def _rewrite_with_header(self, end: int) -> None:
        src = self.tmp
        fd, dst = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent or ".")
        os.chmod(dst, _umask_mode())
        with open(src, "rb") as fi, os.fdopen(fd, "wb") as fo:
            hdr = {"descr": np.lib.format.dtype_to_descr(RECORD_DTYPE), "fortran_order": False,
                   "shape": (self.count,)}
            np.lib.format.write_array_header_2_0(fo, hdr)
            fi.seek(self._header_len)
            while True:
                b = fi.read(1 << 24)
                if not b:
                    break
                fo.write(b)
        os.unlink(src)
        self.tmp = dst

    def abort(self) -> None:
        try:
            self.f.close()
        finally:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_trace(path: str | Path, records: np.ndarray, meta: TraceMeta | None = None) -> None:
    with TraceWriter(path, meta or TraceMeta()) as w:
        for i in range(0, len(records), CHUNK):
            w.write(records[i:i + CHUNK])


class Trace:
    """A trace as the engine consumes it: record chunks plus metadata.

    `source` is a record array (possibly memory-mapped) or a callable that
    returns an iterator of record chunks (streaming readers). `convert`, if
    given, turns each raw chunk into RECORD_DTYPE lazily, so foreign arrays
    are never copied whole.
    """

    def __init__(self, source, meta: TraceMeta, name: str = "trace", convert=None):
        self.source = source
        self.meta = meta
        self.name = name
        self.convert = convert

    @property
    def records(self) -> np.ndarray:
        """All records in memory (small traces, tests)."""
        if callable(self.source) or isinstance(self.source, NpyFile):
            return np.concatenate(list(self.chunks()))
        return self.convert(self.source) if self.convert else self.source

    def __len__(self) -> int:
        if callable(self.source):
            raise TypeError("streaming trace has no length before it is read")
        return len(self.source)

    def chunks(self, size: int = CHUNK, reuse: bool = False) -> Iterator[np.ndarray]:
        """Record chunks of at most `size`. reuse: the caller is done with
        each chunk before asking for the next, so a .npy file of our dtype
        may be read into one buffer (NpyFile.chunks_into)."""
        if reuse and isinstance(self.source, NpyFile) and self.source.dtype == RECORD_DTYPE and not self.convert:
            yield from self.source.chunks_into(size)
            return
        if callable(self.source):
            for c in self.source():
                for i in range(0, len(c), size):
                    yield c[i:i + size]
            return
        for i in range(0, len(self.source), size):
            c = self.source[i:i + size]
            yield self.convert(c) if self.convert else c


def _coerce(arr: np.ndarray, where: str) -> np.ndarray:
    """Accept our dtype, or any 1-D array with an integer `addr` field, or a
    plain integer array of addresses (read as 8-byte reads)."""
    if arr.dtype == RECORD_DTYPE:
        return arr
    if arr.dtype.names is None:
        if arr.dtype.kind not in "iu":
            raise TraceError(f"{where}: expected records with an 'addr' field or an integer address array, "
                             f"got dtype {arr.dtype}")
        out = empty(len(arr))
        out["addr"] = arr.astype(np.uint64, copy=False)
        out["size"] = 8
        return out
    if "addr" not in arr.dtype.names:
        raise TraceError(f"{where}: structured array has no 'addr' field (fields: {', '.join(arr.dtype.names)})")
    out = empty(len(arr))
    for name in arr.dtype.names:
        if name in RECORD_DTYPE.names:
            out[name] = arr[name]
    return out


class NpyFile:
    """The records of a .npy file, read chunk by chunk with plain file reads.

    Not a memory map: mapped pages of a file read once stay resident, so a
    multi-GB trace would grow the process by its whole size. Slicing returns
    a freshly read array; only whole-record slices are supported."""

    def __init__(self, path: Path, dtype: np.dtype, offset: int, n: int):
        self.path, self.dtype, self.offset, self.n = path, dtype, offset, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, sl: slice) -> np.ndarray:
        start, stop, step = sl.indices(self.n)
        if step != 1:
            raise IndexError("only contiguous slices")
        count = max(0, stop - start)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.dtype.itemsize)
            out = np.fromfile(f, dtype=self.dtype, count=count)
        if len(out) != count:
            raise TraceError(f"{self.path}: file shrank while reading")
        return out

    def chunks_into(self, size: int) -> Iterator[np.ndarray]:
        """The records in chunks read into one reused buffer: a fresh 32 MiB
        array per chunk cost ~8000 page faults, and reading a 10 M-record
        trace took 100-130 ms against 45-55 ms this way (longer than the
        lean replay of it). Each chunk is overwritten by the next."""
        buf = np.empty(min(size, self.n), self.dtype)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            for start in range(0, self.n, size):
                out = buf[:min(size, self.n - start)]
                if f.readinto(memoryview(out).cast("B")) != out.nbytes:
                    raise TraceError(f"{self.path}: file shrank while reading")
                yield out


def open_npy(path: str | Path) -> Trace:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            except (ValueError, EOFError, SyntaxError, TypeError) as e:
                raise TraceError(f"{p}: not a valid .npy file ({e})") from None
            offset = f.tell()
    except FileNotFoundError:
        raise TraceError(f"{p}: no such trace file") from None
    except IsADirectoryError:
        raise TraceError(f"{p}: is a directory, expected a .npy trace") from None
    if fortran and len(shape) > 1:
        raise TraceError(f"{p}: Fortran-ordered arrays are not traces")
    if len(shape) != 1:
        raise TraceError(f"{p}: expected a 1-D array of records, got shape {shape}")
    if dtype.hasobject:
        raise TraceError(f"{p}: object arrays are not traces")
    need = offset + shape[0] * dtype.itemsize
    have = p.stat().st_size
    if have < need:
        raise TraceError(f"{p}: truncated: header promises {shape[0]} records ({need} bytes) "
                         f"but the file holds {have} bytes")
    if shape[0] == 0:
        raise TraceError(f"{p}: trace has no records")
    arr = NpyFile(p, dtype, offset, shape[0])
    if dtype != RECORD_DTYPE:
        _coerce(arr[0:1], str(p))  # fail early on unusable dtypes
    mp = meta_path(p)
    meta = TraceMeta(source=str(p))
    if mp.exists():
        try:
            meta = TraceMeta.from_json(json.loads(mp.read_text()), str(mp))
        except json.JSONDecodeError as e:
            raise TraceError(f"{mp}: invalid JSON: {e}") from None
    conv = None if dtype == RECORD_DTYPE else (lambda c, w=str(p): _coerce(np.asarray(c), w))
    return Trace(arr, meta, p.name, conv)
