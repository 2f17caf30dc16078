"""The study in a machine config: every workload x layout on a scenario,
replayed on the machine; the side-by-side table, overheads and a verdict."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .api import results, run_records
from .config import Machine, machine_from_dict
from .errors import ConfigError
from .kernel import generate as G
from .kernel.layouts import LAYOUTS
from .kernel.overhead import overhead
from .kernel.scenario import Scenario, load_scenario, scenario_config, scenario_from_dict
from .kernel.workloads import WORKLOADS

DEFAULT_LAYOUTS = ("structpage", "memdesc", "page32", "page16")
STUDY_OPS = 200_000   # per workload and layout when [study] sets no ops: a study stays well under a minute


def study_params(machine: Machine) -> dict:
    st = dict(machine.study)
    where = f"{machine.source}: [study]"
    allowed = {"workloads", "layouts", "scenario", "ops"}
    extra = set(st) - allowed
    if extra:
        raise ConfigError(f"{where}: unknown key '{sorted(extra)[0]}'")
    wl = st.get("workloads", list(WORKLOADS))
    ly = st.get("layouts", list(DEFAULT_LAYOUTS))
    for w in wl:
        if w not in WORKLOADS:
            raise ConfigError(f"{where}: unknown workload {w!r}: expected one of {', '.join(WORKLOADS)}")
    for lname in ly:
        if lname not in LAYOUTS:
            raise ConfigError(f"{where}: unknown layout {lname!r}: expected one of {', '.join(LAYOUTS)}")
    scen = st.get("scenario")
    if scen is not None:
        p = Path(scen)
        if not p.is_absolute():
            cand = Path(machine.source).parent / p
            p = cand if cand.exists() else p
        scen = str(p)
    ops = st.get("ops")
    if ops is not None and (not isinstance(ops, int) or ops <= 0):
        raise ConfigError(f"{where}: 'ops' expected a positive integer, got {ops!r}")
    return {"workloads": wl, "layouts": ly, "scenario": scen, "ops": ops or STUDY_OPS}


def run_study(machine: Machine, progress: Callable[[str], None] | None = None,
              scenario: Scenario | None = None, workers: int | None = None) -> dict:
    """Every workload x layout of the machine's [study]; `scenario` replaces
    the [study] scenario file (a sweep point passes its own). Runs go to
    `workers` threads (default: CACHESIM_STUDY_WORKERS, else 2 on a
    multi-core host): the replay loops release the GIL, runs are
    independent, and results are collected in study order."""
    import os
    from concurrent.futures import ThreadPoolExecutor
    sp = study_params(machine)
    if scenario is not None:
        sp["scenario"] = scenario.source
    sc = scenario if scenario is not None else load_scenario(sp["scenario"])
    pairs = [(w, lname) for w in sp["workloads"] for lname in sp["layouts"]]

    def one(pair):
        w, lname = pair
        if progress:
            progress(f"{w} / {lname}")
        tr = G.trace(w, lname, sc, sp["ops"], reuse=True)   # replayed chunk by chunk
        run = run_records(machine, tr, workload=w, layout=lname)
        run["ops"] = int(tr.meta.extra["ops"])
        _per_op(run)
        return run

    if workers is None:
        workers = int(os.environ.get("CACHESIM_STUDY_WORKERS", "0")) or min(2, os.cpu_count() or 1)
    G.prepared(sc)          # the memory state, once, before the threads ask for it
    if workers > 1 and len(pairs) > 1:
        with ThreadPoolExecutor(workers) as pool:
            runs = list(pool.map(one, pairs))
    else:
        runs = [one(p) for p in pairs]
    res = results(machine, runs)
    mem = G.prepared(sc).mem
    res["overhead"] = [overhead(mem, LAYOUTS[lname]) for lname in sp["layouts"]]
    res["scenario"] = sc.describe()
    res["scenario_config"] = scenario_config(sc)
    res["seeds"]["scenario"] = sc.seed
    res["study"] = sp
    return res


def rerun_study(res: dict) -> dict:
    """Run a study again from nothing but its results dictionary (its
    ``config`` and ``scenario_config``): the same numbers, without the files."""
    try:
        machine = machine_from_dict(res["config"], source=res["machine"].get("source", "<results>"))
        sc = scenario_from_dict(res["scenario_config"], source=res["scenario"].get("source", "<results>"))
    except (KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"results lack the config needed to re-run the study: {e}") from None
    return run_study(machine, scenario=sc)


def _per_op(run: dict) -> None:
    ops = run["ops"] or 1
    run["accesses_per_op"] = run["accesses"] / ops
    run["lines_per_op"] = run["line_accesses"] / ops
    run["per_op"] = {name: {"accesses": lv["accesses"] / ops, "misses": lv["misses"] / ops}
                     for name, lv in run["levels"].items()}
    run["per_op"]["memory"] = {"reads": run["memory"]["reads"] / ops}
    if run["cycles"] is not None:
        run["cycles_per_op"] = run["cycles"] / ops
        run["serial_cycles_per_op"] = run["serial_cycles"] / ops


def format_study(res: dict) -> str:
    runs = res["runs"]
    levels = list(runs[0]["levels"]) if runs else []
    data = [lv for lv in levels if res["machine"]["caches"][lv]["serves"] != "instructions"]
    last = data[-1]
    timed = bool(runs) and runs[0]["cycles"] is not None
    out = [f"cachesim study on {res['machine']['name']}: scenario {res['scenario']['name']} "
           f"({res['scenario']['memory'] / 2**30:.0f} GiB), {runs[0]['ops'] if runs else 0:,} ops per run"]
    hdr = f"{'workload':<19} {'layout':<11} {'acc/op':>7} {'lines/op':>8} " + \
        " ".join(f"{lv + ' miss/op':>12}" for lv in data) + f" {'mem rd/op':>10}"
    if timed:
        hdr += f" {'cycles/op':>10} {'serial/op':>10}"
    hdr += f" {'vs structpage':>14}"
    out.append(hdr)
    out.append("-" * len(hdr))
    base = {r["workload"]: r for r in runs if r["layout"] == "structpage"}

    def metric(r):
        return r["cycles_per_op"] if timed else r["per_op"][last]["misses"]
    for r in runs:
        po = r["per_op"]
        b = base.get(r["workload"])
        ratio = ""
        if b and r is not b and metric(b) > 0:
            ratio = f"{metric(r) / metric(b):.2f}x " + ("cycles" if timed else last)
        line = (f"{r['workload']:<19} {r['layout']:<11} {r['accesses_per_op']:>7.2f} {r['lines_per_op']:>8.2f} "
                + " ".join(f"{po[lv]['misses']:>12.3f}" for lv in data) + f" {po['memory']['reads']:>10.3f}")
        if timed:
            line += f" {r['cycles_per_op']:>10.1f} {r['serial_cycles_per_op']:>10.1f}"
        out.append(line + f" {ratio:>14}")
    out.append("")
    out.append("memory overhead (scenario):")
    for o in res["overhead"]:
        out.append(f"  {o['layout']:<11} memmap {o['memmap_pct']:.3f}%  descriptors {o['descriptor_pct']:.3f}%  "
                   f"total {o['total_pct']:.3f}% of RAM ({o['total_bytes'] / 2**20:,.0f} MiB)")
    out.append("")
    what = "cycles per op (overlapped)" if timed else f"{last} misses per op"
    out.append(f"verdict, memdesc vs structpage, {what}:")
    for w, b in base.items():
        m = next((r for r in runs if r["workload"] == w and r["layout"] == "memdesc"), None)
        if not m or metric(b) == 0:
            continue
        ratio = metric(m) / metric(b)
        word = "indirection costs" if ratio > 1.05 else ("density pays" if ratio < 0.95 else "about even")
        extra = (f"; {last} misses/op {b['per_op'][last]['misses']:.2f} -> {m['per_op'][last]['misses']:.2f}"
                 if timed else "")
        out.append(f"  {w:<19} {word:<18} {metric(b):.1f} -> {metric(m):.1f} ({ratio:.2f}x){extra}")
    return "\n".join(out)
