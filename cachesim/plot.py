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
    cycles per access of the last pass (the earlier ones warm the caches)."""
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
    ax.set_xlabel("working set (bytes), dependent chase over consecutive lines")
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
