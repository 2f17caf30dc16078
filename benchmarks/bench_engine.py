#!/usr/bin/env python
"""Engine throughput against pycachesim, in the same run, on the same streams.

    python benchmarks/bench_engine.py [--n 10000000] [--reps 9] [--full-reps 3] [--json OUT]

Streams (identical numpy expressions on both sides, see pycachesim_side.py):
10 M uniformly random 8-byte loads over 1 GiB, and 10 M sequential 8-byte
loads, through L1 32 KiB 8-way / L2 1 MiB 16-way / L3 8 MiB 16-way, all LRU,
write-back + write-allocate, non-inclusive, cold at the start of each rep.

Our side is timed three ways: cache counters only (`[replay] timing =
false`), with the timing model on, and the shipped configs/skylake.toml with
timing, TLBs and prefetchers (the "full model" of issue 4), also with the
three caches above in its place. It replays .npy-style records (the 32-byte
record dtype) chunk by chunk exactly as `cachesim run` does; the clock
starts once the simulator is built (its cold arena and, on two threads, the
pipeline's worker and ring), as pycachesim's starts after its build(), and
stops when the pipeline's worker has finished; numba compilation is warmed
up on a small stream first and is not timed. pycachesim runs in its own venv
(its import package is also `cachesim`) as one long-lived process, timed
inside that process around its bulk `cs.load(list, length=8)`; list
construction is not timed. On each stream the two alternate rep by rep, the
order swapped every round, so a pair of reps is about a second apart (the
VM's speed drifts), and the ratio is the median of the per-round ratios.
Printed beside it: each side's best rep against the other's, the estimator
least moved by a slow phase of the host (the VM's speed can halve for a
second). Miss counts must agree level by level. `ours` uses the default
threads (on a multi-core host the two-thread pipeline: level 1 on one
thread, the levels below on another, results identical to one thread); the
one-thread figure and ratio are printed beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "peers"))

from cachesim.config import machine_from_dict  # noqa: E402
from cachesim.engine.replay import EngineState  # noqa: E402
from cachesim.trace import CHUNK, empty  # noqa: E402

MACHINE = {"machine": {"name": "bench"},
           "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8},
                      "L2": {"level": 2, "size": "1MiB", "assoc": 16},
                      "L3": {"level": 3, "size": "8MiB", "assoc": 16}}}


def host() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}"


def streams(n: int, seed: int) -> dict[str, np.ndarray]:
    return {"random": np.random.default_rng(seed).integers(0, 2**27, n, dtype=np.uint64) * 8,
            "sequential": np.arange(n, dtype=np.uint64) * 8}


def records(addr: np.ndarray) -> np.ndarray:
    rec = empty(len(addr))
    rec["addr"] = addr
    rec["size"] = 8
    return rec


def timed_replay(m, rec: np.ndarray, threads: int | None = None) -> tuple[float, EngineState]:
    """Seconds for one replay of `rec` on cold caches, chunk by chunk as
    `cachesim run` does, until a pipeline's worker has finished."""
    st = EngineState(m, threads)
    t = time.perf_counter()
    for i in range(0, len(rec), CHUNK):
        st.replay(rec[i:i + CHUNK])
    st.sync()
    return time.perf_counter() - t, st


def ours(rec: np.ndarray, timing: bool = False, threads: int | None = None) -> dict:
    """One rep of our replay of `rec` on the benchmark's machine."""
    dt, st = timed_replay(machine_from_dict(dict(MACHINE, replay={"timing": timing})), rec, threads)
    s = st.stats.sum(axis=1)
    return {"seconds": dt, "misses": [int(s[c, 4:7].sum()) for c in range(3)]}


def warm_up() -> None:
    """Compile (or load from numba's cache) every replay the timed reps use."""
    rec = records(np.arange(10_000, dtype=np.uint64) * 8)
    for timing in (False, True):
        for threads in (None, 1):
            ours(rec, timing, threads)


def full_model(rec: np.ndarray, reps: int, bench_caches: bool = False) -> float:
    """Records/s (median of reps) of the shipped Skylake-SP config on the
    stream: timing, TLBs with page walks and prefetchers all on (issue 4's
    'full model'). bench_caches: the same with this benchmark's three
    caches in place of Skylake's (its 38.5 MiB, 28-slice, exclusive SRRIP
    L3 is most of the cost on the random stream)."""
    import tomllib
    raw = tomllib.loads((ROOT / "configs" / "skylake.toml").read_text())
    raw.pop("study", None)
    if bench_caches:
        for name, c in MACHINE["caches"].items():
            raw["caches"][name if name != "L1" else "L1D"].update(c)
        l3 = raw["caches"]["L3"]
        l3.pop("slices")
        l3.update(clusivity="nine", replacement_policy="lru")
    m = machine_from_dict(raw)
    EngineState(m).replay(rec[:10_000])
    times = [timed_replay(m, rec)[0] for _ in range(reps)]
    return len(rec) / float(np.median(times)) / 1e6


class Peer:
    """pycachesim in its own venv (its import package is also `cachesim`),
    one long-lived process (pycachesim_side.py --serve) that times one rep
    of a stream whenever asked, so each of its reps runs right beside ours."""

    def __init__(self, n: int, seed: int):
        import pycachesim_venv
        py = pycachesim_venv.ensure_pycachesim()
        self.proc = subprocess.Popen([str(py), "-I", str(ROOT / "benchmarks" / "pycachesim_side.py"), str(n),
                                      str(seed), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=pycachesim_venv.clean_env())
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"pycachesim_side.py --serve exited with status {self.proc.wait()}")

    def rep(self, stream: str) -> dict:
        self.proc.stdin.write(stream + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"pycachesim_side.py --serve exited with status {self.proc.wait()}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def peer(n: int, seed: int) -> Peer | None:
    try:
        return Peer(n, seed)
    except Exception as e:  # noqa: BLE001
        print(f"pycachesim unavailable: {e}", file=sys.stderr)
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=9, help="paired rounds against pycachesim (about 3 s each)")
    ap.add_argument("--full-reps", type=int, default=3,
                    help="reps of the timing and full-model figures (the full model's random stream: ~12 s each)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    data = streams(a.n, a.seed)
    result = {"host": host(), "n": a.n, "streams": {}}
    print(f"host: {result['host']}")
    # The VM's speed drifts by up to 2x from second to second, so the two
    # simulators alternate rep by rep on each stream (one long-lived
    # pycachesim process, its rep right before or right after ours, the
    # order swapped every round); the ratio is taken per round and its
    # median reported.
    recs = {name: records(addr) for name, addr in data.items()}
    warm_up()
    pc = peer(a.n, a.seed)
    times: dict = {name: {"peer": [], "ours": [], "ours1": []} for name in data}
    misses: dict = {}
    peer_misses: dict = {}
    try:
        for rnd in range(a.reps):
            for name, rec in recs.items():
                for side in (("peer", "ours") if rnd % 2 == 0 else ("ours", "peer")):
                    if side == "ours":
                        o = ours(rec)
                        times[name]["ours"].append(o["seconds"])
                        misses[name] = o["misses"]
                    elif pc:
                        p = pc.rep(name)
                        times[name]["peer"].append(p["seconds_median"])
                        peer_misses[name] = [p["levels"][k]["MISS_count"] for k in ("L1", "L2", "L3")]
                times[name]["ours1"].append(ours(rec, threads=1)["seconds"])
    finally:
        if pc:
            pc.close()
    for name in data:
        t = times[name]
        med = float(np.median(t["ours"]))
        row = {"cachesim_maccess_s": a.n / med / 1e6, "cachesim_best_maccess_s": a.n / min(t["ours"]) / 1e6,
               "cachesim_one_thread_maccess_s": a.n / float(np.median(t["ours1"])) / 1e6,
               "cachesim_misses": misses[name], "cachesim_seconds": t["ours"],
               "cachesim_timing_maccess_s": a.n / float(np.median([ours(recs[name], timing=True)["seconds"]
                                                                   for _ in range(a.full_reps)])) / 1e6,
               "cachesim_skylake_full_maccess_s": full_model(recs[name], a.full_reps),
               "cachesim_full_bench_caches_maccess_s": full_model(recs[name], a.full_reps, bench_caches=True)}
        if t["peer"]:
            ratios = [pp / oo for pp, oo in zip(t["peer"], t["ours"])]
            row.update({"pycachesim_maccess_s": a.n / float(np.median(t["peer"])) / 1e6,
                        "pycachesim_seconds": t["peer"], "pycachesim_misses": peer_misses[name],
                        "ratio": float(np.median(ratios)), "ratios": ratios,
                        "ratio_best": min(t["peer"]) / min(t["ours"]),
                        "ratio_one_thread": float(np.median([pp / oo for pp, oo in zip(t["peer"], t["ours1"])])),
                        "misses_agree": peer_misses[name] == misses[name]})
        result["streams"][name] = row
        line = (f"{name:>10}: cachesim {row['cachesim_maccess_s']:6.1f} M acc/s "
                f"(1 thread {row['cachesim_one_thread_maccess_s']:5.1f}; with timing "
                f"{row['cachesim_timing_maccess_s']:5.1f}; full Skylake model "
                f"{row['cachesim_skylake_full_maccess_s']:5.1f}, with these caches "
                f"{row['cachesim_full_bench_caches_maccess_s']:5.1f})")
        if t["peer"]:
            line += (f"  pycachesim {row['pycachesim_maccess_s']:5.1f}  ratio {row['ratio']:4.2f}x "
                     f"(1 thread {row['ratio_one_thread']:4.2f}x; per round "
                     f"{', '.join(f'{r:.2f}' for r in row['ratios'])}; best rep against best rep "
                     f"{row['ratio_best']:4.2f}x)  misses agree: {row['misses_agree']}")
        print(line, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
