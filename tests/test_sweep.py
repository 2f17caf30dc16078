"""cachesim sweep: the grid, validation, the merged JSON, crossovers, Dask."""
import json
import math
import sys
import tomllib

import pytest

from cachesim.cli import main
from cachesim.config import machine_from_dict
from cachesim.kernel.scenario import scenario_from_dict
from cachesim.study import run_study
from cachesim.crossover import crossovers
from cachesim.sweep import load_sweep, point_inputs
from conftest import ROOT
from helpers import SMALL_MACHINE, SMALL_SCENARIO, small_study_files

TINY = """
[sweep]
config = "small.toml"
ops = 1500
combine = "zip"
x = "scenario.anon.orders.0"
x_label = "order-0 share of anon pages"

[grid]
"scenario.anon.orders" = [{ 0 = 0.25, 9 = 0.75 }, { 0 = 1.0 }]
"scenario.seed" = [7, 8]
"study.ops" = [2000, 400]   # the second point finishes first: results must still come in grid order
"""


def _sweep(tmp_path, text=TINY, name="s.toml"):
    small_study_files(tmp_path)
    p = tmp_path / name
    p.write_text(text)
    return p


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_product_grid_in_order_with_overrides_applied(tmp_path):
    p = _sweep(tmp_path, """
[sweep]
config = "small.toml"
[grid]
caches.L2.size = ["128KiB", "512KiB"]
"memory.latency_ns" = [50, 100, 150]
""")
    sw = load_sweep(p)
    assert sw.keys == ("caches.L2.size", "memory.latency_ns")
    assert sw.points == ({"caches.L2.size": "128KiB", "memory.latency_ns": 50},
                         {"caches.L2.size": "128KiB", "memory.latency_ns": 100},
                         {"caches.L2.size": "128KiB", "memory.latency_ns": 150},
                         {"caches.L2.size": "512KiB", "memory.latency_ns": 50},
                         {"caches.L2.size": "512KiB", "memory.latency_ns": 100},
                         {"caches.L2.size": "512KiB", "memory.latency_ns": 150})
    config, scenario = point_inputs(sw, sw.points[4], "t")
    m = machine_from_dict(config)
    assert m.cache("L2").size == 512 << 10 and m.memory_latency_ns == 100
    assert m.cache("L1D").size == 32 << 10                       # the rest is the base config
    assert scenario == tomllib.loads(SMALL_SCENARIO)             # the config's [study] scenario
    assert sw.x == "caches.L2.size"                              # default x: the first key


def test_zip_grid_and_scenario_paths(tmp_path):
    sw = load_sweep(_sweep(tmp_path))
    assert sw.points == ({"scenario.anon.orders": {"0": 0.25, "9": 0.75}, "scenario.seed": 7, "study.ops": 2000},
                         {"scenario.anon.orders": {"0": 1.0}, "scenario.seed": 8, "study.ops": 400})
    config, scenario = point_inputs(sw, sw.points[1], "t")
    sc = scenario_from_dict(scenario)
    # scenario.seed is the [scenario] table's key; scenario.anon.orders the [anon] table's, replaced whole
    assert sc.seed == 8 and sc.anon_orders == {0: 1.0} and sc.memory == 1 << 30
    assert config["study"]["ops"] == 400 and "scenario" not in config["study"]


def test_a_value_valid_only_with_its_partner_is_accepted(tmp_path):
    # 5 ways do not divide 256 KiB into whole sets, but they do divide 160 KiB
    sw = load_sweep(_sweep(tmp_path, '[sweep]\nconfig = "small.toml"\ncombine = "zip"\n[grid]\n'
                                     '"caches.L2.assoc" = [5, 8]\n"caches.L2.size" = ["160KiB", "256KiB"]\n'))
    m = machine_from_dict(point_inputs(sw, sw.points[0], "t")[0])
    assert (m.cache("L2").assoc, m.cache("L2").sets) == (5, 512)


BAD = {
    "unknown_config_key": ('"caches.L2.sizee" = ["1MiB"]', "caches.L2.sizee"),
    "unknown_scenario_key": ('"scenario.anon.ordrs" = [{ 0 = 1.0 }]', "scenario.anon.ordrs"),
    "unknown_table": ('"cache.L2.size" = ["1MiB"]', "cache.L2.size"),
    "bad_value": ('"caches.L2.size" = ["3 KB?"]', "caches.L2.size"),
    "bad_share": ('"scenario.anon.share" = [1.5]', "scenario.anon.share"),
    "not_a_list": ('"caches.L2.size" = "1MiB"', "caches.L2.size"),
    "empty_list": ('"caches.L2.size" = []', "caches.L2.size"),
    "study_scenario": ('"study.scenario" = ["x.toml"]', "study.scenario"),
    # each value loads on its own; point 4 (16 ways, 2560 B) is not a whole number of sets
    "joint": ('"caches.L2.assoc" = [8, 16]\n"caches.L2.size" = [262144, 2560]', "point 4"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_grid_exits_2_naming_the_sweep_and_key(tmp_path, capsys, name):
    line, needle = BAD[name]
    p = _sweep(tmp_path, f'[sweep]\nconfig = "small.toml"\n[grid]\n{line}\n', name="bad_sweep.toml")
    rc, out, err = cli(capsys, "sweep", p)
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bad_sweep.toml" in err and needle in err


@pytest.mark.parametrize("sweep_table,needle", [
    ('config = "nope.toml"', "nope.toml"),
    ('config = "small.toml"\nlayouts = ["structpage", "page32"]', "memdesc"),
    ('config = "small.toml"\nworkloads = ["lru_wlak"]', "lru_wlak"),
    ('config = "small.toml"\ncombine = "zip"\n[grid]\n"scenario.seed" = [1, 2]\n"memory.latency_ns" = [1]',
     "one length"),
    ('config = "small.toml"\nx = "caches.L1D.size"', "'x'"),
    ('config = "small.toml"\nmode = "zip"', "mode"),
])
def test_bad_sweep_table(tmp_path, capsys, sweep_table, needle):
    grid = "" if "[grid]" in sweep_table else '\n[grid]\n"scenario.seed" = [1, 2]\n'
    p = _sweep(tmp_path, f"[sweep]\n{sweep_table}\n{grid}", name="bad_sweep.toml")
    rc, out, err = cli(capsys, "sweep", p)
    assert rc == 2 and err.count("\n") == 1 and "bad_sweep.toml" in err and needle in err, err


def test_x_inside_a_table_must_name_a_number(tmp_path, capsys):
    p = _sweep(tmp_path, TINY.replace('x = "scenario.anon.orders.0"', 'x = "scenario.anon.orders"'))
    rc, out, err = cli(capsys, "sweep", p)
    assert rc == 2 and "scenario.anon.orders.0" in err and err.count("\n") == 1


def test_orders_x_is_the_normalised_share(tmp_path):
    p = _sweep(tmp_path, TINY.replace("{ 0 = 0.25, 9 = 0.75 }", "{ 0 = 1, 9 = 3 }"))
    from cachesim.sweep import x_value
    sw = load_sweep(p)
    assert [x_value(sw, pt) for pt in sw.points] == [0.25, 1.0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    p = _sweep(d)
    out = d / "local.json"
    rc = main(["sweep", str(p), "--workers", "2", "--json", str(out), "--plots", str(d / "plots"), "--quiet"])
    assert rc == 0
    return d, p, json.loads(out.read_text())


def test_sweep_json_holds_every_point_in_grid_order(tiny_run):
    d, p, doc = tiny_run
    assert doc["kind"] == "sweep" and doc["sweep"]["text"] == p.read_text()
    assert [pt["index"] for pt in doc["points"]] == [0, 1]
    assert [pt["overrides"]["scenario.seed"] for pt in doc["points"]] == [7, 8]
    assert [pt["x"] for pt in doc["points"]] == [0.25, 1.0]
    # each point is exactly the study the same inputs give, run here in this process
    for pt, orders, seed, ops in ((doc["points"][0], {"0": 0.25, "9": 0.75}, 7, 2000),
                                  (doc["points"][1], {"0": 1.0}, 8, 400)):
        raw = tomllib.loads(SMALL_MACHINE)
        raw["study"] = {"workloads": raw["study"]["workloads"], "layouts": raw["study"]["layouts"], "ops": ops}
        scen = tomllib.loads(SMALL_SCENARIO)
        scen["anon"]["orders"] = orders
        scen["scenario"]["seed"] = seed
        expect = run_study(machine_from_dict(raw, str(d / "small.toml")),
                           scenario=scenario_from_dict(scen, str(d / "small_scenario.toml")))
        got = pt["results"]
        assert got["scenario"]["seed"] == seed and got["seeds"]["scenario"] == seed
        assert all(r["ops"] == ops for r in got["runs"])
        assert json.loads(json.dumps(expect["runs"])) == got["runs"]
        assert [(r["workload"], r["layout"]) for r in got["runs"]] == [
            ("compaction_migrate", "structpage"), ("compaction_migrate", "memdesc"),
            ("compaction_free", "structpage"), ("compaction_free", "memdesc")]
    assert (d / "plots" / "sweep_s.png").stat().st_size > 20_000


def test_results_are_ordered_by_point_not_by_completion(tmp_path, monkeypatch):
    import cachesim.sweep as S
    sw = load_sweep(_sweep(tmp_path))

    def backwards(work, workers, done):           # the last point finishes first
        for p in reversed(work):
            done(p["index"], {"study": {}, "runs": [], "point": p["index"]})
    monkeypatch.setattr(S, "_run_local", backwards)
    doc = S.run_sweep(sw)
    assert [pt["results"]["point"] for pt in doc["points"]] == [0, 1]
    assert [pt["index"] for pt in doc["points"]] == [0, 1]


def test_sweep_crossovers_follow_the_ratios(tiny_run):
    _, _, doc = tiny_run
    for w in ("compaction_migrate", "compaction_free"):
        ratios = []
        for pt in doc["points"]:
            runs = {r["layout"]: r for r in pt["results"]["runs"] if r["workload"] == w}
            ratios.append(runs["memdesc"]["cycles_per_op"] / runs["structpage"]["cycles_per_op"])
        stored = [c for c in doc["crossovers"] if c["workload"] == w]
        if (ratios[0] - 1) * (ratios[1] - 1) < 0:
            assert len(stored) == 1
            assert stored[0]["x"] == pytest.approx(0.25 + (1 - ratios[0]) * 0.75 / (ratios[1] - ratios[0]))
        else:
            assert stored == []


def test_crossover_interpolation():
    c = crossovers([0, 1, 2, 3], [0.8, 0.9, 1.1, 1.2])
    assert len(c) == 1 and c[0]["x"] == pytest.approx(1.5) and c[0]["direction"] == "rising"
    assert c[0]["between"] == [1, 2]
    c = crossovers([10, 20], [1.5, 0.5])
    assert c == [{"x": 15, "direction": "falling", "between": [10, 20]}]
    c = crossovers([0, 4], [0.6, 1.4])                                    # 1 is halfway: x = 2
    assert c[0]["x"] == pytest.approx(2.0)
    assert crossovers([0, 1], [0.7, 0.8]) == []
    assert crossovers([0, 1, 2], [0.5, 1.0, 1.5])[0]["x"] == 1          # exactly on the line at a point
    assert crossovers([0, 1, 2], [0.5, 1.0, 0.5]) == []                  # touches 1, does not cross
    two = crossovers([0, 1, 2], [0.9, 1.1, 0.7])
    assert [round(c["x"], 6) for c in two] == [0.5, 1.25] and [c["direction"] for c in two] == ["rising", "falling"]
    assert crossovers([0, 1, 2], [0.9, math.nan, 1.1])[0]["x"] == pytest.approx(1)   # a missing point is skipped


def test_plot_command_redraws_a_sweep(tiny_run, tmp_path, capsys):
    d, _, doc = tiny_run
    rc, out, err = cli(capsys, "plot", d / "local.json", "-o", tmp_path)
    assert rc == 0 and (tmp_path / "sweep_s.png").read_bytes() == (d / "plots" / "sweep_s.png").read_bytes()


def test_dask_cluster_gives_the_local_result(tiny_run, tmp_path):
    from distributed import LocalCluster
    d, p, local = tiny_run
    out = tmp_path / "dask.json"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        rc = main(["sweep", str(p), "--scheduler", cluster.scheduler_address, "--json", str(out), "--quiet"])
    assert rc == 0
    assert json.loads(out.read_text()) == local


def test_scheduler_without_distributed_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)    # import distributed -> ImportError
    rc, out, err = cli(capsys, "sweep", _sweep(tmp_path), "--scheduler", "tcp://127.0.0.1:9")
    assert rc == 2 and "pip install" in err and err.count("\n") == 1


def test_worker_with_another_engine_is_refused():
    from cachesim.errors import CachesimError
    from cachesim.sweep import run_point
    with pytest.raises(CachesimError, match="same cachesim"):
        run_point({"engine_hash": "0" * 16, "version": "0.0.0"})


def test_shipped_sweeps_load():
    paths = sorted((ROOT / "configs" / "sweeps").glob("*.toml"))
    assert paths
    for p in paths:
        sw = load_sweep(p)
        assert len(sw.points) >= 5
    sw = load_sweep(ROOT / "configs" / "sweeps" / "order0_share.toml")
    from cachesim.sweep import x_value
    xs = [x_value(sw, pt) for pt in sw.points]
    assert xs == sorted(xs) and xs[0] == 0 and xs[-1] == 1
    for pt in sw.points:        # anon and file move together: the same order-0 share at every point
        f = pt["scenario.file.orders"]
        assert f.get("0", 0) / sum(f.values()) == pytest.approx(x_value(sw, pt), abs=1e-3)
