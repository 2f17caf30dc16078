#!/usr/bin/env python
"""pycachesim side of the throughput benchmark (peer anchor, PEERS.md section 2).

MUST be run by the pycachesim venv's python (tests/peers/pycachesim_venv.py,
default ``.peers/pycachesim/bin/python``), never by the project's interpreter:
pycachesim's import package is also called ``cachesim``.

    .peers/pycachesim/bin/python -I benchmarks/pycachesim_side.py N SEED OUT.json
    .peers/pycachesim/bin/python -I benchmarks/pycachesim_side.py N SEED --serve

--serve builds both streams' lists once, prints "ready", then for each
stream name read from stdin times one repetition and prints its result
(the per-stream dict below, one JSON line): bench_engine.py keeps one such
process and runs a peer rep right beside each of its own, so a pair of
reps is seconds apart, not the length of a whole peer run.

Hierarchy (PEERS.md section 2), 64 B lines, LRU, write-back + write-allocate,
non-inclusive, cold at the start of every repetition:
    L1  64 sets x  8 ways  (32 KiB)
    L2 1024 sets x 16 ways (1 MiB)
    L3 8192 sets x 16 ways (8 MiB)
    MainMemory.load_to(L3); MainMemory.store_from(L3)
Set index = line_id % sets (pycachesim uses modulo; all set counts here are
powers of two, so this equals bit selection).

Streams -- every access is an 8-byte LOAD (length=8, 8-byte aligned, so no
access straddles a line):
    random:     addrs = numpy.random.default_rng(SEED).integers(0, 2**27, N,
                                                                dtype=numpy.uint64) * 8
                i.e. N uniformly random 8-byte-aligned byte addresses in [0, 1 GiB),
                drawn from a FRESH default_rng(SEED) (PCG64) with exactly this call.
    sequential: addrs[i] = 8*i for i in range(N)  (numpy.arange(N, dtype=numpy.uint64) * 8)
The project's own benchmark must generate the same arrays with the same numpy
expressions, and can then compare per-level miss counts one-to-one.

Timing: the addresses are converted to a Python list of int (``ndarray.tolist()``)
OUTSIDE the timed region; the timed region is exactly one call
``cs.load(addr_list, length=8)`` (C ``iterload``) on a freshly built hierarchy.
3 repetitions per stream (``--reps`` to change); we report best and median.
pycachesim's counters are deterministic for LRU, so they must be identical in all
repetitions (checked: ``counts_identical_across_reps``).

OUT.json:
  {"meta": {pycachesim_version, numpy_version, python, N, seed, reps, hierarchy},
   "<stream>": {"accesses", "seconds_median", "seconds_best", "seconds_all",
                "maccesses_per_s_median", "maccesses_per_s_best", "tolist_seconds",
                "counts_identical_across_reps",
                "levels": {"L1": {LOAD_count, HIT_count, MISS_count, STORE_count,
                                  EVICT_count}, "L2": ..., "L3": ...},
                "memory": {LOAD_count, STORE_count}}}
Semantics of the counters: LOAD_count at L1 = number of load calls (= N), and at
lower levels = lines requested from the level above; HIT/MISS count lines;
EVICT counts dirty evictions only (so 0 here: loads only).
"""

import os
import sys


def _scrub_sys_path():
    """Keep the project's own `cachesim` package from shadowing pycachesim's."""
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    bad = {os.path.normcase(os.path.abspath(p))
           for p in (".", os.getcwd(), here, repo, os.path.join(repo, "src"))}
    prefixes = tuple(os.path.abspath(p) for p in {sys.prefix, sys.base_prefix,
                                                   sys.exec_prefix})
    kept = []
    for entry in sys.path:
        if entry == "" or os.path.normcase(os.path.abspath(entry)) in bad:
            continue
        if not os.path.abspath(entry).startswith(prefixes) and (
                os.path.isdir(os.path.join(entry, "cachesim"))
                or os.path.isfile(os.path.join(entry, "cachesim.py"))):
            continue
        kept.append(entry)
    sys.path[:] = kept


_scrub_sys_path()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import cachesim  # noqa: E402  (pycachesim)

if not hasattr(cachesim, "CacheSimulator") or not os.path.abspath(
        cachesim.__file__).startswith(os.path.abspath(sys.prefix)):
    sys.exit(f"pycachesim_side: `cachesim` is {cachesim.__file__}, not pycachesim in "
             f"{sys.prefix}; run this with the pycachesim venv's python")

from cachesim import Cache, CacheSimulator, MainMemory  # noqa: E402

HIERARCHY = {  # name: (sets, ways, line)
    "L1": (64, 8, 64),
    "L2": (1024, 16, 64),
    "L3": (8192, 16, 64),
}
STAT_KEYS = ("LOAD_count", "HIT_count", "MISS_count", "STORE_count", "EVICT_count")


def random_stream(n, seed):
    return np.random.default_rng(seed).integers(0, 2 ** 27, n, dtype=np.uint64) * 8


def sequential_stream(n):
    return np.arange(n, dtype=np.uint64) * 8


def make_stream(name, n, seed):
    if name == "random":
        return random_stream(n, seed)
    if name == "sequential":
        return sequential_stream(n)
    return None


def serve(n, seed, names):
    lists = {}
    for name in names:
        arr = make_stream(name, n, seed)
        if arr is None:
            sys.exit(f"pycachesim_side: unknown stream {name!r}")
        lists[name] = arr.tolist()
        del arr
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.strip()
        if name not in lists:
            sys.exit(f"pycachesim_side: unknown stream {name!r} (have {', '.join(lists)})")
        print(json.dumps(bench_stream(lists[name], 1)), flush=True)
    return 0


def build():
    """PEERS.md section 2 wiring."""
    mem = MainMemory()
    l3 = Cache("L3", *HIERARCHY["L3"], "LRU")
    mem.load_to(l3)
    mem.store_from(l3)
    l2 = Cache("L2", *HIERARCHY["L2"], "LRU", store_to=l3, load_from=l3)
    l1 = Cache("L1", *HIERARCHY["L1"], "LRU", store_to=l2, load_from=l2)
    cs = CacheSimulator(l1, mem)  # write_back=True, write_allocate=True
    return cs, (l1, l2, l3), mem


def bench_stream(addr_list, reps):
    times, counts = [], []
    for _ in range(reps):
        cs, levels, mem = build()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            cs.load(addr_list, length=8)
            dt = time.perf_counter() - t0
        finally:
            gc.enable()
        times.append(dt)
        m = mem.stats()
        counts.append((
            {c.name: {k: int(getattr(c.backend, k)) for k in STAT_KEYS} for c in levels},
            {"LOAD_count": int(m["LOAD_count"]), "STORE_count": int(m["STORE_count"])},
        ))
        del cs, levels, mem
    n = len(addr_list)
    med, best = statistics.median(times), min(times)
    return {
        "accesses": n,
        "seconds_median": med,
        "seconds_best": best,
        "seconds_all": times,
        "maccesses_per_s_median": n / med / 1e6,
        "maccesses_per_s_best": n / best / 1e6,
        "counts_identical_across_reps": all(c == counts[0] for c in counts),
        "levels": counts[-1][0],
        "memory": counts[-1][1],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="accesses per stream")
    ap.add_argument("seed", type=int, help="seed for numpy.random.default_rng")
    ap.add_argument("out", nargs="?", help="output JSON path (not with --serve)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--streams", default="random,sequential")
    ap.add_argument("--serve", action="store_true", help="time one rep per stream name read from stdin")
    a = ap.parse_args(argv)
    if a.serve:
        return serve(a.n, a.seed, a.streams.split(","))
    if not a.out:
        ap.error("OUT.json is required without --serve")

    result = {"meta": {
        "tool": "pycachesim", "pycachesim_version": cachesim.__version__,
        "numpy_version": np.__version__, "python": sys.version.split()[0],
        "N": a.n, "seed": a.seed, "reps": a.reps, "length": 8,
        "hierarchy": {k: {"sets": s, "ways": w, "line": ln, "policy": "LRU"}
                      for k, (s, w, ln) in HIERARCHY.items()},
    }}
    for stream in a.streams.split(","):
        arr = make_stream(stream, a.n, a.seed)
        if arr is None:
            ap.error(f"unknown stream {stream!r}")
        t0 = time.perf_counter()
        lst = arr.tolist()  # outside the timed region
        t_list = time.perf_counter() - t0
        del arr
        r = bench_stream(lst, a.reps)
        r["tolist_seconds"] = t_list
        result[stream] = r
        del lst
        print(f"{stream:>10}: median {r['seconds_median']:.3f} s "
              f"({r['maccesses_per_s_median']:.2f} M acc/s), best {r['seconds_best']:.3f} s "
              f"({r['maccesses_per_s_best']:.2f} M acc/s); misses L1/L2/L3 = "
              + "/".join(str(r["levels"][k]["MISS_count"]) for k in HIERARCHY),
              file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
