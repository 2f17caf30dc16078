"""Trace files: chunked writing, streaming reads with bounded memory, atomic outputs."""
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from cachesim.trace import RECORD_DTYPE, TraceMeta, TraceWriter, empty, meta_path, open_npy, write_trace
from conftest import ROOT


def test_round_trip_and_sidecar(tmp_path):
    r = empty(1000)
    r["addr"] = np.arange(1000) * 64
    r["tag"] = 1
    write_trace(tmp_path / "t.npy", r, TraceMeta(tags=["a", "b"], source="x"))
    t = open_npy(tmp_path / "t.npy")
    assert len(t) == 1000 and (t.records == r).all()
    assert t.meta.tags == ["a", "b"]
    assert np.load(tmp_path / "t.npy").dtype == RECORD_DTYPE        # a plain .npy for numpy users
    assert json.loads(meta_path(tmp_path / "t.npy").read_text())["source"] == "x"
    mode = stat.S_IMODE(os.stat(tmp_path / "t.npy").st_mode)
    assert mode & 0o044                                               # not a private 0600 temp file


def test_plain_integer_npy_is_8_byte_loads(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10, dtype=np.uint64) * 64)
    t = open_npy(tmp_path / "a.npy")
    c = next(t.chunks())
    assert (c["size"] == 8).all() and (c["kind"] == 0).all() and c["addr"][3] == 192


def test_interrupted_writer_leaves_nothing(tmp_path):
    out = tmp_path / "x.npy"
    with pytest.raises(RuntimeError):
        with TraceWriter(out, TraceMeta()) as w:
            w.write(empty(10))
            raise RuntimeError("interrupted")
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


BOUNDED = r"""
import resource, sys, numpy as np
from cachesim.trace import TraceWriter, TraceMeta, empty
from cachesim import simulate
path = sys.argv[1]
with TraceWriter(path, TraceMeta()) as w:
    for i in range(10):
        r = empty(1 << 20); r["addr"] = np.arange(1 << 20, dtype=np.uint64) * 64; r["size"] = 8
        w.write(r)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cfg = {"machine": {"name": "m"}, "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8}},
       "replay": {"timing": False}}
res = simulate(cfg, path)
assert res["runs"][0]["accesses"] == 10 << 20
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
"""


def test_replay_streams_with_bounded_memory(tmp_path):
    """A 320 MiB trace replays in far less extra memory than its size."""
    r = subprocess.run([sys.executable, "-c", BOUNDED, str(tmp_path / "big.npy")], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    grown_kib = int(r.stdout.strip().splitlines()[-1])
    assert grown_kib < 160 * 1024, grown_kib
