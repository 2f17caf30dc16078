"""TLBs: the reach knee at entries x page size for each page size, the
level-2 TLB behind it, and page walks that go through the caches."""
import numpy as np
import pytest

from cachesim.api import run_records
from cachesim.config import machine_from_dict
from cachesim.errors import ConfigError
from cachesim.trace import Trace, TraceMeta, empty

VMEMMAP = 0xFFFFEA0000000000
DIRECT = 0xFFFF888000000000


def mach(**extra):
    raw = {"machine": {"name": "tlb", "frequency_ghz": 1.0},
           "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8},
                      "L2": {"level": 2, "size": "1MiB", "assoc": 16}},
           "tlbs": {"DTLB": {"level": 1, "page_sizes": ["4KiB"], "entries": 64, "assoc": 4},
                    "DTLB2M": {"level": 1, "page_sizes": ["2MiB"], "entries": 32, "assoc": 4},
                    "DTLB1G": {"level": 1, "page_sizes": ["1GiB"], "entries": 4, "assoc": 4},
                    "STLB": {"level": 2, "page_sizes": ["4KiB", "2MiB"], "entries": 1536, "assoc": 12,
                             "hit_latency": 9}},
           "regions": [{"start": VMEMMAP, "end": VMEMMAP + (1 << 40), "page_size": "2MiB"},
                       {"start": DIRECT, "end": DIRECT + (1 << 46), "page_size": "1GiB"}]}
    raw.update(extra)
    return machine_from_dict(raw)


def pages(base, npages, page, passes=4):
    r = empty(npages * passes)
    r["addr"] = (np.uint64(base) + np.tile(np.arange(npages, dtype=np.uint64), passes) * np.uint64(page))
    r["size"] = 8
    return r


def run(m, r):
    return run_records(m, Trace(r, TraceMeta()))


@pytest.mark.parametrize("tlb,base,page,entries", [("DTLB", 1 << 30, 4096, 64),
                                                   ("DTLB2M", VMEMMAP, 2 << 20, 32),
                                                   ("DTLB1G", DIRECT, 1 << 30, 4)])
def test_level1_reach_knee(tlb, base, page, entries):
    m = mach()
    fits = run(m, pages(base, entries, page))["tlbs"][tlb]
    assert fits["misses"] == entries                       # cold only
    over = run(m, pages(base, entries + entries // 4, page))["tlbs"][tlb]   # one more page per set
    assert over["misses"] == over["accesses"]              # LRU thrash: every access misses


def test_stlb_catches_level1_misses_up_to_its_reach():
    m = mach()
    r = run(m, pages(1 << 30, 1536, 4096))
    assert r["tlbs"]["STLB"]["misses"] == 1536             # cold only: 1536 pages fit
    walks = r["by_tag"]["page_walk"]
    r2 = run(m, pages(1 << 30, 1536 + 128, 4096))
    assert r2["tlbs"]["STLB"]["misses"] == r2["tlbs"]["STLB"]["accesses"]
    assert r2["by_tag"]["page_walk"]["L1"]["accesses"] > walks["L1"]["accesses"]


def test_page_walk_depth_by_page_size():
    m = mach()
    for base, page, levels in ((1 << 30, 4096, 4), (VMEMMAP, 2 << 20, 3), (DIRECT, 1 << 30, 2)):
        r = run(m, pages(base, 1, page, passes=1))
        assert r["by_tag"]["page_walk"]["L1"]["accesses"] == levels


def test_translation_adds_cycles():
    m = mach()
    no = machine_from_dict({"machine": {"name": "t", "frequency_ghz": 1.0},
                            "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8},
                                       "L2": {"level": 2, "size": "1MiB", "assoc": 16}}})
    r = pages(1 << 30, 4000, 4096, passes=2)
    r["dep"] = 1
    r["dep"][0] = 0
    assert run(m, r)["cycles"] > run(no, r)["cycles"] + 4000


def test_bad_tlb_configs():
    with pytest.raises(ConfigError, match="page size"):
        mach(tlbs={"T": {"level": 1, "page_sizes": ["8KiB"], "entries": 64, "assoc": 4}})
    with pytest.raises(ConfigError, match="both hold"):
        mach(tlbs={"A": {"level": 1, "page_sizes": ["4KiB"], "entries": 64, "assoc": 4},
                   "B": {"level": 1, "page_sizes": ["4KiB"], "entries": 64, "assoc": 4}})
    with pytest.raises(ConfigError, match="aligned"):
        mach(regions=[{"start": 4096, "end": 8192, "page_size": "2MiB"}])
