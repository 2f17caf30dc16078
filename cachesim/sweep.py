"""Sweeps (``cachesim sweep SWEEP.toml``): the study re-run at every point of
a grid of machine-config and scenario overrides, in parallel, merged into one
results document (crossover.py reads the answer out of it).

A sweep file::

    [sweep]
    config = "../skylake.toml"                 # base machine config, relative to this file
    scenario = "../../workloads/server.toml"   # optional: else the config's [study] scenario
    workloads = ["compaction_migrate"]         # optional: else the config's [study]
    layouts = ["structpage", "memdesc"]        # must include both (the ratio compares them)
    ops = 50000                                # optional, per workload and layout
    combine = "product"                        # or "zip": the i-th values of every key together
    x = "caches.L3.size"                       # optional: the plotted number (default: first key)
    x_label = "L3 size"                        # optional axis label

    [grid]
    "caches.L3.size" = ["8MiB", "16MiB", "32MiB"]
    "scenario.lru.order" = ["random", "runs"]

A grid key is a dotted path into the machine config (``caches.L3.size``,
``memory.latency_ns``) or, after ``scenario.``, into the scenario file
(``scenario.anon.orders``, ``scenario.lru.order``; a single name such as
``scenario.memory`` is a key of the scenario file's own ``[scenario]`` table).
A value replaces whatever the base has at that path (a table value replaces
the whole table). Every point is validated by the same loaders as a config or
scenario file before anything runs.
"""
from __future__ import annotations

import copy
import datetime
import itertools
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from . import ENGINE_HASH, __version__
from .api import machine_config
from .config import _Table, machine_from_dict
from .crossover import all_crossovers
from .errors import CachesimError, ConfigError
from .kernel.scenario import scenario_from_dict
from .study import run_study, study_params

MACHINE_TABLES = ("machine", "caches", "replay", "memory", "core", "tlbs", "regions", "study")
COMBINE = ("product", "zip")
COMPARED = ("structpage", "memdesc")   # the ratio is memdesc / structpage
DEFAULT_SCENARIO = "<default scenario>"


@dataclass(frozen=True)
class Sweep:
    path: str
    text: str
    name: str
    config_path: str
    config: dict          # the base machine config as read, [study] merged with the sweep's
    scenario_path: str | None
    scenario: dict        # the base scenario file as read ({} = the defaults)
    combine: str
    keys: tuple
    points: tuple         # one {grid key: value} per point, in grid order
    x: str
    x_label: str


# ---- reading and validating a sweep file ---------------------------------------------

def _read_toml(p: Path, what: str) -> dict:
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such {what} file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None


def _flatten(table: dict, where: str, prefix: str = "") -> dict:
    """[grid] as {dotted key: values}: TOML writes ``caches.L3.size = [...]``
    as nested tables and ``"caches.L3.size" = [...]`` as one key; both mean
    the same path. A table that is not a list of values is descended into."""
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, where, key + "."))
        elif isinstance(v, list):
            if not v:
                raise ConfigError(f"{where}: '{key}' has no values")
            for val in v:
                _check_value(val, f"{where}: '{key}'")
            out[key] = v
        else:
            raise ConfigError(f"{where}: '{key}' expected a list of values, got {v!r}")
    return out


def _check_value(v: Any, where: str) -> None:
    # results are JSON: TOML dates and times have no JSON form
    if isinstance(v, (datetime.date, datetime.time)):
        raise ConfigError(f"{where}: dates and times are not sweepable values, got {v!r}")
    if isinstance(v, dict):
        for x in v.values():
            _check_value(x, where)
    if isinstance(v, list):
        for x in v:
            _check_value(x, where)


def _target(key: str) -> tuple[str, list[str]]:
    """('machine' | 'scenario', path inside that file) of a grid key."""
    parts = key.split(".")
    if parts[0] == "scenario":
        rest = parts[1:]
        # scenario.memory -> [scenario] memory; scenario.anon.orders -> [anon] orders
        return "scenario", (["scenario"] + rest if len(rest) == 1 else rest)
    return "machine", parts


def _apply(raw: dict, path: list[str], value: Any, where: str) -> None:
    node = raw
    for i, part in enumerate(path[:-1]):
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{where}: '{'.'.join(path[:i + 1])}' is not a table in the base file")
        node = nxt
    node[path[-1]] = copy.deepcopy(value)


def _short(v: Any, width: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= width else s[:width - 3] + "..."


def point_inputs(sw: Sweep, overrides: dict, label: str) -> tuple[dict, dict]:
    """The machine config and scenario dictionaries of one point."""
    config = copy.deepcopy(sw.config)
    scenario = copy.deepcopy(sw.scenario)
    for key, value in overrides.items():
        which, path = _target(key)
        _apply(config if which == "machine" else scenario, path, value, f"{sw.path}: {label}: '{key}'")
    return config, scenario


def _validate(sw: Sweep, config: dict, scenario: dict, where: str) -> None:
    try:
        machine = machine_from_dict(config, sw.config_path)
        scenario_from_dict(scenario, sw.scenario_path or DEFAULT_SCENARIO)
        sp = study_params(machine)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    missing = [lay for lay in COMPARED if lay not in sp["layouts"]]
    if missing:
        raise ConfigError(f"{sw.path}: [sweep] 'layouts' must include {' and '.join(COMPARED)} "
                          f"(the sweep plots their ratio); {missing[0]} is missing")


def load_sweep(path: str | Path) -> Sweep:
    p = Path(path)
    raw = _read_toml(p, "sweep")
    top = _Table(raw, str(p))
    s = _Table(top.get("sweep", dict, what="a [sweep] table"), f"{p}: [sweep]")
    grid_raw = top.get("grid", dict, what="a [grid] table of key = [values]")
    top.finish()
    name = s.get("name", str, p.stem)
    here = p.parent
    cfg_path = Path(os.path.normpath(here / s.get("config", str, what="the base machine config's path")))
    try:
        config = _read_toml(cfg_path, "config")
        base = machine_from_dict(config, str(cfg_path))   # the base must load on its own
    except ConfigError as e:
        raise ConfigError(f"{p}: [sweep] 'config': {e}") from None
    scen = s.get("scenario", str, None, what="a scenario file's path")
    try:
        if scen is not None:
            scen_path = os.path.normpath(here / scen)
        else:
            scen_path = study_params(base)["scenario"]
        scenario = _read_toml(Path(scen_path), "scenario") if scen_path else {}
    except ConfigError as e:
        raise ConfigError(f"{p}: [sweep] 'scenario': {e}") from None
    study = dict(config.get("study", {}))
    study.pop("scenario", None)      # the sweep passes each point's scenario itself
    for key, kind in (("workloads", list), ("layouts", list), ("ops", int)):
        v = s.get(key, kind, None)
        if v is not None:
            study[key] = v
    config["study"] = study
    combine = s.choice("combine", COMBINE, "product")
    x = s.get("x", str, None, what="a grid key (or a path inside one)")
    x_label = s.get("x_label", str, None)
    s.finish()

    where = f"{p}: [grid]"
    grid = _flatten(grid_raw, where)
    if not grid:
        raise ConfigError(f"{where}: expected at least one key = [values]")
    sw = Sweep(str(p), p.read_text(), name, str(cfg_path), config, scen_path, scenario, combine,
               tuple(grid), (), x or next(iter(grid)), x_label or "")
    _validate(sw, copy.deepcopy(config), copy.deepcopy(scenario), f"{p}: [sweep]")
    for key, values in grid.items():
        which, _ = _target(key)
        if which == "machine" and key.split(".")[0] not in MACHINE_TABLES:
            raise ConfigError(f"{where}: '{key}' is neither a machine config key "
                              f"({', '.join(MACHINE_TABLES)}) nor scenario.KEY")
        if key == "scenario" or key.startswith("study.scenario"):
            raise ConfigError(f"{where}: '{key}': sweep scenario knobs as scenario.KEY "
                              "(e.g. scenario.anon.orders), or set [sweep] scenario")
    if combine == "zip":
        lengths = {k: len(v) for k, v in grid.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"{p}: [sweep] combine = 'zip' needs lists of one length, got "
                              + ", ".join(f"'{k}' {n}" for k, n in lengths.items()))
        points = [dict(zip(grid, vals)) for vals in zip(*grid.values())]
    else:
        points = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]
    sw = replace(sw, points=tuple(points), x_label=sw.x_label or sw.x)
    owner = _x_key(sw)
    for i, pt in enumerate(points):
        try:
            c, sc = point_inputs(sw, pt, f"point {i + 1}")
            _validate(sw, c, sc, f"{p}: point {i + 1} ({_describe(pt)})")
        except ConfigError:
            _blame(sw, pt, where)      # name the key when one value is wrong on its own
            raise                      # else the combination is: name the point
        x_value(sw, pt, owner)
    return sw


def _blame(sw: Sweep, pt: dict, where: str) -> None:
    """Raise the error of the first override that fails on the base alone
    (an unknown key, a bad value); return if each is fine by itself."""
    for key, v in pt.items():
        c, sc = point_inputs(sw, {key: v}, f"[grid] '{key}'")
        _validate(sw, c, sc, f"{where} '{key}' = {_short(v)}")


def _describe(pt: dict) -> str:
    return ", ".join(f"{k} = {_short(v, 40)}" for k, v in pt.items())


# ---- the plotted number of each point ------------------------------------------------

def _x_key(sw: Sweep) -> str:
    for k in sw.keys:
        if sw.x == k or sw.x.startswith(k + "."):
            return k
    raise ConfigError(f"{sw.path}: [sweep] 'x' = {sw.x!r} is not a grid key or a path inside one "
                      f"(grid keys: {', '.join(sw.keys)})")


def x_value(sw: Sweep, pt: dict, owner: str | None = None) -> Any:
    """The number (or size string, or name) a point is plotted at. Inside an
    ``orders`` table the value is that order's share after normalising, as the
    scenario loader normalises (an order the table leaves out has share 0)."""
    owner = owner or _x_key(sw)
    v = pt[owner]
    rest = sw.x[len(owner) + 1:].split(".") if sw.x != owner else []
    parent = owner.split(".")[-1]
    for part in rest:
        if not isinstance(v, dict):
            raise ConfigError(f"{sw.path}: [sweep] 'x' = {sw.x!r}: {parent!r} is not a table")
        if parent == "orders" and all(isinstance(s, (int, float)) for s in v.values()):
            total = sum(v.values())
            return v.get(part, 0) / total if total else 0.0
        if part not in v:
            raise ConfigError(f"{sw.path}: [sweep] 'x' = {sw.x!r}: a value of '{owner}' has no {part!r}")
        v, parent = v[part], part
    if isinstance(v, (dict, list)):
        inner = next(iter(v), "0") if isinstance(v, dict) else "0"
        raise ConfigError(f"{sw.path}: [sweep] 'x' = {sw.x!r} is a table or list in each point; name one "
                          f"number inside it with x (e.g. x = \"{sw.x}.{inner}\")")
    return v


# ---- running the points ---------------------------------------------------------------

def run_point(payload: dict) -> dict:
    """One point's study, in whatever process runs it (a local worker or a
    Dask worker): plain dictionaries in and out, so any pickler carries them."""
    if payload["engine_hash"] != ENGINE_HASH or payload["version"] != __version__:
        raise CachesimError(f"a sweep worker runs cachesim {__version__} (engine {ENGINE_HASH}) but the client "
                            f"runs {payload['version']} (engine {payload['engine_hash']}): install the same "
                            "cachesim on every worker")
    machine = machine_from_dict(payload["config"], payload["config_source"])
    sc = scenario_from_dict(payload["scenario"], payload["scenario_source"])
    return run_study(machine, scenario=sc, workers=1)   # the sweep runs points in parallel instead


def payloads(sw: Sweep) -> list[dict]:
    out = []
    for i, pt in enumerate(sw.points):
        config, scenario = point_inputs(sw, pt, f"point {i + 1}")
        out.append({"index": i, "config": config, "scenario": scenario,
                    "config_source": sw.config_path, "scenario_source": sw.scenario_path or DEFAULT_SCENARIO,
                    "engine_hash": ENGINE_HASH, "version": __version__})
    return out


def _worker_init() -> None:
    # points already fill the cores: a point's replay gets one thread, so
    # N workers do not start 2N threads (results cannot differ: see replay.py)
    os.environ.setdefault("CACHESIM_THREADS", "1")


def _run_local(work: list[dict], workers: int, done: Callable[[int, dict], None]) -> None:
    if workers == 1 or len(work) == 1:
        for p in work:
            done(p["index"], run_point(p))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    # spawn, not fork: a parent that already replayed has numba's thread pool
    # running, and forking a process with live threads can deadlock the child
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=ctx,
                             initializer=_worker_init) as ex:
        futs = {ex.submit(run_point, p): p["index"] for p in work}
        try:
            for f in as_completed(futs):
                done(futs[f], f.result())
        except BrokenProcessPool:
            raise CachesimError("a sweep worker process died (out of memory?); try --workers 1") from None
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def require_distributed():
    """The `distributed` module, imported only when a sweep asks for Dask."""
    try:
        import distributed
    except ImportError:
        raise CachesimError("--scheduler needs Dask's 'distributed' package: pip install 'cachesim[dask]'") \
            from None
    return distributed


def _run_dask(address: str, work: list[dict], done: Callable[[int, dict], None]) -> None:
    distributed = require_distributed()
    Client, as_completed = distributed.Client, distributed.as_completed
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise CachesimError(f"--scheduler {address}: cannot connect: {first}") from None
    try:
        futs = client.map(run_point, work, pure=False)
        index = {f.key: p["index"] for f, p in zip(futs, work)}
        for f in as_completed(futs):
            try:
                res = f.result()
            except CachesimError:
                raise
            except Exception as e:   # a worker's failure arrives as the worker's exception
                raise CachesimError(f"--scheduler {address}: point {index[f.key] + 1} failed on a worker: "
                                    f"{type(e).__name__}: {e}".splitlines()[0]) from None
            done(index[f.key], res)
    finally:
        client.close()


def run_sweep(sw: Sweep, scheduler: str | None = None, workers: int | None = None,
              progress: Callable[[int, dict], None] | None = None) -> dict:
    """Run every point (local processes, or the Dask cluster at `scheduler`)
    and merge them into one document, points in grid order."""
    work = payloads(sw)
    results: list[dict | None] = [None] * len(work)

    def done(i: int, res: dict) -> None:
        results[i] = res
        if progress:
            progress(i, res)
    if scheduler:
        _run_dask(scheduler, work, done)
    else:
        _run_local(work, workers or os.cpu_count() or 1, done)
    return merge(sw, results)


def merge(sw: Sweep, results: list[dict]) -> dict:
    owner = _x_key(sw)
    base = machine_from_dict(copy.deepcopy(sw.config), sw.config_path)
    doc = {
        "cachesim_version": __version__,
        "engine_hash": ENGINE_HASH,
        "kind": "sweep",
        "sweep": {"file": sw.path, "name": sw.name, "text": sw.text, "config": sw.config_path,
                  "scenario": sw.scenario_path, "combine": sw.combine, "keys": list(sw.keys),
                  "x": sw.x, "x_label": sw.x_label, "study": results[0]["study"] if results else {}},
        "machine": base.describe(),
        "config": machine_config(base),
        "points": [{"index": i, "overrides": pt, "x": x_value(sw, pt, owner), "results": res}
                   for i, (pt, res) in enumerate(zip(sw.points, results))],
    }
    doc["crossovers"] = [dict(c, x_label=sw.x_label) for c in all_crossovers(doc)]
    return doc
