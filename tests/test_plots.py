"""Figures exist, are non-trivial, and are drawn from the results."""
import copy
import json

import pytest

from cachesim.cli import main
from cachesim.config import machine_from_dict
from cachesim.plot import plots_for
from cachesim.study import run_study


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
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 15_000
    changed = copy.deepcopy(small_study)
    for r in changed["runs"]:
        r["cycles_per_op"] *= 3
    out2 = plots_for(changed, tmp_path / "b")
    assert (tmp_path / "a" / "cycles_per_op.png").read_bytes() != (tmp_path / "b" / "cycles_per_op.png").read_bytes()
    assert (tmp_path / "a" / "overhead.png").read_bytes() == (tmp_path / "b" / "overhead.png").read_bytes()


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
