"""Figures exist, are non-trivial, and are drawn from the results."""
import copy
import json

import pytest

from cachesim.cli import main
from cachesim.config import machine_from_dict
from cachesim.plot import plots_for
from cachesim.study import run_study


def looks_drawn(path) -> None:
    """A real figure: a PNG of a readable size, not blank (pixels vary and a
    fair part of the canvas is not background)."""
    from matplotlib.image import imread
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    img = imread(path)[..., :3]
    h, w = img.shape[:2]
    assert w >= 500 and h >= 300, (path, img.shape)
    assert img.std() > 0.05, path
    ink = (img.min(axis=2) < 0.9).mean()           # share of pixels that are not (near) white
    assert 0.02 < ink < 0.6, (path, ink)


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    scen = d / "s.toml"
    scen.write_text('[scenario]\nname = "small"\nmemory = "1GiB"\nseed = 3\n')
    m = machine_from_dict({"machine": {"name": "tiny"},
                           "caches": {"L1D": {"level": 1, "serves": "data", "size": "32KiB", "assoc": 8},
                                      "L1I": {"level": 1, "serves": "instructions", "size": "32KiB", "assoc": 8},
                                      "L2": {"level": 2, "size": "1MiB", "assoc": 16}},
                           "study": {"workloads": ["lru_walk", "compaction_migrate"],
                                     "layouts": ["structpage", "memdesc"], "scenario": str(scen), "ops": 2000}})
    return run_study(m)


def test_study_plots_exist_and_follow_the_results(tmp_path, small_study):
    out = plots_for(small_study, tmp_path / "a")
    names = sorted(p.name for p in out)
    assert names == ["cycles_per_op.png", "misses_by_structure.png", "overhead.png"]
    for p in out:
        looks_drawn(p)
        assert len(p.read_bytes()) > 15_000
    changed = copy.deepcopy(small_study)
    for r in changed["runs"]:
        r["cycles_per_op"] *= 3
    out2 = plots_for(changed, tmp_path / "b")
    assert (tmp_path / "a" / "cycles_per_op.png").read_bytes() != (tmp_path / "b" / "cycles_per_op.png").read_bytes()
    assert (tmp_path / "a" / "overhead.png").read_bytes() == (tmp_path / "b" / "overhead.png").read_bytes()
    for name, change in (("misses_by_structure.png", lambda r: r["runs"][0]["by_tag"]["memmap"]["memory"]
                          .__setitem__("reads", 10 * r["runs"][0]["ops"])),
                         ("overhead.png", lambda r: r["overhead"][1].__setitem__("descriptor_pct", 5.0))):
        c = copy.deepcopy(small_study)
        change(c)
        plots_for(c, tmp_path / name)
        assert (tmp_path / name / name).read_bytes() != (tmp_path / "a" / name).read_bytes(), name


def test_plot_command_redraws_and_rejects_bad_json(tmp_path, small_study, capsys):
    res = tmp_path / "r.json"
    res.write_text(json.dumps(small_study))
    assert main(["plot", str(res), "-o", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "overhead.png").exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["plot", str(bad), "-o", str(tmp_path / "q")]) == 2
    bad.write_text('{"runs": []}')
    assert main(["plot", str(bad), "-o", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err


def test_trace_plot_exists_and_follows_the_results(tmp_path):
    import numpy as np

    from cachesim import simulate
    res = simulate(machine_from_dict({"machine": {"name": "tiny"},
                                      "caches": {"L1": {"level": 1, "size": "4KiB", "assoc": 4},
                                                 "L2": {"level": 2, "size": "64KiB", "assoc": 8}}}),
                   np.arange(50_000, dtype=np.uint64) * 24 % (1 << 20))
    (p,) = plots_for(res, tmp_path / "a")
    assert p.name == "misses_by_level.png"
    looks_drawn(p)
    changed = copy.deepcopy(res)
    changed["runs"][0]["levels"]["L2"]["read_misses"] //= 3
    (q,) = plots_for(changed, tmp_path / "b")
    assert p.read_bytes() != q.read_bytes()


def _sweep_doc(ratios: dict) -> dict:
    """A sweep results document with given memdesc/structpage cycle ratios per
    workload at x = 0, 0.5, 1 (structpage at 100 cycles per op)."""
    points = []
    for i, x in enumerate((0.0, 0.5, 1.0)):
        runs = []
        for w, rs in ratios.items():
            for lay, cyc in (("structpage", 100.0), ("memdesc", 100.0 * rs[i])):
                runs.append({"workload": w, "layout": lay, "cycles_per_op": cyc, "levels": {}})
        points.append({"index": i, "overrides": {"scenario.anon.orders": {"0": x, "9": 1 - x}}, "x": x,
                       "results": {"runs": runs, "scenario": {"name": "synthetic"}, "study": {"ops": 1000},
                                   "machine": {"caches": {}}}})
    return {"kind": "sweep", "machine": {"name": "Test machine"},
            "sweep": {"name": "syn", "keys": ["scenario.anon.orders"], "x": "scenario.anon.orders.0",
                      "x_label": "order-0 share", "combine": "product"},
            "points": points}


def test_sweep_plot_marks_the_crossover_and_follows_the_results(tmp_path):
    from cachesim.plot import sweep_figure, sweep_plots
    # migrate crosses 1 a quarter of the way from 0.5 (0.8) to 1 (1.6): at 0.625
    doc = _sweep_doc({"compaction_migrate": (0.6, 0.8, 1.6), "compaction_free": (0.5, 0.6, 0.7)})
    fig = sweep_figure(doc)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("compaction_migrate crosses 1 at 0.625" in t and "memdesc pays below" in t for t in texts), texts
    assert not any("compaction_free crosses" in t for t in texts)
    ax = fig.axes[0]
    assert "order-0 share" in ax.get_xlabel() and "memdesc / structpage cycles per op" in ax.get_ylabel()
    assert "Test machine" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "compaction_migrate" and "memdesc pays throughout" in legend[1]
    assert any(list(line.get_ydata()) == [1.0, 1.0] and line.get_linestyle() == "--"
               for line in ax.get_lines())                                        # the break-even line
    (p,) = sweep_plots(doc, tmp_path / "a")
    assert p.name == "sweep_syn.png"
    looks_drawn(p)
    moved = _sweep_doc({"compaction_migrate": (0.6, 0.9, 1.6), "compaction_free": (0.5, 0.6, 0.7)})
    texts = [t.get_text() for t in sweep_figure(moved).axes[0].texts]
    assert any("crosses 1 at 0.571" in t for t in texts), texts      # 0.5 + 0.1/0.7 * 0.5
    (q,) = sweep_plots(moved, tmp_path / "b")
    assert p.read_bytes() != q.read_bytes()
