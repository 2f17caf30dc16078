"""Command line (DESIGN.md section 4). Thin: parse, call, print.

Every user error ends as one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import CachesimError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _write_json(path: str, data: dict) -> None:
    from .trace import atomic_write_bytes
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise CachesimError(f"{p}: directory {p.parent} does not exist")
    atomic_write_bytes(p, (json.dumps(data, indent=1) + "\n").encode())


def _relaid(trace, layout: str | None, args, seed: int):
    """`trace` re-laid into `layout` (--layout / --relayout), or as it is."""
    if not layout:
        return trace
    from .kernel.relayout import Relayout, relayout
    return relayout(trace, Relayout(layout, args.vmemmap, args.descriptor_order, seed, args.memory))


def _layouts(arg: str | None, seed: int, args) -> list[str | None]:
    if not arg:
        return [None]
    from .kernel.relayout import Relayout
    names = [n.strip() for n in arg.split(",") if n.strip()]
    for n in names:                     # bad names fail before any trace is read
        Relayout(n, args.vmemmap, args.descriptor_order, seed, args.memory).check()
    return names or [None]


def cmd_run(args) -> int:
    from .api import as_machine, results, run_records
    from .readers import open_trace
    from .report import format_layouts, format_run
    machine = as_machine(args.config)
    if not args.trace:
        if args.layout:
            raise CachesimError("--layout re-lays a trace: it needs --trace (the study sets its layouts in [study])")
        return _run_study(machine, args)
    from .progress import bar as progress_bar
    runs = []
    for layout in _layouts(args.layout, machine.seed, args):
        trace = _relaid(open_trace(args.trace, args.format, skip_bad=args.skip_bad), layout, args, machine.seed)
        total = None if callable(trace.source) else len(trace)
        bar = progress_bar(total, args.quiet, Path(args.trace).name + (f" [{layout}]" if layout else ""))
        try:
            run = run_records(machine, trace, workload=Path(args.trace).name, layout=layout,
                              progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
        if run["accesses"] == 0:
            raise CachesimError(f"{args.trace}: trace has no records")
        if layout:
            run["relayout"] = trace.meta.extra["relayout"]
        runs.append(run)
    res = results(machine, runs)
    if args.json:
        _write_json(args.json, res)
    if args.stats:
        from .stats_txt import write_stats
        write_stats(args.stats, res)
    if args.plots:
        from .plot import plots_for
        plots_for(res, args.plots)
    if not args.quiet or not (args.json or args.stats):
        print("\n\n".join(format_run(machine, run) for run in runs))
        if len(runs) > 1:
            print("\n" + format_layouts(runs))
    return 0


def _run_study(machine, args) -> int:
    from .study import format_study, run_study
    say = None if args.quiet else (lambda msg: sys.stderr.write(f"cachesim: simulating {msg}\n"))
    res = run_study(machine, progress=say)
    if args.json:
        _write_json(args.json, res)
    if args.stats:
        from .stats_txt import write_stats
        write_stats(args.stats, res)
    from .plot import plots_for
    written = plots_for(res, args.plots or "plots")   # the study always draws its figures
    print(format_study(res))
    if not args.quiet:
        print("\nplots: " + ", ".join(str(p) for p in written))
    return 0


def cmd_plot(args) -> int:
    from .plot import plots_for
    p = Path(args.results)
    try:
        res = json.loads(p.read_text())
    except FileNotFoundError:
        raise CachesimError(f"{p}: no such results file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CachesimError(f"{p}: not a cachesim results JSON ({e})") from None
    if isinstance(res, dict) and res.get("kind") == "sweep":
        if not isinstance(res.get("points"), list) or not res["points"] or "sweep" not in res:
            raise CachesimError(f"{p}: not a cachesim sweep JSON: expected 'sweep' and a non-empty 'points'")
    elif not isinstance(res, dict) or not isinstance(res.get("runs"), list) or not res["runs"] \
            or "machine" not in res:
        raise CachesimError(f"{p}: not a cachesim results JSON: expected 'machine' and a non-empty 'runs'")
    try:
        written = plots_for(res, args.output)
    except (KeyError, TypeError) as e:
        raise CachesimError(f"{p}: results JSON lacks a key the plots need: {e}") from None
    for w in written:
        print(w)
    return 0


def cmd_sweep(args) -> int:
    import os
    import time

    from .progress import bar as progress_bar
    from .crossover import format_sweep
    from .sweep import load_sweep, run_sweep
    if args.json and not Path(args.json).parent.exists():   # fail now, not after minutes of simulation
        raise CachesimError(f"{args.json}: directory {Path(args.json).parent} does not exist")
    if args.workers is not None and args.workers < 1:
        raise CachesimError(f"--workers expected a positive integer, got {args.workers}")
    sw = load_sweep(args.sweep)
    if args.scheduler:
        from .sweep import require_distributed
        require_distributed()
    n = len(sw.points)
    where = f"scheduler {args.scheduler}" if args.scheduler else \
        f"{min(n, args.workers or os.cpu_count() or 1)} local process(es)"
    bar = progress_bar(n, args.quiet, sw.name, unit="point")
    t0 = time.monotonic()
    count = 0

    def progress(i: int, res: dict) -> None:
        nonlocal count
        count += 1
        if bar:
            bar.update(1)
        elif not args.quiet:
            sys.stderr.write(f"cachesim: point {i + 1} of {n} done ({count}/{n}, "
                             f"{time.monotonic() - t0:.0f} s)\n")
    if not args.quiet:
        sys.stderr.write(f"cachesim: sweep {sw.name}: {n} points on {where}\n")
    try:
        doc = run_sweep(sw, scheduler=args.scheduler, workers=args.workers, progress=progress)
    finally:
        if bar:
            bar.close()
    if args.json:
        _write_json(args.json, doc)
    written = []
    if args.plots:
        from .plot import plots_for
        written = plots_for(doc, args.plots)
    print(format_sweep(doc))
    if not args.quiet:
        sys.stderr.write(f"cachesim: {n} points in {time.monotonic() - t0:.0f} s on {where}\n")
        if written:
            print("\nplots: " + ", ".join(str(p) for p in written))
    return 0


def cmd_trace(args) -> int:
    from .kernel import generate as G
    from .kernel.scenario import load_scenario
    from .trace import TraceWriter
    sc = load_scenario(args.scenario)
    tr = G.trace(args.workload, args.layout, sc, args.ops)
    with TraceWriter(args.output, tr.meta) as w:
        for chunk in tr.chunks():
            w.write(chunk)
    print(f"{args.output}: {w.count} records, {tr.meta.extra['ops']} ops "
          f"({args.workload}, {args.layout}, scenario {sc.name}, seed {sc.seed})")
    return 0


def cmd_convert(args) -> int:
    from .readers import open_trace
    from .trace import TraceWriter
    trace = open_trace(args.input, args.format, skip_bad=args.skip_bad)
    if args.relayout:
        _layouts(args.relayout, args.seed, args)
        trace = _relaid(trace, args.relayout, args, args.seed)
    out = Path(args.output)
    with TraceWriter(out, trace.meta) as w:
        for chunk in trace.chunks():
            w.write(chunk)
        if w.count == 0:
            raise CachesimError(f"{args.input}: trace has no records")
    msg = f"{out}: {w.count} records"
    if args.relayout:
        msg += f" ({trace.meta.extra['relayout']['records_rewritten']} struct page accesses re-laid as {args.relayout})"
    if trace.meta.skipped_lines:
        msg += f", {trace.meta.skipped_lines} bad lines skipped"
    print(msg)
    return 0


def cmd_info(args) -> int:
    from .readers import open_trace
    from .trace import KIND_NAMES
    trace = open_trace(args.trace, args.format, skip_bad=args.skip_bad)
    n = 0
    kinds = np.zeros(256, np.int64)
    tags = np.zeros(256, np.int64)
    lo, hi = None, None
    ops = 0
    top = None
    for chunk in trace.chunks():
        n += len(chunk)
        kinds += np.bincount(chunk["kind"], minlength=256)
        tags += np.bincount(chunk["tag"], minlength=256)
        a = chunk["addr"]
        lo = a.min() if lo is None else min(lo, a.min())
        hi = a.max() if hi is None else max(hi, a.max())
        # an op starts when its id exceeds every earlier id (docs/semantics.md)
        o = chunk["op"].astype(np.int64)
        run_max = np.maximum.accumulate(o)
        prev = np.concatenate([[top if top is not None else -1], run_max[:-1]])
        ops += int(np.count_nonzero(o > prev))
        top = int(run_max[-1]) if top is None else max(top, int(run_max[-1]))
    if n == 0:
        raise CachesimError(f"{args.trace}: trace has no records")
    meta = trace.meta
    print(f"trace:    {args.trace} ({meta.format})")
    print(f"records:  {n}")
    print(f"ops:      {ops}")
    print("kinds:    " + ", ".join(f"{KIND_NAMES[k] if k < len(KIND_NAMES) else k}={int(c)}"
                                   for k, c in enumerate(kinds) if c))
    names = meta.tags
    print("tags:     " + ", ".join(f"{names[t] if t < len(names) else t}={int(c)}"
                                   for t, c in enumerate(tags) if c))
    print(f"address:  {int(lo):#x} .. {int(hi):#x}")
    if meta.sampled:
        print("sampled:  yes (each record is a sample; hit rates are sample hit rates)")
    if meta.skipped_lines or meta.ignored_lines:
        print(f"lines:    {meta.skipped_lines} bad skipped, {meta.ignored_lines} non-record ignored")
    return 0


def cmd_layout(args) -> int:
    from .kernel import layoutfile
    from .kernel.dwarf import read_structs
    lay = read_structs(args.vmlinux)
    layoutfile.write(lay, args.output)
    if args.output:
        got = ", ".join(f"{n} {s.size} B ({len(s.members)} members)" for n, s in lay.structs.items())
        dw = "/".join(str(v) for v in lay.dwarf_versions)
        print(f"{args.output}: {got}; DWARF {dw}, {lay.units_read} compile units read")
    return 0


def _address(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address (e.g. 0xffffea0000000000)") from None
    if not 0 <= v < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a 64-bit address")
    return v


def _bytes(text: str) -> int:
    from .config import parse_size
    try:
        return parse_size(text, "--memory")
    except CachesimError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _relayout_options(p) -> None:
    from .kernel.layouts import VMEMMAP
    p.add_argument("--vmemmap", type=_address, default=VMEMMAP,
                   help="vmemmap base of the traced kernel (vmemmap_base; default %(default)#x)")
    p.add_argument("--descriptor-order", choices=("random", "sequential"), default="random",
                   help="descriptor slots: seeded permutation of the PFN (aged) or PFN order")
    p.add_argument("--memory", type=_bytes, default=16 << 30,
                   help="RAM of the traced machine, for the random descriptor placement (default 16GiB)")


def build_parser() -> argparse.ArgumentParser:
    from .readers import FORMATS
    p = _Parser(prog="cachesim", description="Fast CPU cache hierarchy simulator: struct page vs memdesc.")
    p.add_argument("--version", action="version", version=f"cachesim {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run the study in CONFIG, or replay a trace")
    r.add_argument("config")
    r.add_argument("--trace")
    r.add_argument("--format", default="auto", choices=FORMATS)
    r.add_argument("--skip-bad", action="store_true", help="skip malformed lines and count them")
    r.add_argument("--json")
    r.add_argument("--stats")
    r.add_argument("--plots")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--layout", help="replay a struct page trace once per layout, e.g. structpage,memdesc "
                                    "(memdesc: vmemmap accesses re-laid as word + descriptor)")
    _relayout_options(r)
    r.set_defaults(fn=cmd_run)

    t = sub.add_parser("trace", help="generate a kernel workload trace")
    t.add_argument("workload")
    t.add_argument("--layout", required=True)
    t.add_argument("--scenario")
    t.add_argument("--ops", type=int)
    t.add_argument("-o", "--output", required=True)
    t.set_defaults(fn=cmd_trace)

    c = sub.add_parser("convert", help="convert a trace to .npy")
    c.add_argument("input")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--format", default="auto", choices=FORMATS)
    c.add_argument("--skip-bad", action="store_true")
    c.add_argument("--relayout", metavar="LAYOUT", help="re-lay struct page accesses into LAYOUT (memdesc, ...)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random descriptor order (default 0)")
    _relayout_options(c)
    c.set_defaults(fn=cmd_convert)

    pl = sub.add_parser("plot", help="redraw the figures of a results JSON")
    pl.add_argument("results")
    pl.add_argument("-o", "--output", required=True)
    pl.set_defaults(fn=cmd_plot)

    sw = sub.add_parser("sweep", help="run the study over a grid of config and scenario values")
    sw.add_argument("sweep", metavar="SWEEP.toml")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run the points on this Dask scheduler "
                    "(e.g. tcp://host:8786); else on local processes")
    sw.add_argument("--workers", type=int, metavar="N", help="local processes (default: one per CPU)")
    sw.add_argument("--json", metavar="PATH", help="every point's overrides and results, one JSON")
    sw.add_argument("--plots", metavar="DIR", help="draw sweep_NAME.png into DIR")
    sw.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sw.set_defaults(fn=cmd_sweep)

    i = sub.add_parser("info", help="records, ops, kinds, address ranges")
    i.add_argument("trace")
    i.add_argument("--format", default="auto", choices=FORMATS)
    i.add_argument("--skip-bad", action="store_true")
    i.set_defaults(fn=cmd_info)

    ly = sub.add_parser("layout", help="struct page/folio/slab/ptdesc offsets from a vmlinux's DWARF")
    ly.add_argument("--vmlinux", required=True, help="a vmlinux (or any ELF object) with DWARF")
    ly.add_argument("-o", "--output", help="LAYOUT.toml to write (default: stdout)")
    ly.set_defaults(fn=cmd_layout)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except CachesimError as e:
        sys.stderr.write(f"cachesim: error: {e}\n")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("cachesim: interrupted\n")
        return 130
    except OSError as e:
        sys.stderr.write(f"cachesim: error: {e.filename or ''}: {e.strerror}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
