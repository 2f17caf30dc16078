"""gem5-style ``stats.txt`` (PEERS.md 6.3): ``name value # description (Unit)``
between gem5's begin/end markers, so scripts written for gem5 read it.

Cache objects are named as gem5's classic configs name them: the level-1
data cache is ``system.cpu.dcache``, the instruction cache
``system.cpu.icache``, level N ``system.lN``; per-command rows use gem5's
MemCmd names (ReadReq, WriteReq, SoftPFReq) with a ``::total`` index.
"""
from __future__ import annotations

from pathlib import Path

from .trace import atomic_write_bytes

BEGIN = "---------- Begin Simulation Statistics ----------"
END = "---------- End Simulation Statistics   ----------"


def gem5_name(cache: dict, name: str) -> str:
    if cache["level"] == 1:
        return "system.cpu.icache" if cache["serves"] == "instructions" else "system.cpu.dcache"
    return f"system.l{cache['level']}"


def _rows(prefix: str, lv: dict) -> list[tuple[str, float, str, str]]:
    rows = []
    # gem5 counts an instruction fetch as a ReadReq (on the icache, and below it),
    # so data reads and fetches share that row: one row per name, as gem5 writes
    for cmd, a, m in (("ReadReq", lv["reads"] + lv["ifetches"], lv["read_misses"] + lv["ifetch_misses"]),
                      ("WriteReq", lv["writes"], lv["write_misses"]),
                      ("SoftPFReq", lv["prefetches"], lv["prefetch_misses"])):
        rows += [(f"{prefix}.{cmd}.hits::total", a - m, f"number of {cmd} hits", "Count"),
                 (f"{prefix}.{cmd}.misses::total", m, f"number of {cmd} misses", "Count"),
                 (f"{prefix}.{cmd}.accesses::total", a, f"number of {cmd} accesses(hits+misses)", "Count"),
                 (f"{prefix}.{cmd}.missRate::total", m / a if a else 0.0, f"miss rate for {cmd} accesses",
                  "Ratio")]
    da, dm = lv["accesses"], lv["misses"]
    oa, om = da + lv["prefetches"], dm + lv["prefetch_misses"]
    for kind, a, m in (("demand", da, dm), ("overall", oa, om)):
        rows += [(f"{prefix}.{kind}Hits::total", a - m, f"number of {kind} hits", "Count"),
                 (f"{prefix}.{kind}Misses::total", m, f"number of {kind} misses", "Count"),
                 (f"{prefix}.{kind}Accesses::total", a, f"number of {kind} accesses", "Count"),
                 (f"{prefix}.{kind}MissRate::total", m / a if a else 0.0, f"miss rate for {kind} accesses",
                  "Ratio")]
    rows += [(f"{prefix}.replacements", lv["evictions"], "number of replacements", "Count"),
             (f"{prefix}.writebacks::total", lv["writebacks"], "number of writebacks", "Count")]
    return rows


def render(results: dict) -> str:
    out = []
    caches = results["machine"]["caches"]
    for i, run in enumerate(results["runs"]):
        out.append(BEGIN)
        out.append(f"# run {i}: workload={run['workload']} layout={run['layout']}")
        rows = [("simOps", run["ops"], "number of logical operations simulated", "Count"),
                ("simAccesses", run["accesses"], "number of trace records simulated", "Count")]
        for name, lv in run["levels"].items():
            rows += _rows(gem5_name(caches[name], name), lv)
        rows += [("system.mem_ctrls.readReqs", run["memory"]["reads"], "Number of read requests accepted",
                  "Count"),
                 ("system.mem_ctrls.writeReqs", run["memory"]["writes"], "Number of write requests accepted",
                  "Count")]
        for name, value, desc, unit in rows:
            v = f"{value:.6f}" if isinstance(value, float) else str(value)
            out.append(f"{name:<52} {v:>16}   # {desc} ({unit})")
        out.append("")
        out.append(END)
        out.append("")
    return "\n".join(out)


def write_stats(path: str | Path, results: dict) -> None:
    atomic_write_bytes(Path(path), render(results).encode())
