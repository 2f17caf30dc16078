"""Scenario files (workloads/*.toml): what physical memory looks like.

Every value has a default; a scenario file overrides what it names. Unknown
keys are errors, as in machine configs.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..config import _Table, parse_size
from ..errors import ConfigError

MAX_FOLIO_ORDER = 9
MAX_FREE_ORDER = 9   # within a 512-page pageblock; see memory.py


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    seed: int = 1
    memory: int = 16 << 30
    free_fraction: float = 0.05
    free_orders: dict = field(default_factory=lambda: {0: 0.35, 1: 0.2, 2: 0.15, 3: 0.1, 4: 0.1, 9: 0.1})
    slab: float = 0.05
    pagetable: float = 0.01
    reserved: float = 0.005
    unmovable_fill: float = 0.9
    unmovable_run: int = 8
    anon_share: float = 0.4
    anon_orders: dict = field(default_factory=lambda: {0: 0.9, 9: 0.1})
    file_orders: dict = field(default_factory=lambda: {0: 0.4, 2: 0.2, 4: 0.2, 5: 0.2})
    lru_order: str = "random"
    lru_run: int = 16
    file_pages_mu: float = 2.5
    file_pages_sigma: float = 2.0
    lookup: str = "random"
    descriptor_order: str = "random"
    compaction_mode: str = "sync"
    cc_order: int = 9
    ops: int = 1_000_000
    source: str = "<default>"

    @property
    def pfns(self) -> int:
        return self.memory // 4096

    def describe(self) -> dict:
        d = dict(self.__dict__)
        for k in ("free_orders", "anon_orders", "file_orders"):
            d[k] = {str(o): v for o, v in d[k].items()}
        return d


def _orders(t: _Table, key: str, default: dict, max_order: int) -> dict:
    raw = t.get(key, dict, None, what="a table of order = share")
    if raw is None:
        return default
    out = {}
    for k, v in raw.items():
        if not k.isdigit() or int(k) > max_order:
            raise ConfigError(f"{t.where}: '{key}' order {k!r} must be an integer 0..{max_order}")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{t.where}: '{key}.{k}' expected a non-negative share, got {v!r}")
        out[int(k)] = float(v)
    if sum(out.values()) <= 0:
        raise ConfigError(f"{t.where}: '{key}' shares must not all be zero")
    total = sum(out.values())
    return {k: v / total for k, v in sorted(out.items())}


def _fraction(t: _Table, key: str, default: float) -> float:
    v = t.get(key, (int, float), default, what="a fraction between 0 and 1")
    if not 0 <= v <= 1:
        raise ConfigError(f"{t.where}: '{key}' expected a fraction between 0 and 1, got {v}")
    return float(v)


def scenario_from_dict(raw: dict, source: str = "<dict>") -> Scenario:
    d = Scenario()
    top = _Table(raw, source)
    s = _Table(top.get("scenario", dict, {}), f"{source}: [scenario]")
    name = s.get("name", str, d.name)
    seed = s.get("seed", int, d.seed)
    mem = parse_size(s.get("memory", (str, int), "16GiB"), f"{source}: [scenario] 'memory'")
    if mem % (2 << 20) or mem < (64 << 20):
        raise ConfigError(f"{source}: [scenario] 'memory' must be a multiple of 2 MiB and at least 64 MiB")
    ops = s.get("ops", int, d.ops)
    if ops <= 0:
        raise ConfigError(f"{source}: [scenario] 'ops' expected a positive integer, got {ops}")
    s.finish()
    f = _Table(top.get("free", dict, {}), f"{source}: [free]")
    free_fraction = _fraction(f, "fraction", d.free_fraction)
    free_orders = _orders(f, "orders", d.free_orders, MAX_FREE_ORDER)
    f.finish()
    u = _Table(top.get("unmovable", dict, {}), f"{source}: [unmovable]")
    slab, pt, res = _fraction(u, "slab", d.slab), _fraction(u, "pagetable", d.pagetable), \
        _fraction(u, "reserved", d.reserved)
    fill = _fraction(u, "pageblock_fill", d.unmovable_fill)
    run = u.get("cluster_pageblocks", int, d.unmovable_run)
    u.finish()
    a = _Table(top.get("anon", dict, {}), f"{source}: [anon]")
    anon_share = _fraction(a, "share", d.anon_share)
    anon_orders = _orders(a, "orders", d.anon_orders, MAX_FOLIO_ORDER)
    a.finish()
    fl = _Table(top.get("file", dict, {}), f"{source}: [file]")
    file_orders = _orders(fl, "orders", d.file_orders, MAX_FOLIO_ORDER)
    mu = fl.get("pages_lognormal_mu", (int, float), d.file_pages_mu)
    sigma = fl.get("pages_lognormal_sigma", (int, float), d.file_pages_sigma)
    lookup = fl.choice("lookup", ("random", "sequential"), d.lookup)
    fl.finish()
    lr = _Table(top.get("lru", dict, {}), f"{source}: [lru]")
    lru_order = lr.choice("order", ("random", "runs"), d.lru_order)
    lru_run = lr.get("run_length", int, d.lru_run)
    lr.finish()
    md = _Table(top.get("memdesc", dict, {}), f"{source}: [memdesc]")
    desc_order = md.choice("descriptor_order", ("sequential", "random"), d.descriptor_order)
    md.finish()
    cp = _Table(top.get("compaction", dict, {}), f"{source}: [compaction]")
    mode = cp.choice("mode", ("sync", "async"), d.compaction_mode)
    cc_order = cp.get("order", int, d.cc_order)
    cp.finish()
    top.finish()
    if slab + pt + res + free_fraction >= 0.9:
        raise ConfigError(f"{source}: free + slab + pagetable + reserved must leave room for folios (< 0.9)")
    if lru_run < 1 or run < 1:
        raise ConfigError(f"{source}: run lengths must be >= 1")
    return Scenario(name, seed, mem, free_fraction, free_orders, slab, pt, res, fill, run, anon_share,
                    anon_orders, file_orders, lru_order, lru_run, float(mu), float(sigma), lookup, desc_order,
                    mode, cc_order, ops, source)


def scenario_config(sc: Scenario) -> dict:
    """The scenario as a scenario-file dictionary with every knob spelled out:
    ``scenario_from_dict`` of it gives the same scenario (up to ``source``),
    so a results JSON reproduces its memory state without the file."""
    def orders(d: dict) -> dict:
        return {str(o): v for o, v in d.items()}
    return {
        "scenario": {"name": sc.name, "seed": sc.seed, "memory": sc.memory, "ops": sc.ops},
        "free": {"fraction": sc.free_fraction, "orders": orders(sc.free_orders)},
        "unmovable": {"slab": sc.slab, "pagetable": sc.pagetable, "reserved": sc.reserved,
                      "pageblock_fill": sc.unmovable_fill, "cluster_pageblocks": sc.unmovable_run},
        "anon": {"share": sc.anon_share, "orders": orders(sc.anon_orders)},
        "file": {"orders": orders(sc.file_orders), "pages_lognormal_mu": sc.file_pages_mu,
                 "pages_lognormal_sigma": sc.file_pages_sigma, "lookup": sc.lookup},
        "lru": {"order": sc.lru_order, "run_length": sc.lru_run},
        "memdesc": {"descriptor_order": sc.descriptor_order},
        "compaction": {"mode": sc.compaction_mode, "order": sc.cc_order},
    }


def load_scenario(path: str | Path | None) -> Scenario:
    if path is None:
        return Scenario()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such scenario file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return scenario_from_dict(raw, str(p))
