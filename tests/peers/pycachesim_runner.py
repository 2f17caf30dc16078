#!/usr/bin/env python
"""Replay a trace through pycachesim 0.3.1 and print its statistics as JSON.

Run BY THE PYCACHESIM VENV's python (see pycachesim_venv.py), never by the
project's interpreter -- there `import cachesim` is this project, not pycachesim:

    <venv>/bin/python -I tests/peers/pycachesim_runner.py SPEC.json

SPEC (JSON object):
  levels            list, L1 first, each {"name", "sets", "ways", "line",
                    "policy": "LRU"|"FIFO"|"RR"|"MRU", "write_back": bool,
                    "write_allocate": bool}.  pycachesim accepts only
                    (WB,WA), (WB,no-WA) and (WT,no-WA).
  trace             path of a .npz with equal-length arrays addr (uint64 byte
                    addresses, < 2**63), kind (uint8: 0 load, 1 store) and
                    size (uint16, bytes, >= 1).  Relative paths are resolved
                    against the spec file's directory.
  mode              "mixed" (default) or "bench".
  force_write_back  optional bool (default false): call cs.force_write_back()
                    after the replay (outside the timed region), so dirty lines
                    still cached show up as EVICTs / memory stores.
  repeats           optional int, bench mode only (default 3).
  per_access        optional bool (default false): issue every access as its own
                    one-element-list call (slow; a self-check of the batching).
  rand_seed         optional int: libc srand(seed) before each replay.  pycachesim's
                    RR policy uses the process-global libc rand(); glibc starts
                    every process at seed 1, so RR is reproducible run to run
                    even without this.

Replay ("mixed"): accesses are replayed strictly in trace order.  The trace is
cut into maximal runs of consecutive accesses with the same (kind, size); each
run becomes ONE call cs.load(list_of_int, length=size) or
cs.store(list_of_int, length=size).  Those go to the C iterload/iterstore,
which just loop Cache__load / Cache__store with that length, so this is
exactly equivalent to one call per access -- a run of loads with mixed sizes
therefore simply becomes several runs (down to one element each).  Single
accesses are passed as one-element lists on purpose: pycachesim 0.3.1's scalar
cs.load(int)/cs.store(int) parse the address as 32-bit "I" into a 64-bit long
and corrupt every address (PEERS.md 3.3 #1, pycachesim issue #15); the
iterable path uses PyLong_AsLong and is correct.  The address lists are built
before the timed region; "seconds" is the replay alone.

"bench": the same plan replayed `repeats` times, each on a fresh cold hierarchy;
"seconds" is the median, "seconds_best" the minimum, "seconds_all" every rep.
Stats are those of the last repetition; "stats_identical_across_reps" says
whether all repetitions agreed (always true unless RR is used without
rand_seed).  For the fastest, PEERS.md-comparable number feed a loads-only
trace with one size: it becomes a single cs.load(list, length) call.

Output (stdout, one JSON object):
  tool, pycachesim_version, python, mode, accesses, loads, stores, calls
  (number of cs.load/cs.store calls issued per replay), seconds, [seconds_best,
  seconds_all, repeats, stats_identical_across_reps], force_write_back,
  levels: list, L1 first, of {name, LOAD_count, LOAD_byte, STORE_count,
          STORE_byte, HIT_count, HIT_byte, MISS_count, MISS_byte,
          EVICT_count, EVICT_byte}  (pycachesim's own counters, unmodified)
  memory: {name, LOAD_count, LOAD_byte, STORE_count, STORE_byte}
          (pycachesim derives these: LOAD = last level MISS, STORE = last
          level EVICT)

pycachesim stats semantics (0.3.1, read in backend.c and confirmed with small
handmade traces through this runner):
  * LOAD_count counts Cache__load CALLS (one per load access at L1, one per
    line fetched at lower levels); HIT_count/MISS_count count LINES, so an
    access straddling two lines gives LOAD 1 and HIT+MISS 2 at L1.
  * STORE_count counts Cache__store calls. A store HIT is NOT counted in
    HIT_count.  A write-allocate store MISS calls Cache__load on the SAME
    level: it shows up there as LOAD_count+1 and MISS_count+1 (issue #9), and
    the line is fetched from below (LOAD at the next level).
  * EVICT_count = dirty lines written back to the next level (write-back), +1
    per store forwarded by a write-through / no-write-allocate miss, + clean
    lines handed to a victim cache.  Clean evictions are NOT counted.
  * there is no back-invalidation: the hierarchy is non-inclusive (NINE).
Errors: message on stderr, exit status 2 (bad spec) or 3 (wrong `cachesim`).
"""

import os
import sys


def _scrub_sys_path():
    """Drop every sys.path entry that could shadow pycachesim's `cachesim`.

    Removes '' / the cwd, this script's directory, the repo root and its src/,
    and any other entry outside this interpreter's prefix that contains a
    `cachesim` package or module (the project's own package).
    """
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    bad = {"", ".", os.getcwd(), here, repo, os.path.join(repo, "src")}
    bad = {os.path.normcase(os.path.abspath(p)) if p else p for p in bad}
    prefixes = tuple(os.path.abspath(p) for p in {sys.prefix, sys.base_prefix,
                                                   sys.exec_prefix})
    kept = []
    for entry in sys.path:
        norm = os.path.normcase(os.path.abspath(entry)) if entry else entry
        if entry == "" or norm in bad:
            continue
        inside_prefix = bool(entry) and os.path.abspath(entry).startswith(prefixes)
        if not inside_prefix and (os.path.isdir(os.path.join(entry, "cachesim"))
                                  or os.path.isfile(os.path.join(entry, "cachesim.py"))):
            continue
        kept.append(entry)
    sys.path[:] = kept


_scrub_sys_path()

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:
    import cachesim  # noqa: E402  (pycachesim, from the venv)
    from cachesim import backend as _backend  # noqa: E402,F401
    from cachesim import Cache, CacheSimulator, MainMemory  # noqa: E402
except ImportError as exc:  # pragma: no cover
    sys.stderr.write(f"pycachesim_runner: cannot import pycachesim's cachesim ({exc}); "
                     f"run this script with the pycachesim venv's python\n")
    sys.exit(3)

if not os.path.abspath(cachesim.__file__).startswith(os.path.abspath(sys.prefix)):
    sys.stderr.write(f"pycachesim_runner: `cachesim` resolved to {cachesim.__file__}, not "
                     f"inside {sys.prefix}; refusing to run\n")
    sys.exit(3)

POLICIES = ("LRU", "FIFO", "RR", "MRU")
STAT_KEYS = ("LOAD_count", "LOAD_byte", "STORE_count", "STORE_byte", "HIT_count",
             "HIT_byte", "MISS_count", "MISS_byte", "EVICT_count", "EVICT_byte")
MEM_KEYS = ("name", "LOAD_count", "LOAD_byte", "STORE_count", "STORE_byte")


class SpecError(ValueError):
    pass


def _check_levels(levels):
    if not isinstance(levels, list) or not levels:
        raise SpecError("spec.levels must be a non-empty list (L1 first)")
    out = []
    for i, lv in enumerate(levels):
        try:
            name = str(lv.get("name", f"L{i + 1}"))
            sets, ways, line = int(lv["sets"]), int(lv["ways"]), int(lv["line"])
        except (KeyError, TypeError, ValueError) as e:
            raise SpecError(f"level {i}: needs integer sets, ways, line ({e})") from None
        policy = str(lv.get("policy", "LRU")).upper()
        if policy not in POLICIES:
            raise SpecError(f"level {name}: policy {policy!r} not in {POLICIES}")
        wb = bool(lv.get("write_back", True))
        wa = bool(lv.get("write_allocate", True))
        if (wb, wa) == (False, True):
            raise SpecError(f"level {name}: pycachesim does not support write-through + "
                            f"write-allocate")
        if sets < 1 or ways < 1 or line < 1 or line & (line - 1):
            raise SpecError(f"level {name}: bad geometry sets={sets} ways={ways} line={line}")
        out.append(dict(name=name, sets=sets, ways=ways, line=line, policy=policy,
                        write_back=wb, write_allocate=wa))
    return out


def build_hierarchy(levels):
    """PEERS.md section 2 wiring: build bottom-up, MainMemory on the last level."""
    mem = MainMemory()
    lower = None
    caches = []
    for lv in reversed(levels):
        c = Cache(lv["name"], lv["sets"], lv["ways"], lv["line"], lv["policy"],
                  write_back=lv["write_back"], write_allocate=lv["write_allocate"],
                  store_to=lower, load_from=lower)
        if lower is None:
            mem.load_to(c)
            mem.store_from(c)
        caches.append(c)
        lower = c
    caches.reverse()
    return CacheSimulator(caches[0], mem), caches, mem


def load_trace(path):
    with np.load(path) as z:
        try:
            addr = np.asarray(z["addr"], dtype=np.uint64)
            kind = np.asarray(z["kind"], dtype=np.uint8)
            size = np.asarray(z["size"], dtype=np.uint16)
        except KeyError as e:
            raise SpecError(f"trace {path}: missing array {e}") from None
    if not (addr.ndim == kind.ndim == size.ndim == 1 and len(addr) == len(kind) == len(size)):
        raise SpecError(f"trace {path}: addr/kind/size must be 1-D and equal length")
    if len(addr) and int(addr.max()) >= 2 ** 63:
        raise SpecError("trace: addresses >= 2**63 do not fit pycachesim's C long")
    if len(kind) and int(kind.max()) > 1:
        raise SpecError("trace: kind must be 0 (load) or 1 (store)")
    if len(size) and int(size.min()) < 1:
        raise SpecError("trace: size must be >= 1")
    return addr, kind, size


def make_plan(addr, kind, size, per_access=False):
    """List of (is_store, length, [addr, ...]) in trace order (built outside timing)."""
    n = len(addr)
    if n == 0:
        return []
    if per_access:
        return [(bool(k), int(s), [int(a)]) for a, k, s in
                zip(addr.tolist(), kind.tolist(), size.tolist())]
    change = np.flatnonzero((kind[1:] != kind[:-1]) | (size[1:] != size[:-1])) + 1
    starts = np.concatenate(([0], change)).tolist()
    ends = np.concatenate((change, [n])).tolist()
    alist = addr.tolist()  # Python ints (uint64 -> int), exact
    return [(bool(kind[s]), int(size[s]), alist[s:e]) for s, e in zip(starts, ends)]


def _srand(seed):
    import ctypes
    ctypes.CDLL(None).srand(ctypes.c_uint(int(seed) & 0xFFFFFFFF))


def replay(levels, plan, force_write_back, rand_seed=None):
    cs, caches, mem = build_hierarchy(levels)
    if rand_seed is not None:
        _srand(rand_seed)
    ld, st = cs.load, cs.store
    t0 = time.perf_counter()
    for is_store, length, lst in plan:
        if is_store:
            st(lst, length=length)
        else:
            ld(lst, length=length)
    dt = time.perf_counter() - t0
    if force_write_back:
        cs.force_write_back()
    stats = [{"name": c.name, **{k: int(getattr(c.backend, k)) for k in STAT_KEYS}}
             for c in caches]
    m = mem.stats()
    memory = {k: (m[k] if k == "name" else int(m[k])) for k in MEM_KEYS}
    return dt, stats, memory


def run(spec, spec_dir):
    levels = _check_levels(spec.get("levels"))
    mode = spec.get("mode", "mixed")
    if mode not in ("mixed", "bench"):
        raise SpecError(f"mode must be 'mixed' or 'bench', not {mode!r}")
    if "trace" not in spec:
        raise SpecError("spec.trace (path to .npz) is required")
    trace = os.path.join(spec_dir, os.path.expanduser(str(spec["trace"])))
    fwb = bool(spec.get("force_write_back", False))
    seed = spec.get("rand_seed")
    addr, kind, size = load_trace(trace)
    plan = make_plan(addr, kind, size, per_access=bool(spec.get("per_access", False)))
    n_store = int(np.count_nonzero(kind))
    out = {"tool": "pycachesim", "pycachesim_version": cachesim.__version__,
           "python": sys.version.split()[0], "mode": mode, "accesses": int(len(addr)),
           "loads": int(len(addr)) - n_store, "stores": n_store, "calls": len(plan),
           "force_write_back": fwb}
    if mode == "mixed":
        dt, stats, memory = replay(levels, plan, fwb, seed)
        out["seconds"] = dt
    else:
        reps = int(spec.get("repeats", 3))
        if reps < 1:
            raise SpecError("repeats must be >= 1")
        times, results = [], []
        for _ in range(reps):
            dt, stats, memory = replay(levels, plan, fwb, seed)
            times.append(dt)
            results.append((stats, memory))
        out.update(seconds=statistics.median(times), seconds_best=min(times),
                   seconds_all=times, repeats=reps,
                   stats_identical_across_reps=all(r == results[0] for r in results))
    out["levels"] = stats
    out["memory"] = memory
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: python pycachesim_runner.py SPEC.json\n")
        return 2
    spec_path = os.path.abspath(argv[1])
    try:
        with open(spec_path) as f:
            spec = json.load(f)
        if not isinstance(spec, dict):
            raise SpecError("spec must be a JSON object")
        out = run(spec, os.path.dirname(spec_path))
    except (SpecError, OSError, ValueError, AssertionError) as e:
        sys.stderr.write(f"pycachesim_runner: {type(e).__name__}: {e}\n")
        return 2
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
