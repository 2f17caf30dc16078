"""Terminal tables for results."""
from __future__ import annotations

from .config import Machine


def _n(x: int) -> str:
    return f"{x:,}"


def format_run(machine: Machine, run: dict) -> str:
    lines = []
    title = f"{run['workload']}" + (f" [{run['layout']}]" if run.get("layout") else "")
    lines.append(f"{title} on {machine.name} ({machine.semantics} semantics)")
    lines.append(f"  records {_n(run['accesses'])}, line accesses {_n(run['line_accesses'])}, ops {_n(run['ops'])}"
                 + ("  [SAMPLED trace: rates are per sample, not per access]" if run.get("sampled") else ""))
    hdr = f"  {'cache':<8} {'accesses':>14} {'hits':>14} {'misses':>12} {'miss%':>7} {'rd miss':>11} " \
          f"{'wr miss':>11} {'if miss':>11} {'evict':>11} {'wback':>11}"
    lines.append(hdr)
    for name, lv in run["levels"].items():
        lines.append(f"  {name:<8} {_n(lv['accesses']):>14} {_n(lv['hits']):>14} {_n(lv['misses']):>12} "
                     f"{100 * lv['miss_rate']:>6.2f}% {_n(lv['read_misses']):>11} {_n(lv['write_misses']):>11} "
                     f"{_n(lv['ifetch_misses']):>11} {_n(lv['evictions']):>11} {_n(lv['writebacks']):>11}")
    mem = run["memory"]
    lines.append(f"  memory: {_n(mem['reads'])} line reads, {_n(mem['writes'])} line writes")
    if "cachegrind" in run:
        cg = run["cachegrind"]
        lines.append("  cachegrind: " + " ".join(f"{k}={_n(v)}" for k, v in cg.items()))
    tr = run.get("trace", {})
    if tr.get("skipped_lines"):
        lines.append(f"  {tr['skipped_lines']} malformed input lines were skipped (--skip-bad)")
    return "\n".join(lines)


def format_layouts(runs: list[dict]) -> str:
    """One trace re-laid per layout: the numbers side by side, ratios against the first."""
    first = runs[0]
    lines = [f"{'layout':<12} {'records':>12} {'line acc':>12} {'mem reads':>11} {'cycles':>14}  vs {first['layout']}"]
    for r in runs:
        cyc = r.get("cycles")
        ratio = f"{cyc / first['cycles']:.2f}x cycles" if cyc and first.get("cycles") and r is not first else ""
        lines.append(f"{r['layout']:<12} {_n(r['accesses']):>12} {_n(r['line_accesses']):>12} "
                     f"{_n(r['memory']['reads']):>11} {_n(round(cyc)) if cyc is not None else '-':>14}  {ratio}")
    return "\n".join(lines)
