"""The answer a sweep gives: memdesc/structpage per workload against the
swept value, where that ratio crosses 1 (memdesc starts or stops paying), and
the terminal table. Reads only the merged sweep document, so a saved JSON
gives the same answer and figure as the run that wrote it."""
from __future__ import annotations

import math
from typing import Any

from .config import parse_size
from .errors import ConfigError


def numeric_axis(xs: list) -> tuple[list[float], list[str] | None, str]:
    """Positions for x values: numbers as they are, sizes ("8MiB") in bytes,
    anything else as categories 0, 1, 2... Returns (positions, tick labels or
    None, kind)."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs):
        return [float(v) for v in xs], None, "number"
    if all(isinstance(v, str) for v in xs):
        try:
            return [float(parse_size(v, "")) for v in xs], [str(v) for v in xs], "size"
        except ConfigError:
            pass
    seen = list(dict.fromkeys(map(str, xs)))
    return [float(seen.index(str(v))) for v in xs], seen, "category"


def metric(run: dict, res: dict) -> tuple[float, str]:
    """What the ratio compares: cycles per op when the machine is timed, else
    the last data level's misses per op (as the study's verdict does)."""
    if run.get("cycles_per_op") is not None:
        return run["cycles_per_op"], "cycles per op"
    caches = res["machine"]["caches"]
    last = [n for n in run["levels"] if caches[n]["serves"] != "instructions"][-1]
    return run["per_op"][last]["misses"], f"{last} misses per op"


def series(doc: dict) -> list[dict]:
    """One line per workload (and per value of each grid key other than x's,
    in a product grid): x values in order and memdesc/structpage ratios."""
    sw = doc["sweep"]
    owner = next(k for k in sw["keys"] if sw["x"] == k or sw["x"].startswith(k + "."))
    # in a product grid, each other key that takes more than one value splits the lines
    others = [k for k in sw["keys"] if k != owner and len({repr(pt["overrides"][k]) for pt in doc["points"]}) > 1] \
        if sw["combine"] == "product" else []
    groups: dict = {}
    what = ""
    for pt in doc["points"]:
        res = pt["results"]
        table = {(r["workload"], r["layout"]): r for r in res["runs"]}
        fixed = tuple((k, pt["overrides"][k]) for k in others)
        for w in dict.fromkeys(r["workload"] for r in res["runs"]):
            b, m = table.get((w, "structpage")), table.get((w, "memdesc"))
            if not b or not m:
                continue
            vb, what = metric(b, res)
            vm, _ = metric(m, res)
            g = groups.setdefault((w, repr(fixed)), {"workload": w, "fixed": dict(fixed), "x": [], "ratio": []})
            g["x"].append(pt["x"])
            g["ratio"].append(vm / vb if vb else math.nan)
    out = list(groups.values())
    for g in out:
        pos, _, _ = numeric_axis(g["x"])
        order = sorted(range(len(pos)), key=lambda i: pos[i])
        g["x"] = [g["x"][i] for i in order]
        g["ratio"] = [g["ratio"][i] for i in order]
        g["metric"] = what
    return out


def crossovers(xs: list[float], ratios: list[float]) -> list[dict]:
    """Where memdesc/structpage crosses 1, by linear interpolation between
    neighbouring points. 'rising': memdesc pays below x and costs above it."""
    out = []
    prev = None      # the last point off the line
    touch = None     # a point exactly on it since then
    for x, r in zip(xs, ratios):
        if r is None or math.isnan(r):
            continue
        if r == 1:
            touch = x if touch is None else touch
            continue
        if prev is not None and (prev[1] - 1) * (r - 1) < 0:
            x0, r0 = prev
            xc = touch if touch is not None else x0 + (1 - r0) * (x - x0) / (r - r0)
            out.append({"x": xc, "direction": "rising" if r > r0 else "falling", "between": [x0, x]})
        prev, touch = (x, r), None
    return out


def all_crossovers(doc: dict) -> list[dict]:
    out = []
    for g in series(doc):
        pos, _, kind = numeric_axis(g["x"])
        if kind == "category":
            continue          # no line between categories to interpolate along
        for c in crossovers(pos, g["ratio"]):
            out.append({"workload": g["workload"], "fixed": g["fixed"], **c})
    return out


def _fmt_x(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def format_sweep(doc: dict) -> str:
    sw = doc["sweep"]
    groups = series(doc)
    first = doc["points"][0]["results"]
    what = groups[0]["metric"] if groups else "cycles per op"
    out = [f"cachesim sweep {sw['name']}: {len(doc['points'])} points on {doc['machine']['name']}, "
           f"scenario {first['scenario']['name']}, {first['study']['ops']:,} ops per run",
           f"memdesc / structpage {what} (below 1: memdesc is cheaper):"]
    labels = [g["workload"] + "".join(f" {k}={_fmt_x(v)}" for k, v in g["fixed"].items()) for g in groups]
    xs = list(dict.fromkeys(x for g in groups for x in g["x"]))
    width = max([len(sw["x_label"]), 8])
    cols = [max(len(lab), 8) for lab in labels]
    out.append(f"{sw['x_label']:<{width}}  " + "  ".join(f"{lab:>{c}}" for lab, c in zip(labels, cols)))
    for x in xs:
        cells = []
        for g, c in zip(groups, cols):
            r = next((r for gx, r in zip(g["x"], g["ratio"]) if gx == x), None)
            cells.append(f"{r:>{c}.3f}" if r is not None else " " * c)
        out.append(f"{_fmt_x(x):<{width}}  " + "  ".join(cells))
    out.append("")
    out.append("crossovers (memdesc / structpage = 1, linear interpolation between points):")
    found = {(c["workload"], repr(c["fixed"])) for c in doc["crossovers"]}
    for c in doc["crossovers"]:
        fixed = "".join(f" {k}={_fmt_x(v)}" for k, v in c["fixed"].items())
        pays, costs = ("below", "above") if c["direction"] == "rising" else ("above", "below")
        out.append(f"  {c['workload']}{fixed}: crosses 1 at {c['x']:.3g}: memdesc pays {pays} {c['x']:.3g} "
                   f"and costs {costs} (between points {_fmt_x(c['between'][0])} and "
                   f"{_fmt_x(c['between'][1])})")
    for g, lab in zip(groups, labels):
        if (g["workload"], repr(g["fixed"])) not in found:
            rs = [r for r in g["ratio"] if not math.isnan(r)]
            verdict = "memdesc pays throughout" if rs and max(rs) < 1 else (
                "memdesc costs throughout" if rs and min(rs) > 1 else "no crossing")
            out.append(f"  {lab}: none in the swept range ({verdict})")
    return "\n".join(out)
