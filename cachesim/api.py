"""Python API for notebooks: ``simulate(machine, trace)`` returns the same
dictionary the JSON output holds (DESIGN.md section 6)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import ENGINE_HASH, __version__
from .config import Machine, load_machine, machine_from_dict
from .engine.replay import R_LINES, R_OPS, R_RECORDS, EngineState
from .engine.timing import R_RETIRE, R_SERIAL
from .engine.tlb import WALK_TAG
from .engine.stats import ACC, MEM_READ, MEM_WRITE, MISS, level_dict
from .errors import CachesimError
from .trace import Trace, TraceMeta, _coerce


def as_machine(machine: Machine | str | Path | dict) -> Machine:
    if isinstance(machine, Machine):
        return machine
    if isinstance(machine, dict):
        return machine_from_dict(machine)
    return load_machine(machine)


def as_trace(trace: Trace | str | Path | np.ndarray, fmt: str = "auto", skip_bad: bool = False) -> Trace:
    if isinstance(trace, Trace):
        return trace
    if isinstance(trace, np.ndarray):
        return Trace(_coerce(trace, "<array>"), TraceMeta(source="<array>"), "<array>")
    from .readers import open_trace
    return open_trace(trace, fmt, skip_bad=skip_bad)


def run_records(machine: Machine, trace: Trace, workload: str | None = None, layout: str | None = None,
                progress: Callable[[int], None] | None = None) -> dict:
    """Replay `trace` on cold caches and return one run dictionary."""
    st = EngineState(machine)
    for chunk in trace.chunks(reuse=True):   # EngineState.replay is done with a chunk when it returns
        st.replay(chunk)
        if progress:
            progress(len(chunk))
    return run_dict(st, trace, workload if workload is not None else trace.name, layout)


def run_dict(st: EngineState, trace: Trace, workload: str, layout: str | None) -> dict:
    names = st.names[:st.nreal]
    tags = trace.meta.tags
    s = st.stats
    ops = int(st.run[R_OPS])
    levels = {name: level_dict(s[ci].sum(axis=0)) for ci, name in enumerate(names)}
    tlbs = {}
    for ci in range(st.nreal, len(st.names)):
        row = s[ci].sum(axis=0)
        acc, miss = int(row[ACC]), int(row[MISS])
        tlbs[st.names[ci]] = {"accesses": acc, "hits": acc - miss, "misses": miss}
    mem = s[len(st.names)].sum(axis=0)
    by_tag: dict[str, Any] = {}
    used = np.nonzero(s[:, :, :].sum(axis=(0, 2)))[0]
    for t in used:
        tname = tags[t] if t < len(tags) else ("page_walk" if t == WALK_TAG else f"tag{t}")
        entry = {}
        for ci, name in enumerate(names):
            row = s[ci, t]
            acc = int(row[ACC:ACC + 3].sum())
            miss = int(row[MISS:MISS + 3].sum())
            if acc or row.any():
                entry[name] = {"accesses": acc, "misses": miss}
        entry["memory"] = {"reads": int(s[len(st.names), t, MEM_READ]),
                           "writes": int(s[len(st.names), t, MEM_WRITE])}
        by_tag[tname] = entry
    per_op = {name: {"accesses": lv["accesses"] / ops if ops else 0.0,
                     "misses": lv["misses"] / ops if ops else 0.0} for name, lv in levels.items()}
    records = int(st.run[R_RECORDS])
    lines = int(st.run[R_LINES])
    timed = st.machine.timing and st.machine.semantics == "default"
    cycles = float(st.run[R_RETIRE]) if timed else None
    serial = float(st.run[R_SERIAL]) if timed else None
    run = {
        "workload": workload,
        "layout": layout,
        "ops": ops,
        "accesses": records,
        "line_accesses": lines,
        "accesses_per_op": records / ops if ops else 0.0,
        "lines_per_op": lines / ops if ops else 0.0,
        "levels": levels,
        "tlbs": tlbs,
        "memory": {"reads": int(mem[MEM_READ]), "writes": int(mem[MEM_WRITE])},
        "cycles": cycles,
        "cycles_per_op": cycles / ops if cycles is not None and ops else None,
        "serial_cycles": serial,
        "serial_cycles_per_op": serial / ops if serial is not None and ops else None,
        "per_op": per_op,
        "by_tag": by_tag,
        "semantics": st.machine.semantics,
        "sampled": trace.meta.sampled,
        "trace": {"source": trace.meta.source, "format": trace.meta.format,
                  "skipped_lines": trace.meta.skipped_lines, "ignored_lines": trace.meta.ignored_lines,
                  "meta": dict(trace.meta.extra)},   # a kernel trace's workload, scenario and seed
    }
    if st.machine.semantics == "cachegrind":
        run["cachegrind"] = cachegrind_counters(st)
    return run


def cachegrind_counters(st: EngineState) -> dict:
    """The nine counters of cachegrind.out's summary line."""
    from .engine.stats import K_IFETCH, K_READ, K_WRITE
    s = st.stats.sum(axis=1)
    i1 = st.path_i[0]
    d1 = st.path_d[0]
    ll = st.path_d[-1]
    return {
        "Ir": int(s[i1, ACC + K_IFETCH]), "I1mr": int(s[i1, MISS + K_IFETCH]), "ILmr": int(s[ll, MISS + K_IFETCH]),
        "Dr": int(s[d1, ACC + K_READ]), "D1mr": int(s[d1, MISS + K_READ]), "DLmr": int(s[ll, MISS + K_READ]),
        "Dw": int(s[d1, ACC + K_WRITE]), "D1mw": int(s[d1, MISS + K_WRITE]), "DLmw": int(s[ll, MISS + K_WRITE]),
    }


def machine_config(machine: Machine) -> dict:
    """The machine as a config dictionary with every key spelled out, defaults
    included: ``machine_from_dict`` of it gives the same machine, so a results
    JSON alone reproduces its numbers (``machine`` describes, this rebuilds)."""
    caches = {}
    for c in machine.caches:
        caches[c.name] = {
            "level": c.level, "serves": c.serves, "size": c.size, "assoc": c.assoc,
            "replacement_policy": c.replacement_policy, "write_policy": c.write_policy,
            "write_allocate": c.write_allocate, "clusivity": c.clusivity, "slices": c.slices,
            "tag_latency": c.tag_latency, "data_latency": c.data_latency,
            "response_latency": c.response_latency, "mshrs": c.mshrs, "prefetcher": list(c.prefetchers)}
    return {
        "machine": {"name": machine.name, "line_size": machine.line_size,
                    "frequency_ghz": machine.frequency_ghz, "seed": machine.seed},
        "caches": caches,
        "replay": {"semantics": machine.semantics, "timing": machine.timing},
        "memory": {"latency_ns": machine.memory_latency_ns},
        "core": {"window": machine.window},
        "tlbs": {t.name: {"level": t.level, "page_sizes": list(t.page_sizes), "entries": t.entries,
                          "assoc": t.assoc, "hit_latency": t.hit_latency} for t in machine.tlbs},
        "regions": [{"start": a, "end": b, "page_size": ps} for a, b, ps in machine.regions],
        "study": dict(machine.study),
    }


def results(machine: Machine, runs: list[dict]) -> dict:
    """The results document (DESIGN.md section 6), with what reproduces it:
    the version, the engine's source hash, the full config and the seeds."""
    return {"cachesim_version": __version__, "engine_hash": ENGINE_HASH, "machine": machine.describe(),
            "config": machine_config(machine), "seeds": {"machine": machine.seed}, "runs": runs}


def simulate(machine: Machine | str | Path | dict, trace: Trace | str | Path | np.ndarray,
             fmt: str = "auto", skip_bad: bool = False) -> dict:
    """Replay a trace (file path, Trace, or record/address array) on a machine
    (config path, dict or Machine) and return the results dictionary."""
    m = as_machine(machine)
    t = as_trace(trace, fmt, skip_bad)
    run = run_records(m, t)
    if run["accesses"] == 0:
        raise CachesimError(f"{t.name}: trace has no records")
    return results(m, [run])


__all__ = ["simulate", "load_machine", "as_machine", "as_trace", "run_records", "results", "machine_config"]
