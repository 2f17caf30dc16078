"""Figures (matplotlib, PNG)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import Machine
from .engine.replay import EngineState
from .engine.timing import R_RETIRE
from .trace import empty


def chase_latency(machine: Machine, lines: int, passes: int = 2) -> float:
    """lat_mem_rd: a dependent chase over `lines` consecutive lines, cyclic;
    cycles per access of the last pass (the earlier ones warm the caches).
    Prefetchers and TLBs are switched off, as lat_mem_rd's randomised chase
    on huge pages defeats them, so the plateaus are the load-to-use latencies."""
    from dataclasses import replace
    machine = replace(machine, tlbs=(), caches=tuple(replace(c, prefetchers=()) for c in machine.caches))
    r = empty(lines)
    r["addr"] = np.arange(lines, dtype=np.uint64) * np.uint64(machine.line_size)
    r["size"] = 8
    r["dep"] = 1
    st = EngineState(machine)
    r0 = r.copy()
    r0["dep"][0] = 0
    st.replay(r0)
    for _ in range(passes - 2):
        st.replay(r)
    before = int(st.run[R_RETIRE])
    st.replay(r)
    return (int(st.run[R_RETIRE]) - before) / lines


def _human(n: int) -> str:
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div:
            return f"{n // div}{unit}"
    return str(n)


def staircase(machine: Machine, out: str | Path, sizes: list[int] | None = None) -> list[tuple[int, float]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if sizes is None:
        sizes = [1 << k for k in range(12, 27)]   # 4 KiB .. 64 MiB
    pts = [(s, chase_latency(machine, max(1, s // machine.line_size))) for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([s for s, _ in pts], [c for _, c in pts], marker="o")
    ax.set_xscale("log", base=2)
    ticks = [s for s, _ in pts][::2]
    ax.set_xticks(ticks)
    ax.set_xticklabels([_human(t) for t in ticks])
    seen = set()
    for s, c in pts:
        if round(c) not in seen:
            seen.add(round(c))
            ax.annotate(f"{c:.0f}", (s, c), textcoords="offset points", xytext=(0, 6), fontsize=8)
    ax.set_xlabel("working set (bytes), dependent chase over consecutive lines (no prefetch, no TLB)")
    ax.set_ylabel("cycles per load")
    ax.set_title(f"Load latency staircase: {machine.name}")
    for c in machine.caches:
        if c.serves_data:
            ax.axvline(c.size, color="grey", lw=0.8, ls=":")
            ax.text(c.size, ax.get_ylim()[1] * 0.95, f" {c.name}", fontsize=8, va="top")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from .trace import atomic_write_bytes
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(Path(out), buf.getvalue())
    return pts


# ---- study figures ----------------------------------------------------------------

LAYOUT_COLORS = {"structpage": "#4c72b0", "memdesc": "#dd8452", "page32": "#55a868", "page16": "#c44e52"}


def _save(fig, out: Path) -> Path:
    import io

    import matplotlib.pyplot as plt

    from .trace import atomic_write_bytes
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _grouped(res: dict):
    runs = [r for r in res["runs"] if r.get("layout")]
    workloads = list(dict.fromkeys(r["workload"] for r in runs))
    layouts = list(dict.fromkeys(r["layout"] for r in runs))
    table = {(r["workload"], r["layout"]): r for r in runs}
    return workloads, layouts, table


def cycles_per_op(res: dict, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    workloads, layouts, table = _grouped(res)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(layouts))
    x = np.arange(len(workloads))
    for i, lay in enumerate(layouts):
        vals = [table[(w, lay)]["cycles_per_op"] or 0 for w in workloads]
        ser = [table[(w, lay)].get("serial_cycles_per_op") or 0 for w in workloads]
        pos = x + (i - (len(layouts) - 1) / 2) * width
        ax.bar(pos, ser, width, color=LAYOUT_COLORS.get(lay, None), alpha=0.25)
        bars = ax.bar(pos, vals, width, color=LAYOUT_COLORS.get(lay, None), label=lay)
        for b, w in zip(bars, workloads):
            base = table.get((w, "structpage"))
            if lay != "structpage" and base and base["cycles_per_op"]:
                ax.annotate(f"{table[(w, lay)]['cycles_per_op'] / base['cycles_per_op']:.2f}x",
                            (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                            fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x)
    ax.set_xticklabels(workloads)
    ax.set_yscale("log")
    ax.set_ylabel("cycles per operation (log)")
    ax.set_title(f"Cycles per op by layout on {res['machine']['name']} "
                 "(solid: overlapped; faint: serial, no overlap; labels: vs structpage)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, ncol=len(layouts))
    ax.grid(axis="y", alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, out)


def misses_by_structure(res: dict, out: Path) -> Path:
    """Memory reads per op, stacked by the structure (trace tag) that caused them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    workloads, layouts, table = _grouped(res)
    tags = sorted({t for r in table.values() for t in r["by_tag"]})
    cmap = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, len(workloads), figsize=(3.0 * len(workloads), 4.2), sharey=False)
    axes = np.atleast_1d(axes)
    for ax, w in zip(axes, workloads):
        bottom = np.zeros(len(layouts))
        for ti, t in enumerate(tags):
            vals = np.array([table[(w, lay)]["by_tag"].get(t, {}).get("memory", {}).get("reads", 0)
                             / max(1, table[(w, lay)]["ops"]) for lay in layouts])
            if vals.any():
                ax.bar(layouts, vals, bottom=bottom, color=cmap(ti % 20), label=t)
                bottom += vals
        ax.set_title(w, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes[0].set_ylabel("lines read from memory per op")
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.suptitle("Lines read from memory per op, by the structure that caused them (demand and prefetch fills)",
                 y=0.99, fontsize=10)
    fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.93),
               ncol=min(12, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.84))
    return _save(fig, out)


def overhead(res: dict, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = res.get("overhead", [])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = [o["layout"] for o in rows]
    mm = [o["memmap_pct"] for o in rows]
    ds = [o["descriptor_pct"] for o in rows]
    ax.bar(names, mm, label="memmap", color="#4c72b0")
    ax.bar(names, ds, bottom=mm, label="descriptors (slab slots)", color="#dd8452")
    for i, o in enumerate(rows):
        ax.annotate(f"{o['total_pct']:.2f}%", (i, o["total_pct"]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("% of RAM")
    sc = res.get("scenario", {})
    ax.set_title(f"Metadata overhead by layout, scenario {sc.get('name', '?')}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def study_plots(res: dict, outdir: str | Path) -> list[Path]:
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    if not any(r.get("layout") for r in res.get("runs", [])):
        return []
    out = [misses_by_structure(res, d / "misses_by_structure.png")]
    if res.get("overhead"):                      # a re-laid trace (run --layout) has no memory model
        out.append(overhead(res, d / "overhead.png"))
    if res["runs"][0].get("cycles_per_op") is not None:
        out.insert(0, cycles_per_op(res, d / "cycles_per_op.png"))
    return out


def trace_plots(res: dict, outdir: str | Path) -> list[Path]:
    """For a replayed trace: misses per level, split by kind."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    run = res["runs"][0]
    names = list(run["levels"])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bottom = np.zeros(len(names))
    for key, color in (("read_misses", "#4c72b0"), ("write_misses", "#dd8452"), ("ifetch_misses", "#55a868")):
        vals = np.array([run["levels"][n][key] for n in names], dtype=float)
        ax.bar(names, vals, bottom=bottom, label=key.replace("_", " "), color=color)
        bottom += vals
    for i, n in enumerate(names):
        ax.annotate(f"{100 * run['levels'][n]['miss_rate']:.1f}%", (i, bottom[i]), ha="center", va="bottom",
                    fontsize=8)
    ax.set_ylabel("misses (labels: miss rate)")
    ax.set_title(f"{run['workload']} on {res['machine']['name']}" + (" (sampled)" if run.get("sampled") else ""),
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, d / "misses_by_level.png")]


# ---- sweep figure ---------------------------------------------------------------------

def sweep_figure(doc: dict):
    """memdesc/structpage per workload against the swept value, the break-even
    line at 1 and each crossover marked (a Figure, so tests can read its text)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .crossover import crossovers, numeric_axis, series
    sw = doc["sweep"]
    groups = series(doc)
    all_x = [x for g in groups for x in g["x"]]
    _, ticklabels, kind = numeric_axis(all_x) if all_x else ([], None, "number")
    fig, ax = plt.subplots(figsize=(8.5, 5.6))
    workloads = list(dict.fromkeys(g["workload"] for g in groups))
    colors = {w: plt.get_cmap("tab10")(i % 10) for i, w in enumerate(workloads)}
    fixed_sets = list(dict.fromkeys(repr(g["fixed"]) for g in groups))
    styles = ["-", "--", ":", "-."]
    marks = []
    categories = list(dict.fromkeys(map(str, all_x)))

    def place(xs: list) -> list[float]:
        return [float(categories.index(str(x))) for x in xs] if kind == "category" else numeric_axis(xs)[0]
    for g in groups:
        pos = place(g["x"])
        label = g["workload"] + "".join(f", {k} = {v}" for k, v in g["fixed"].items())
        found = crossovers(pos, g["ratio"]) if kind != "category" else []
        rs = [r for r in g["ratio"] if r == r]
        if not found and rs and (max(rs) < 1 or min(rs) > 1):
            label += " (no crossover: memdesc " + ("pays" if max(rs) < 1 else "costs more") + " throughout)"
        ax.plot(pos, g["ratio"], marker="o", ms=4, color=colors[g["workload"]],
                ls=styles[fixed_sets.index(repr(g["fixed"])) % len(styles)], label=label)
        marks += [(c, colors[g["workload"]], g["workload"]) for c in found]
    ax.axhline(1.0, color="black", lw=1, ls="--", zorder=1)
    ratios = [r for g in groups for r in g["ratio"] if r == r]
    lo, hi = min(ratios + [1.0]), max(ratios + [1.0])
    span = hi - lo or 1.0
    # a band above the data, kept free for the crossover labels
    rows = min(3, len(marks)) or 1
    ax.set_ylim(lo - 0.06 * span, hi + (0.12 + 0.11 * rows) * span)
    ax.text(0.005, 1.0, " above 1: memdesc costs more", transform=ax.get_yaxis_transform(), fontsize=8,
            va="bottom", color="#a03030")
    ax.text(0.005, 1.0, " below 1: memdesc pays", transform=ax.get_yaxis_transform(), fontsize=8,
            va="top", color="#307030")
    xmin, xmax = (min(place(all_x)), max(place(all_x))) if all_x else (0.0, 1.0)
    top = hi + (0.04 + 0.11 * rows) * span
    for i, (c, color, w) in enumerate(sorted(marks, key=lambda m: m[0]["x"])):
        ax.plot([c["x"], c["x"]], [1.0, top - 0.11 * span * (i % rows)], color=color, lw=0.8, ls=":", zorder=1)
        ax.plot([c["x"]], [1.0], marker="o", ms=9, mfc="white", mec=color, mew=2, zorder=5)
        side = "below" if c["direction"] == "rising" else "above"
        right = kind != "size" and xmax > xmin and (c["x"] - xmin) / (xmax - xmin) > 0.6
        at = _fmt_pos(c["x"], kind)
        ax.annotate(f"{w} crosses 1 at {at}: memdesc pays {side} {at}",
                    (c["x"], top - 0.11 * span * (i % rows)), ha="right" if right else "left", va="center",
                    xytext=(-4 if right else 4, 0), textcoords="offset points", fontsize=8, color=color,
                    bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": color, "lw": 0.8}, zorder=6)
    if kind == "size":
        ax.set_xscale("log", base=2)
        pos, labels, _ = numeric_axis(list(dict.fromkeys(all_x)))
        ax.set_xticks(pos)
        ax.set_xticklabels(labels)
        ax.set_xlabel(f"{sw['x_label']} (bytes, log scale)")
    elif kind == "category":
        ax.set_xticks(range(len(ticklabels)))
        ax.set_xticklabels(ticklabels)
        ax.set_xlabel(sw["x_label"])
    else:
        ax.set_xlabel(sw["x_label"])
    what = groups[0]["metric"] if groups else "cycles per op"
    ax.set_ylabel(f"memdesc / structpage {what} (ratio)")
    first = doc["points"][0]["results"]
    ax.set_title(f"When does memdesc pay? memdesc / structpage {what} against {sw['x_label']}\n"
                 f"{doc['machine']['name']}, scenario {first['scenario']['name']}, "
                 f"{first['study']['ops']:,} ops per run, {len(doc['points'])} points; "
                 "circles: crossovers (linear interpolation)", fontsize=9)
    ax.grid(alpha=0.3)
    longest = max((len(lab) for lab in ax.get_legend_handles_labels()[1]), default=0)
    ncol = 1 if longest > 45 else (2 if longest > 28 else 3)   # the legend row must fit the figure's width
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=min(ncol, len(groups) or 1),
              frameon=False)
    fig.tight_layout()
    return fig


def _fmt_pos(x: float, kind: str) -> str:
    if kind == "size":
        for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if x >= div:
                return f"{x / div:.3g} {unit}"
    return f"{x:.3g}"


def sweep_plots(doc: dict, outdir: str | Path) -> list[Path]:
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    return [_save(sweep_figure(doc), d / f"sweep_{doc['sweep']['name']}.png")]


def plots_for(res: dict, outdir: str | Path) -> list[Path]:
    if res.get("kind") == "sweep":
        return sweep_plots(res, outdir)
    if any(r.get("layout") for r in res.get("runs", [])):
        return study_plots(res, outdir)
    return trace_plots(res, outdir)
