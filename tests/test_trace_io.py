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
cfg = {"machine": {"name": "m"}, "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8}},
       "replay": {"timing": False}}
simulate(cfg, np.arange(100, dtype=np.uint64))   # compiling (a cold numba cache) is not the replay's memory
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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


@pytest.mark.parametrize("timing,policy", [(False, "lru"), (True, "lru"), (True, "srrip")])
def test_reused_chunk_buffer_replays_like_the_array(tmp_path, timing, policy):
    """Trace.chunks(reuse=True) reads a .npy file into one buffer that each
    chunk overwrites, while the pipeline's worker may still be on the last
    chunk: the results equal replaying the records from memory."""
    from cachesim.config import machine_from_dict
    from cachesim.engine.replay import EngineState
    rng = np.random.default_rng(3)
    n = 60_000
    r = empty(n)
    r["addr"] = rng.integers(0, 1 << 20, n) * 8
    r["kind"] = rng.choice([0, 0, 1, 2], n)
    r["size"] = 8
    r["dep"] = rng.integers(0, 3, n)
    r["op"] = np.arange(n) // 4
    write_trace(tmp_path / "t.npy", r, TraceMeta())
    m = machine_from_dict({"machine": {"name": "m"}, "replay": {"timing": timing},
                           "caches": {"L1": {"level": 1, "size": "4KiB", "assoc": 8},
                                      "L2": {"level": 2, "size": "64KiB", "assoc": 8, "replacement_policy": policy}}})
    chunks = list(open_npy(tmp_path / "t.npy").chunks(size=7000, reuse=True))
    assert len({c.ctypes.data for c in chunks}) == 1      # one buffer, overwritten chunk by chunk
    a, b = EngineState(m, threads=2), EngineState(m, threads=2)
    for c in open_npy(tmp_path / "t.npy").chunks(size=7000, reuse=True):
        a.replay(c)
    for i in range(0, n, 7000):
        b.replay(r[i:i + 7000])
    assert a.pipelined and np.array_equal(a.M, b.M)
