"""The command line: outputs, and bad input -> one line + exit status 2."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cachesim.cli import main
from cachesim.trace import TraceMeta, write_trace
from conftest import DATA, ROOT
from helpers import records

SKYLAKE = str(ROOT / "configs" / "skylake.toml")
GOOD = """
[machine]
name = "t"
[caches.L1D]
level = 1
serves = "data"
size = "32KiB"
assoc = 8
[caches.L1I]
level = 1
serves = "instructions"
size = "32KiB"
assoc = 8
[caches.L2]
level = 2
size = "256KiB"
assoc = 8
"""


def cli(*args, capsys=None):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def npy_trace(tmp_path):
    p = tmp_path / "t.npy"
    write_trace(p, records(np.arange(1000) * 8), TraceMeta(tags=["data"]))
    return p


def test_run_npy_writes_design_json_keys(tmp_path, npy_trace, capsys):
    out = tmp_path / "out.json"
    rc, stdout, err = cli("run", SKYLAKE, "--trace", npy_trace, "--json", out, capsys=capsys)
    assert rc == 0, err
    d = json.loads(out.read_text())
    assert set(d) >= {"machine", "runs"}
    run = d["runs"][0]
    assert set(run) >= {"workload", "layout", "ops", "accesses", "levels", "memory", "cycles",
                        "cycles_per_op", "lines_per_op", "by_tag"}
    assert run["layout"] is None and run["workload"] == "t.npy"
    assert set(run["levels"]) == {"L1I", "L1D", "L2", "L3"}
    for lv in run["levels"].values():
        assert set(lv) >= {"accesses", "hits", "misses", "writebacks"}
    assert set(run["memory"]) == {"reads", "writes"}
    data = run["by_tag"]["data"]["L1D"]
    # a stream over 125 lines: the next-line prefetcher covers all but the first
    assert data["accesses"] == 1000 and data["misses"] < 5
    assert run["levels"]["L1D"]["prefetch_useful"] >= 120
    # two 4 KiB pages: two page walks of four loads each, through L1D
    assert run["by_tag"]["page_walk"]["L1D"]["accesses"] == 8
    assert run["tlbs"]["DTLB"]["misses"] == 2
    assert run["cycles"] > 0 and run["serial_cycles"] >= run["cycles"]
    assert "L1D" in stdout


def test_run_lackey_writes_json(tmp_path, capsys):
    out = tmp_path / "out.json"
    lk = tmp_path / "x.lackey"
    lk.write_text("==1== Lackey\nI  00401000,3\n L 7ff000010,8\n S 7ff000018,8\n M 7ff000020,4\nhello\n")
    rc, stdout, err = cli("run", SKYLAKE, "--trace", lk, "--format", "lackey", "--json", out, capsys=capsys)
    assert rc == 0, err
    run = json.loads(out.read_text())["runs"][0]
    assert run["accesses"] == 4
    assert run["levels"]["L1I"]["accesses"] == 1
    assert run["by_tag"]["data"]["L1D"]["accesses"] == 4       # L, S, and M as a read and a write
    assert run["levels"]["L1D"]["writes"] == 2


def test_stats_txt(tmp_path, npy_trace, capsys):
    st = tmp_path / "stats.txt"
    cfg = _write(tmp_path, GOOD)
    rc, _, err = cli("run", cfg, "--trace", npy_trace, "--stats", st, "--quiet", capsys=capsys)
    assert rc == 0, err
    text = st.read_text()
    assert text.startswith("---------- Begin Simulation Statistics ----------")
    assert "system.cpu.dcache.demandMisses::total" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("system.cpu.dcache.demandMisses::total"))
    assert line.split()[1] == "125" and "# " in line


def test_info_and_convert(tmp_path, capsys):
    lk = DATA / "cachegrind" / "prog.lackey.gz"
    out = tmp_path / "c.npy"
    rc, stdout, err = cli("convert", lk, "-o", out, capsys=capsys)
    assert rc == 0, err
    assert (tmp_path / "c.meta.json").exists()
    rc, stdout, err = cli("info", out, capsys=capsys)
    assert rc == 0, err
    assert "records:  516071" in stdout and "ifetch=391190" in stdout


def _write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


BAD_CONFIGS = {
    "assoc0": (GOOD.replace("assoc = 8\n[caches.L1I]", "assoc = 0\n[caches.L1I]"), "assoc"),
    "size": (GOOD.replace('size = "256KiB"', 'size = "32 KB?"'), "size"),
    "policy": (GOOD + 'replacement_policy = "belady"\n', "replacement_policy"),
    "two_data": (GOOD.replace('serves = "instructions"', 'serves = "data"'), "both serve data"),
    "unknown_key": (GOOD + "asoc = 3\n", "asoc"),
    "toml": ("[machine\n", "invalid TOML"),
    "no_machine": ("[caches.L1]\nlevel=1\nsize=64\nassoc=1\n", "machine"),
    "bad_sets": (GOOD.replace('size = "256KiB"', 'size = 100000'), "whole number of sets"),
    "plru": (GOOD + 'replacement_policy = "tree_plru"\nassoc = 6\n', None),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_line(tmp_path, npy_trace, capsys, name):
    text, needle = BAD_CONFIGS[name]
    cfg = _write(tmp_path, text)
    rc, out, err = cli("run", cfg, "--trace", npy_trace, capsys=capsys)
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(cfg) in err or "c.toml" in err
    if needle:
        assert needle in err


def test_truncated_npy(tmp_path, npy_trace, capsys):
    data = npy_trace.read_bytes()
    bad = tmp_path / "trunc.npy"
    bad.write_bytes(data[:len(data) - 100])
    rc, out, err = cli("run", SKYLAKE, "--trace", bad, capsys=capsys)
    assert rc == 2 and "truncated" in err and "trunc.npy" in err and err.count("\n") == 1


@pytest.mark.parametrize("line", [" L 7ff00zz10,8", " S ,8", "I  00401000,", " L 12345678901234567,8",
                                  " M 0x1000,8"])
def test_lackey_bad_address(tmp_path, capsys, line):
    lk = tmp_path / "bad.lackey"
    lk.write_text("I  00401000,3\n L 00001000,8\n" + line + "\n L 00002000,8\n")
    rc, out, err = cli("run", SKYLAKE, "--trace", lk, "--format", "lackey", capsys=capsys)
    assert rc == 2 and "bad.lackey:3" in err and err.count("\n") == 1
    rc, out, err = cli("run", SKYLAKE, "--trace", lk, "--format", "lackey", "--skip-bad", capsys=capsys)
    assert rc == 0 and "1 malformed input lines were skipped" in out


@pytest.mark.parametrize("content", [b"", b"==1== only valgrind chatter\n"])
def test_empty_trace_is_bad_input(tmp_path, capsys, content):
    p = tmp_path / "e.lackey"
    p.write_bytes(content)
    rc, out, err = cli("run", SKYLAKE, "--trace", p, "--format", "lackey", capsys=capsys)
    assert rc == 2 and "no records" in err


def test_missing_files_and_bad_usage(tmp_path, capsys):
    rc, out, err = cli("run", tmp_path / "nope.toml", "--trace", "x.npy", capsys=capsys)
    assert rc == 2 and "nope.toml" in err
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2
    rc, out, err = cli("run", SKYLAKE, "--trace", tmp_path / "none.npy", capsys=capsys)
    assert rc == 2 and "none.npy" in err


def test_console_script_runs(tmp_path, npy_trace):
    """The installed entry point, in a real subprocess: exit codes and one-line errors."""
    r = subprocess.run([sys.executable, "-m", "cachesim.cli", "run", SKYLAKE, "--trace", str(npy_trace),
                        "--quiet", "--json", str(tmp_path / "o.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cfg = _write(tmp_path, BAD_CONFIGS["assoc0"][0])
    r = subprocess.run([sys.executable, "-m", "cachesim.cli", "run", str(cfg), "--trace", str(npy_trace)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_shipped_configs_load():
    from cachesim.config import load_machine
    for p in sorted((ROOT / "configs").glob("*.toml")):
        m = load_machine(p)
        assert m.caches, p
    sky = load_machine(SKYLAKE)
    l3 = sky.cache("L3")
    assert l3.assoc == 11 and l3.slices * 2048 == l3.sets      # 2048 sets per 1.375 MiB slice


def test_corrupt_gzip_is_a_clean_error(tmp_path, capsys):
    import gzip
    data = gzip.compress(b"I  00401000,3\n L 00001000,8\n" * 5000)
    bad = tmp_path / "c.lackey.gz"
    bad.write_bytes(data[:40] + bytes(200) + data[240:])
    rc, out, err = cli("run", SKYLAKE, "--trace", bad, "--format", "lackey", capsys=capsys)
    assert rc == 2 and "c.lackey.gz" in err and err.count("\n") == 1


@pytest.mark.parametrize("fmt,text", [("din", "0 1000\n1 2000\n2 401000\n"),
                                      ("xdin", "r 1000 8\nw 2000 4\ni 401000 2\n")])
def test_dinero_formats_replay(tmp_path, capsys, fmt, text):
    p = tmp_path / f"t.{fmt}"
    p.write_text(text)
    out = tmp_path / "o.json"
    rc, _, err = cli("run", SKYLAKE, "--trace", p, "--format", fmt, "--json", out, "--quiet", capsys=capsys)
    assert rc == 0, err
    run = json.loads(out.read_text())["runs"][0]
    assert run["accesses"] == 3 and run["levels"]["L1I"]["accesses"] == 1
