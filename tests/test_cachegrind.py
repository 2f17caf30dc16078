"""semantics = "cachegrind" reproduces Valgrind Cachegrind's nine counters
exactly, from a lackey trace of the same execution.

Two layers: the checked-in trace/counters (always run), and a fresh
compile + lackey + cachegrind run on this machine when valgrind exists."""
import json

import pytest

import valgrind_ref
from cachesim import simulate
from conftest import DATA, in_ci

CG = DATA / "cachegrind"


def cg_machine(geom: dict) -> dict:
    (i1s, i1a, line), (d1s, d1a, _), (lls, lla, _) = geom["I1"], geom["D1"], geom["LL"]
    return {"machine": {"name": "cg", "line_size": line},
            "caches": {"I1": {"level": 1, "serves": "instructions", "size": i1s, "assoc": i1a},
                       "D1": {"level": 1, "serves": "data", "size": d1s, "assoc": d1a},
                       "LL": {"level": 2, "size": lls, "assoc": lla}},
            "replay": {"semantics": "cachegrind"}}


EXPECTED = json.loads((CG / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["geometries"]))
def test_checked_in_trace_matches_cachegrind(name):
    geom = EXPECTED["geometries"][name]
    res = simulate(cg_machine(geom), CG / "prog.lackey.gz", fmt="lackey")
    assert res["runs"][0]["cachegrind"] == EXPECTED["counters"][name]


def test_32_byte_lines_are_covered():
    assert any(g["D1"][2] == 32 for g in EXPECTED["geometries"].values())


def test_per_line_counting_differs_from_cachegrind():
    """The same trace under default semantics counts straddles per line and
    M as read+write, so it must NOT reproduce Cachegrind's counters."""
    geom = EXPECTED["geometries"]["g64"]
    raw = cg_machine(geom)
    raw["replay"]["semantics"] = "default"
    run = simulate(raw, CG / "prog.lackey.gz")["runs"][0]
    want = EXPECTED["counters"]["g64"]
    assert run["levels"]["D1"]["writes"] != want["Dw"]


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    if not valgrind_ref.valgrind_available():
        if in_ci():
            pytest.fail("valgrind is required in CI for the Cachegrind comparison")
        pytest.skip("valgrind is not installed")
    work = tmp_path_factory.mktemp("vg")
    exe = valgrind_ref.build(str(CG / "prog.c"), str(work))
    return exe, valgrind_ref.run_lackey(exe, str(work)), work


GEOMS = {"g64": ((32768, 8, 64), (32768, 8, 64), (262144, 8, 64)),
         "g32": ((16384, 4, 32), (16384, 4, 32), (131072, 8, 32)),
         "g32_small": ((4096, 2, 32), (2048, 2, 32), (16384, 4, 32))}


@pytest.mark.parametrize("name", sorted(GEOMS))
def test_fresh_valgrind_run_matches(fresh_run, name):
    exe, lackey_log, work = fresh_run
    i1, d1, ll = GEOMS[name]
    want = valgrind_ref.run_cachegrind(exe, str(work), i1, d1, ll)
    geom = {"I1": list(i1), "D1": list(d1), "LL": list(ll)}
    got = simulate(cg_machine(geom), lackey_log, fmt="lackey")["runs"][0]["cachegrind"]
    assert got == want
