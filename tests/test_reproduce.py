"""A results JSON reproduces itself: it carries the full machine config, the
scenario's every knob, the seeds and the cachesim version, and re-running
from those alone (the files gone) gives the same numbers."""
import json

import numpy as np
import pytest

import cachesim
from cachesim.api import machine_config, simulate
from cachesim.cli import main
from cachesim.config import load_machine, machine_from_dict
from cachesim.kernel.scenario import load_scenario, scenario_config, scenario_from_dict
from cachesim.study import rerun_study
from cachesim.trace import TraceMeta, write_trace
from conftest import ROOT
from helpers import SMALL_MACHINE, SMALL_SCENARIO, records

# Knobs away from their defaults, and a random L2 policy so the machine seed
# changes the numbers: a JSON that dropped any of them would not reproduce.
MACHINE = SMALL_MACHINE.replace('size = "256KiB"\nassoc = 8', 'size = "256KiB"\nassoc = 8\n'
                                'replacement_policy = "random"\ntag_latency = 5') + \
    "[memory]\nlatency_ns = 60\n[core]\nwindow = 16\n"
SCENARIO = SMALL_SCENARIO + '[lru]\norder = "runs"\nrun_length = 4\n[compaction]\nmode = "async"\n' \
    '[memdesc]\ndescriptor_order = "sequential"\n'


@pytest.fixture(scope="module")
def study_json(tmp_path_factory):
    d = tmp_path_factory.mktemp("repro")
    (d / "small_scenario.toml").write_text(SCENARIO)
    cfg = d / "small.toml"
    cfg.write_text(MACHINE)
    out = d / "r.json"
    assert main(["run", str(cfg), "--json", str(out), "--plots", str(d / "plots"), "--quiet"]) == 0
    res = json.loads(out.read_text())
    cfg.unlink()                                   # the JSON must be enough on its own
    (d / "small_scenario.toml").unlink()
    return res


def test_study_json_carries_config_scenario_seeds_and_version(study_json):
    res = study_json
    assert res["cachesim_version"] == cachesim.__version__ and res["engine_hash"] == cachesim.ENGINE_HASH
    assert res["seeds"] == {"machine": 5, "scenario": 3}
    l2 = res["config"]["caches"]["L2"]
    # as loaded: what the file said, and the defaults it did not say
    assert l2["replacement_policy"] == "random" and l2["tag_latency"] == 5
    assert l2["data_latency"] == 9 and l2["mshrs"] == 16 and l2["clusivity"] == "nine"
    assert res["config"]["memory"] == {"latency_ns": 60.0} and res["config"]["core"] == {"window": 16}
    sc = res["scenario_config"]
    assert set(sc) == {"scenario", "free", "unmovable", "anon", "file", "lru", "memdesc", "compaction"}
    assert sc["lru"] == {"order": "runs", "run_length": 4} and sc["compaction"]["mode"] == "async"
    assert sc["file"]["orders"] == {"0": 0.4, "2": 0.2, "4": 0.2, "5": 0.2}     # a default, spelled out
    assert sc["anon"]["orders"] == {"0": 0.5, "9": 0.5}


def test_study_reruns_from_its_json_alone(study_json):
    again = json.loads(json.dumps(rerun_study(study_json)))
    assert again["runs"] == study_json["runs"]
    assert again["overhead"] == study_json["overhead"]
    assert again == study_json


def test_the_stored_seed_is_what_reproduces(study_json):
    """Sanity of the test above: with another seed the numbers differ."""
    res = json.loads(json.dumps(study_json))
    res["config"]["machine"]["seed"] += 1
    other = rerun_study(res)
    assert [r["levels"]["L2"]["misses"] for r in other["runs"]] != \
        [r["levels"]["L2"]["misses"] for r in study_json["runs"]]


def test_trace_json_reruns_from_its_config(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(MACHINE)                        # [study] is ignored by a trace replay
    t = tmp_path / "t.npy"
    addr = np.random.default_rng(2).integers(0, 1 << 21, 30000) * 8
    write_trace(t, records(addr), TraceMeta(tags=["data"], extra={"seed": 9}))
    out = tmp_path / "r.json"
    assert main(["run", str(cfg), "--trace", str(t), "--json", str(out), "--quiet"]) == 0
    res = json.loads(out.read_text())
    assert res["seeds"] == {"machine": 5} and res["cachesim_version"] == cachesim.__version__
    assert res["runs"][0]["trace"]["meta"] == {"seed": 9}       # the trace's own provenance
    cfg.unlink()
    again = simulate(res["config"], t)
    assert json.loads(json.dumps(again["runs"])) == res["runs"]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_machine_config_round_trips(path):
    m = load_machine(path)
    assert machine_from_dict(json.loads(json.dumps(machine_config(m))), m.source) == m


@pytest.mark.parametrize("path", sorted((ROOT / "workloads").glob("*.toml")), ids=lambda p: p.name)
def test_scenario_config_round_trips(path):
    sc = load_scenario(path)
    assert scenario_from_dict(json.loads(json.dumps(scenario_config(sc))), sc.source) == sc


def test_study_threads_change_nothing(tmp_path):
    """The study runs its workload x layout pairs on threads; the results are
    the same numbers, in the same order, as one run after another."""
    from cachesim.study import run_study
    (tmp_path / "small_scenario.toml").write_text(SCENARIO)
    cfg = tmp_path / "small.toml"
    cfg.write_text(MACHINE)
    m = load_machine(cfg)
    one = run_study(m, workers=1)
    two = run_study(m, workers=2)
    assert [(r["workload"], r["layout"]) for r in two["runs"]] == [(r["workload"], r["layout"]) for r in one["runs"]]
    assert json.dumps(two["runs"], sort_keys=True) == json.dumps(one["runs"], sort_keys=True)
