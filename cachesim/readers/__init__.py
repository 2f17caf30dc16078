"""Trace readers, one module per format, registered by name.

Each reader module has ``NAME``, ``read(path, meta, skip_bad) -> iterator of
record chunks`` and ``sniff(head_bytes) -> bool``; ``npy`` is memory-mapped
instead. ``open_trace`` returns a :class:`~cachesim.trace.Trace` that
streams, so no format is ever loaded whole.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import TraceError
from ..trace import Trace, TraceMeta, open_npy
from . import champsim, champsim_cloudsuite, din, gem5, lackey, perf, perf_mem, xdin
from .textio import peek

# Order matters for --format auto: the ChampSim formats have no magic bytes,
# so their sniffers are guesses and go last (64-byte before 96-byte).
READERS = {m.NAME: m for m in (lackey, din, xdin, perf_mem, perf, gem5, champsim, champsim_cloudsuite)}
FORMATS = ("auto", "npy") + tuple(READERS)


def sniff_format(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p}: no such trace file")
    if p.is_dir():
        raise TraceError(f"{p}: is a directory, expected a trace file")
    head = peek(p)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if not head:
        raise TraceError(f"{p}: empty file, expected a trace")
    for name, mod in READERS.items():
        if mod.sniff(head):
            return name
    raise TraceError(f"{p}: cannot tell the trace format; pass --format (one of {', '.join(FORMATS[1:])})")


def open_trace(path: str | Path, fmt: str = "auto", skip_bad: bool = False) -> Trace:
    p = Path(path)
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = sniff_format(p)
    if fmt == "npy":
        return open_npy(p)
    if not p.exists():
        raise TraceError(f"{p}: no such trace file")
    reader = READERS[fmt]
    meta = TraceMeta(source=str(p), format=fmt)
    return Trace(lambda: reader.read(p, meta, skip_bad), meta, p.name)
