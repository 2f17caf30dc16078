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
