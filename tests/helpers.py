"""Small builders shared by the tests."""
import numpy as np

from cachesim.config import machine_from_dict
from cachesim.trace import empty


def machine(*levels, semantics="default", seed=0, line_size=64, **extra):
    """machine(("L1", dict(...)), ...) with level numbers filled in order."""
    caches = {}
    for i, (name, spec) in enumerate(levels):
        spec = dict(spec)
        spec.setdefault("level", i + 1 if not spec.get("serves") in ("instructions", "data") else 1)
        caches[name] = spec
    raw = {"machine": {"name": "test", "line_size": line_size, "seed": seed}, "caches": caches,
           "replay": {"semantics": semantics}}
    raw.update(extra)
    return machine_from_dict(raw)


def records(addr, kind=0, size=8, op=None, tag=0):
    addr = np.asarray(addr, dtype=np.uint64)
    r = empty(len(addr))
    r["addr"] = addr
    r["kind"] = kind
    r["size"] = size
    r["tag"] = tag
    r["op"] = np.arange(len(addr)) if op is None else op
    return r


SMALL_MACHINE = """
[machine]
name = "small"
seed = 5
[caches.L1I]
level = 1
serves = "instructions"
size = "32KiB"
assoc = 8
[caches.L1D]
level = 1
serves = "data"
size = "32KiB"
assoc = 8
[caches.L2]
level = 2
size = "256KiB"
assoc = 8
[study]
workloads = ["compaction_migrate", "compaction_free"]
layouts = ["structpage", "memdesc"]
scenario = "small_scenario.toml"
ops = 2000
"""

SMALL_SCENARIO = """
[scenario]
name = "small"
memory = "1GiB"
seed = 3
[anon]
orders = { 0 = 0.5, 9 = 0.5 }
"""


def small_study_files(d):
    """A geometry-only machine with a [study] of 2 workloads x 2 layouts x 2000
    ops on a 1 GiB scenario: a study in a few seconds. Returns the config path."""
    (d / "small_scenario.toml").write_text(SMALL_SCENARIO)
    cfg = d / "small.toml"
    cfg.write_text(SMALL_MACHINE)
    return cfg
