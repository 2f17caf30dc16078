"""Timing: latency staircase, MSHR-limited overlap, window and dependencies,
and the rules record by record against a slow reference."""
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachesim.api import run_records
from cachesim.config import machine_from_dict
from cachesim.engine.timing import latencies
from cachesim.plot import chase_latency, staircase
from cachesim.trace import WRITE, Trace, TraceMeta, empty
from test_lean import plain_machines, traces

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


def reference_cycles(m, recs, hit, path_d, path_i):
    """The rules of engine/timing.py's docstring, record by record in plain
    Python over the hit levels the replay found: (cycles, serial cycles)."""
    from cachesim.engine.timing import TRING
    from cachesim.trace import IFETCH, READ, RMW
    caches = list(m.caches)
    lat_d = latencies(caches, list(path_d), m.memory_latency)
    lat_i = latencies(caches, list(path_i), m.memory_latency) if len(path_i) else []
    mshr = {c: [0] * caches[c].mshrs for c in range(len(caches))}
    nxt = {c: 0 for c in range(len(caches))}
    fin, retired = [], []
    disp = retire = serial = 0
    for rg in range(len(recs)):
        kind, dep, h = int(recs["kind"][rg]), int(recs["dep"][rg]), int(hit[rg])
        path, lat = (path_i, lat_i[h]) if kind == IFETCH else (path_d, lat_d[h])
        disp += 1
        if rg >= m.window:
            disp = max(disp, retired[rg - m.window])     # the window is full until that one retires
        start = disp
        if 0 < dep < TRING and dep <= rg:
            start = max(start, fin[rg - dep])             # the address it depends on
        missed = [int(c) for c in path[:min(h, len(path))]]
        for c in missed:
            start = max(start, mshr[c][nxt[c]])           # a free MSHR in every level it missed
        done = start + lat
        for c in missed:
            mshr[c][nxt[c]] = done
            nxt[c] = (nxt[c] + 1) % len(mshr[c])
        fin.append(done if kind in (READ, RMW, IFETCH) else disp)
        retire = max(retire, fin[-1])
        retired.append(retire)
        serial += lat
    return retire, serial


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_machines(), traces(), st.sampled_from([None, 3, 64]), st.booleans(), st.data())
def test_cycles_follow_the_rules_record_by_record(m, recs, chunk, lean, data):
    """Cycles against a slow reference of the timing rules on random traces,
    windows and MSHR counts, chunked or not, on both replay loops."""
    from cachesim.engine.replay import EngineState
    from cachesim.engine.timing import R_RETIRE, R_SERIAL
    m = dataclasses.replace(m, timing=True, caches=tuple(
        dataclasses.replace(c, mshrs=data.draw(st.integers(1, 4))) for c in m.caches))
    s = EngineState(m, threads=1, lean=lean)
    hit = np.empty(len(recs), np.int8)
    step = chunk or len(recs)
    for i in range(0, len(recs), step):
        part = np.ascontiguousarray(recs[i:i + step])
        s.kernel(part, s.M.ctypes.data, s.line_bits, 0, 1, hit[i:i + step])
    assert (int(s.run[R_RETIRE]), int(s.run[R_SERIAL])) == reference_cycles(m, recs, hit, s.path_d, s.path_i)
