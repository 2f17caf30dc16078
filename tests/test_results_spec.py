"""Outputs against their specs: the results JSON against the example in
DESIGN.md section 6, and --stats against gem5's stats.txt format (PEERS.md
6.3), for a study and for a replayed trace."""
import json
import re

import numpy as np
import pytest

from cachesim.cli import main
from cachesim.trace import TraceMeta, write_trace
from conftest import ROOT
from helpers import records, small_study_files

DESIGN = ROOT.parent / "shared" / "DESIGN.md"
# the section 6 example, checked in so the test runs where ../shared is absent (CI)
EXAMPLE = ROOT / "tests" / "data" / "design_results_example.json"
CACHES = {"L1I", "L1D", "L2"}          # the small machine's cache names (helpers.SMALL_MACHINE)
STUDY_PAIRS = {(w, lay) for w in ("compaction_migrate", "compaction_free") for lay in ("structpage", "memdesc")}


def design_example() -> dict:
    """The results example of DESIGN.md section 6, parsed: the spec, not our
    code. Read from DESIGN.md when it is beside the repository, else from
    the checked-in copy (test_example_copy_is_current keeps the two equal)."""
    block = _design_block() if DESIGN.exists() else EXAMPLE.read_text()
    return json.loads(block.replace("{...}", "{}"))


def _design_block() -> str:
    sec = DESIGN.read_text().split("## 6.", 1)[1]
    return sec.split("```json", 1)[1].split("```", 1)[0]


def test_example_copy_is_current():
    if not DESIGN.exists():
        pytest.skip("DESIGN.md is not beside the repository (../shared): the checked-in copy is used")
    assert json.loads(EXAMPLE.read_text().replace("{...}", "{}")) == \
        json.loads(_design_block().replace("{...}", "{}"))


def _check_like(value, example, where):
    """`value` has the JSON type of `example`; counts are non-negative."""
    if isinstance(example, bool):
        assert isinstance(value, bool), where
    elif isinstance(example, int):
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, (where, value)
    elif isinstance(example, float):
        assert isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0, (where, value)
    elif isinstance(example, str):
        assert isinstance(value, str), (where, value)
    elif isinstance(example, dict):
        assert isinstance(value, dict), (where, value)
    elif isinstance(example, list):
        assert isinstance(value, list), (where, value)


def check_results(res: dict, caches: set, pairs: set | None, trace_name: str | None = None) -> None:
    ex = design_example()
    assert set(res) >= set(ex)
    _check_like(res["machine"], ex["machine"], "machine")
    _check_like(res["runs"], ex["runs"], "runs")
    ex_run = ex["runs"][0]
    ex_level = ex_run["levels"]["L1D"]
    for run in res["runs"]:
        where = f"run {run.get('workload')}/{run.get('layout')}"
        assert set(run) >= set(ex_run), (where, set(ex_run) - set(run))
        for key, example in ex_run.items():
            if key == "layout" and trace_name:
                assert run[key] is None                  # "a replayed trace is ... layout null"
                continue
            _check_like(run[key], example, f"{where}: {key}")
        assert set(run["levels"]) == caches              # "level keys are the cache names from the config"
        for name, lv in run["levels"].items():
            assert set(lv) >= set(ex_level), (where, name)
            for key, example in ex_level.items():
                _check_like(lv[key], example, f"{where}: {name}.{key}")
            assert lv["hits"] + lv["misses"] == lv["accesses"], (where, name)
            assert lv["reads"] + lv["writes"] + lv["ifetches"] == lv["accesses"], (where, name)
        assert set(run["memory"]) == set(ex_run["memory"])
        for key in ex_run["memory"]:
            _check_like(run["memory"][key], 0, f"{where}: memory.{key}")
        # by_tag splits each level's misses by structure: the parts add up to the whole
        for name in caches:
            parts = sum(t[name]["misses"] for t in run["by_tag"].values() if name in t)
            assert parts == run["levels"][name]["misses"], (where, name)
        for tag, per in run["by_tag"].items():
            assert set(per) <= caches | {"memory"}, (where, tag)
            for name, c in per.items():
                if name != "memory":
                    _check_like(c["misses"], 0, f"{where}: by_tag.{tag}.{name}")
                    assert c["misses"] <= c["accesses"]
        assert run["cycles_per_op"] == pytest.approx(run["cycles"] / run["ops"])
        assert run["lines_per_op"] == pytest.approx(run["line_accesses"] / run["ops"])
    got = [(r["workload"], r["layout"]) for r in res["runs"]]
    if trace_name:
        assert got == [(trace_name, None)]               # "a replayed trace is one run"
    else:
        assert sorted(got) == sorted(pairs) and len(set(got)) == len(got)   # one run per (workload, layout)


@pytest.fixture(scope="module")
def study_outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("spec")
    cfg = small_study_files(d)
    rc = main(["run", str(cfg), "--json", str(d / "r.json"), "--stats", str(d / "stats.txt"),
               "--plots", str(d / "plots"), "--quiet"])
    assert rc == 0
    return json.loads((d / "r.json").read_text()), (d / "stats.txt").read_text()


@pytest.fixture(scope="module")
def trace_outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("spec_trace")
    cfg = small_study_files(d)
    t = d / "t.npy"
    rng = np.random.default_rng(1)
    addr = rng.integers(0, 1 << 22, 20000) & ~np.int64(7)
    kind = rng.integers(0, 4, 20000)          # reads, writes, read-modify-writes and instruction fetches
    write_trace(t, records(addr, kind=kind), TraceMeta(tags=["data"]))
    rc = main(["run", str(cfg), "--trace", str(t), "--json", str(d / "r.json"), "--stats", str(d / "stats.txt"),
               "--quiet"])
    assert rc == 0
    return json.loads((d / "r.json").read_text()), (d / "stats.txt").read_text()


def test_study_json_meets_design_section_6(study_outputs):
    res, _ = study_outputs
    check_results(res, CACHES, STUDY_PAIRS)


def test_trace_json_meets_design_section_6(trace_outputs):
    res, _ = trace_outputs
    check_results(res, CACHES, None, trace_name="t.npy")
    assert res["runs"][0]["levels"]["L1D"]["writebacks"] > 0     # the writes were counted


def test_checker_rejects_what_breaks_the_spec(study_outputs):
    """The checker itself can fail: each broken copy must be refused."""
    import copy
    res, _ = study_outputs
    breaks = [
        lambda r: r["runs"][0]["levels"]["L1D"].__setitem__("hits", r["runs"][0]["levels"]["L1D"]["hits"] + 1),
        lambda r: r["runs"][0].pop("lines_per_op"),
        lambda r: r["runs"][0]["memory"].__setitem__("reads", -1),
        lambda r: r["runs"].append(copy.deepcopy(r["runs"][0])),
        lambda r: r["runs"][0]["levels"].pop("L2"),
        lambda r: r["runs"][0].__setitem__("accesses", 1.5),
    ]
    for brk in breaks:
        bad = copy.deepcopy(res)
        brk(bad)
        with pytest.raises(AssertionError):
            check_results(bad, CACHES, STUDY_PAIRS)


# ---- stats.txt ------------------------------------------------------------------------

# gem5's text stats: the begin/end markers (src/python/m5/stats/... text output)
BEGIN = "---------- Begin Simulation Statistics ----------"
END = "---------- End Simulation Statistics   ----------"
STAT = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(::\w+)?)\s+(?P<value>-?\d+(\.\d+)?)\s+# (?P<desc>\S.*) "
                  r"\((?P<unit>[A-Za-z/()]+)\)$")
GEM5_NAME = {"L1D": "system.cpu.dcache", "L1I": "system.cpu.icache", "L2": "system.l2"}


def parse_stats(text: str) -> list[dict]:
    blocks, cur = [], None
    for line in text.splitlines():
        if line == BEGIN:
            assert cur is None, "Begin inside a block"
            cur = {}
        elif line == END:
            assert cur is not None, "End without Begin"
            blocks.append(cur)
            cur = None
        elif cur is None:
            assert not line.strip(), f"text outside Begin/End: {line!r}"
        elif line.strip() and not line.startswith("#"):
            m = STAT.match(line)
            assert m, f"not 'name value # description (Unit)': {line!r}"
            assert m["name"] not in cur, f"duplicate {m['name']}"
            cur[m["name"]] = float(m["value"])
    assert cur is None, "unterminated block"
    return blocks


def check_stats(text: str, res: dict) -> None:
    blocks = parse_stats(text)
    assert len(blocks) == len(res["runs"])
    for st, run in zip(blocks, res["runs"]):
        assert st["simOps"] == run["ops"] and st["simAccesses"] == run["accesses"]
        assert st["system.mem_ctrls.readReqs"] == run["memory"]["reads"]
        assert st["system.mem_ctrls.writeReqs"] == run["memory"]["writes"]
        for name, lv in run["levels"].items():
            g = GEM5_NAME[name]
            assert st[f"{g}.demandAccesses::total"] == lv["accesses"]
            assert st[f"{g}.demandHits::total"] == lv["hits"]
            assert st[f"{g}.demandMisses::total"] == lv["misses"]
            assert st[f"{g}.demandMissRate::total"] == pytest.approx(
                lv["misses"] / lv["accesses"] if lv["accesses"] else 0, abs=1e-6)
            assert st[f"{g}.overallAccesses::total"] >= st[f"{g}.demandAccesses::total"]
            assert st[f"{g}.writebacks::total"] == lv["writebacks"]
            assert st[f"{g}.replacements"] == lv["evictions"]
            for cmd in ("ReadReq", "WriteReq"):
                if f"{g}.{cmd}.accesses::total" in st:
                    assert st[f"{g}.{cmd}.hits::total"] + st[f"{g}.{cmd}.misses::total"] == \
                        st[f"{g}.{cmd}.accesses::total"]
            assert st[f"{g}.ReadReq.accesses::total"] == lv["reads"] + lv["ifetches"]


def test_study_stats_txt_is_gem5_format(study_outputs):
    res, text = study_outputs
    check_stats(text, res)


def test_trace_stats_txt_is_gem5_format(trace_outputs):
    res, text = trace_outputs
    check_stats(text, res)
    st = parse_stats(text)[0]
    assert st["system.cpu.dcache.WriteReq.accesses::total"] > 0
    assert st["system.cpu.icache.ReadReq.accesses::total"] == res["runs"][0]["levels"]["L1I"]["ifetches"] > 0


@pytest.mark.parametrize("mangle", [
    lambda t: t.replace(END, "", 1),
    lambda t: t.replace("# number of demand misses", "number of demand misses", 1),
    lambda t: "stray\n" + t,
])
def test_stats_parser_rejects_what_gem5_would_not_write(study_outputs, mangle):
    _, text = study_outputs
    with pytest.raises(AssertionError):
        parse_stats(mangle(text))
