"""Timing: latency staircase, MSHR-limited overlap, window and dependencies."""
import numpy as np
import pytest

from cachesim.api import run_records
from cachesim.config import machine_from_dict
from cachesim.plot import chase_latency, staircase
from cachesim.trace import WRITE, Trace, TraceMeta, empty

LAT = {"L1": (1, 3, 1), "L2": (3, 9, 2), "L3": (10, 26, 4)}


def mach(mshrs=(10, 16, 32), window=256, mem_ns=100):
    caches = {}
    for (name, (t, d, r)), size, assoc, m in zip(LAT.items(), ("32KiB", "256KiB", "2MiB"), (8, 8, 16), mshrs):
        caches[name] = {"level": len(caches) + 1, "size": size, "assoc": assoc, "tag_latency": t,
                        "data_latency": d, "response_latency": r, "mshrs": m}
    return machine_from_dict({"machine": {"name": "t", "frequency_ghz": 1.0}, "caches": caches,
                              "memory": {"latency_ns": mem_ns}, "core": {"window": window}})


# load-to-use latency: tags down to the level that hits, its data, responses back
HIT = {"L1": 1 + 3, "L2": 1 + 3 + 9 + 1, "L3": 1 + 3 + 10 + 26 + 1 + 2, "mem": 1 + 3 + 10 + 100 + 1 + 2 + 4}


@pytest.mark.parametrize("kib,level", [(16, "L1"), (128, "L2"), (1024, "L3"), (8192, "mem")])
def test_pointer_chase_staircase_plateaus(kib, level):
    assert chase_latency(mach(), kib * 1024 // 64) == HIT[level]


def test_staircase_plot(tmp_path):
    pts = staircase(mach(), tmp_path / "s.png", sizes=[8 << 10, 128 << 10, 1 << 20, 8 << 20])
    assert [c for _, c in pts] == [HIT["L1"], HIT["L2"], HIT["L3"], HIT["mem"]]
    assert (tmp_path / "s.png").stat().st_size > 10_000


def independent_misses(n, **kw):
    m = mach(**kw)
    r = empty(n)
    r["addr"] = np.arange(n, dtype=np.uint64) * np.uint64(1 << 20)   # distinct lines, all miss everywhere
    r["size"] = 8
    return m, run_records(m, Trace(r, TraceMeta()))


@pytest.mark.parametrize("mshrs", [1, 4, 10, 20])
def test_independent_misses_overlap_up_to_mshrs(mshrs):
    n = 200
    m, run = independent_misses(n, mshrs=(mshrs, 64, 64))
    batches = -(-n // mshrs)
    # each batch of `mshrs` misses overlaps; the next waits for an MSHR
    assert run["cycles"] == pytest.approx(batches * HIT["mem"], abs=mshrs + 1)
    assert run["serial_cycles"] == n * HIT["mem"]


def test_window_limits_overlap():
    n = 200
    _, wide = independent_misses(n, mshrs=(64, 64, 64), window=64)
    _, narrow = independent_misses(n, mshrs=(64, 64, 64), window=4)
    assert narrow["cycles"] == pytest.approx(-(-n // 4) * HIT["mem"], rel=0.05)
    assert wide["cycles"] < narrow["cycles"] / 8


def test_dependent_chain_does_not_overlap():
    m = mach()
    r = empty(100)
    r["addr"] = np.arange(100, dtype=np.uint64) * np.uint64(1 << 20)
    r["dep"] = 1
    r["dep"][0] = 0
    run = run_records(m, Trace(r, TraceMeta()))
    assert run["cycles"] == pytest.approx(100 * HIT["mem"], abs=2)


def test_stores_do_not_stall_retirement():
    m = mach(mshrs=(64, 64, 64))
    r = empty(64)
    r["addr"] = np.arange(64, dtype=np.uint64) * np.uint64(1 << 20)
    r["kind"] = WRITE
    run = run_records(m, Trace(r, TraceMeta()))
    assert run["cycles"] < 100 and run["serial_cycles"] == 64 * HIT["mem"]
