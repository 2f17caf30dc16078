"""Generate and check Cachegrind reference data for the cachesim tests.

This module has no pytest dependency (plain Python + subprocess).  It

* builds the small workload ``tests/data/cachegrind/prog.c`` statically,
* runs it once under ``valgrind --tool=lackey --trace-mem=yes`` and
  under ``valgrind --tool=cachegrind`` for each cache geometry,
* contains ``cachegrind_replay``: a slow, deliberately simple pure-Python
  re-implementation of Cachegrind's counting rules (FORMATS.md section
  2.3) that turns a lackey log into the nine Cachegrind counters.  It is
  used here to check that the checked-in trace and counters come from
  the same execution, and can serve as an independent reference for the
  numba simulator.

Run environment (why the lackey trace and the cachegrind counters
describe the *same* execution):

Client addresses depend on everything valgrind puts on the client stack
and on what glibc's static start-up code reads (it scans the whole
environment), so both tools are launched by ``_valgrind_cmd_env`` with

* the same command: ``valgrind`` from PATH (Debian's /bin/sh wrapper,
  which always exports the same LD_LIBRARY_PATH / GLIBC*_FORCE_NEW
  variables), tool options, then the executable as an **absolute path**
  with no arguments, so the client's argv is identical;
* the same, fully explicit environment ``_CLIENT_ENV`` plus
  ``PWD=<cwd>`` (``env`` replaces the caller's environment entirely, so
  nothing leaks in from the calling shell, CI or pytest; setting PWD
  ourselves makes the shell's PWD export a no-op);
* the same cwd: the directory containing the executable;
* the same stdio kinds: stdin, stdout and stderr of the client are all
  ``/dev/null`` (glibc stdio behaves differently for a tty, a pipe and a
  file, which changes the instruction count).  Valgrind's own output
  goes to ``--log-file`` in both tools (valgrind moves that descriptor
  out of the client's fd range, so the client does not see it), and the
  cachegrind counters go to ``--cachegrind-out-file``.

Tool-side options (log file names, cache geometry) do not reach the
client.  With a static binary the lackey trace is byte-identical from run
to run apart from the ``==PID==`` lines.

``python tests/valgrind_ref.py`` regenerates ``prog.lackey.gz`` and
``expected.json`` in tests/data/cachegrind/ and verifies them with the
replay.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "cachegrind")

EVENTS = ("Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw")

# name -> {"I1": (size, assoc, line), "D1": ..., "LL": ...}
GEOMETRIES = {
    "g64": {"I1": (32768, 8, 64), "D1": (32768, 8, 64), "LL": (262144, 8, 64)},
    "g32": {"I1": (16384, 4, 32), "D1": (16384, 4, 32), "LL": (131072, 8, 32)},
    "g64_dm": {"I1": (8192, 2, 64), "D1": (8192, 1, 64), "LL": (65536, 4, 64)},
}

# The complete environment given to valgrind (and hence, plus what the
# Debian wrapper and valgrind itself add, to the client).
_CLIENT_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

CFLAGS = ["-O1", "-static"]

# Fixed scratch directory for regeneration: the exe path and cwd (hence
# argv[0] and PWD) are then the same on every regeneration, so the data
# regenerate byte-identically (apart from the ==PID== lines).
WORK_DIR = "/tmp/cachesim_valgrind_ref"

_REC_RE = re.compile(r"^(I  | [LSM] )([0-9a-f]+),([0-9]+)$")


# ---------------------------------------------------------------------------
# running valgrind


def valgrind_available() -> bool:
    """True if a working ``valgrind`` and ``gcc`` (with static libc) exist."""
    vg = shutil.which("valgrind")
    if vg is None or shutil.which("gcc") is None:
        return False
    try:
        r = subprocess.run([vg, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and r.stdout.startswith("valgrind-")


def build(src: str, out_dir: str) -> str:
    """Compile ``src`` statically with ``gcc -O1 -static``; return the exe path."""
    os.makedirs(out_dir, exist_ok=True)
    exe = os.path.join(os.path.abspath(out_dir), "prog")
    subprocess.run(["gcc", *CFLAGS, "-o", exe, os.path.abspath(src)], check=True)
    return exe


def _valgrind_cmd_env(exe: str, tool_args: list[str]) -> tuple[list[str], dict, str]:
    """Command, environment and cwd shared by every valgrind run of ``exe``."""
    exe = os.path.abspath(exe)
    cwd = os.path.dirname(exe)
    env = dict(_CLIENT_ENV)
    env["PWD"] = cwd
    vg = shutil.which("valgrind", path=env["PATH"]) or "valgrind"
    return [vg, *tool_args, exe], env, cwd


def _run_valgrind(exe: str, tool_args: list[str]) -> None:
    cmd, env, cwd = _valgrind_cmd_env(exe, tool_args)
    subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )


def run_lackey(exe: str, out_dir: str) -> str:
    """Run ``exe`` under lackey with --trace-mem=yes; return the log path.

    The log contains valgrind's ``==PID==`` lines as well as the trace.
    """
    os.makedirs(out_dir, exist_ok=True)
    log = os.path.join(os.path.abspath(out_dir), "prog.lackey")
    _run_valgrind(exe, ["--tool=lackey", "--trace-mem=yes", f"--log-file={log}"])
    return log


def _geom_arg(g) -> str:
    size, assoc, line = g
    return f"{int(size)},{int(assoc)},{int(line)}"


def parse_cachegrind_out(path: str) -> dict:
    """The ``summary:`` totals of a cachegrind.out file, keyed by event name."""
    events = summary = None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:"):
                summary = [int(x) for x in line.split()[1:]]
    if events is None or summary is None or len(events) != len(summary):
        raise ValueError(f"{path}: no usable events:/summary: lines")
    counts = dict(zip(events, summary))
    missing = [e for e in EVENTS if e not in counts]
    if missing:
        raise ValueError(f"{path}: events {missing} missing (cache sim off?)")
    return {e: counts[e] for e in EVENTS}


def run_cachegrind(exe: str, out_dir: str, i1, d1, ll) -> dict:
    """Run ``exe`` under cachegrind with the given (size, assoc, line)
    geometries; return the 9 counters Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw.
    """
    os.makedirs(out_dir, exist_ok=True)
    tag = "_".join(_geom_arg(g).replace(",", "-") for g in (i1, d1, ll))
    out = os.path.join(os.path.abspath(out_dir), f"cachegrind.out.{tag}")
    log = os.path.join(os.path.abspath(out_dir), f"cachegrind.log.{tag}")
    _run_valgrind(
        exe,
        [
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--branch-sim=no",
            f"--I1={_geom_arg(i1)}",
            f"--D1={_geom_arg(d1)}",
            f"--LL={_geom_arg(ll)}",
            f"--cachegrind-out-file={out}",
            f"--log-file={log}",
        ],
    )
    return parse_cachegrind_out(out)


# ---------------------------------------------------------------------------
# pure-Python Cachegrind model (FORMATS.md 2.3), slow but obvious


class _Cache:
    """Set-associative true-LRU cache as in valgrind cachegrind/cg_sim.c."""

    def __init__(self, size: int, assoc: int, line: int):
        sets = size // (line * assoc)
        if sets < 1 or sets & (sets - 1) or line & (line - 1) or sets * line * assoc != size:
            raise ValueError(f"bad geometry {size},{assoc},{line}")
        self.assoc = assoc
        self.bits = line.bit_length() - 1
        self.set_mask = sets - 1
        self.sets = [[] for _ in range(sets)]  # each: block numbers, MRU first

    def _lookup(self, block: int) -> bool:
        """Look up one block; return True on a miss.  Updates LRU state."""
        s = self.sets[block & self.set_mask]
        if block in s:
            s.remove(block)
            s.insert(0, block)
            return False
        s.insert(0, block)
        if len(s) > self.assoc:
            s.pop()
        return True

    def ref_is_miss(self, addr: int, size: int) -> bool:
        """cachesim_ref_is_miss: one reference, at most one miss."""
        b1 = addr >> self.bits
        b2 = (addr + size - 1) >> self.bits
        if b1 == b2:
            return self._lookup(b1)
        if b2 == b1 + 1:
            miss1 = self._lookup(b1)
            miss2 = self._lookup(b2)
            return miss1 or miss2
        raise ValueError(f"item straddles more than two cache sets: {addr:x},{size}")


def iter_lackey(path: str):
    """Yield (kind, addr, size) for the trace records of a lackey log
    (plain or .gz); kind is one of 'I', 'L', 'S', 'M'.  Everything else
    (``==PID==``/``--PID--`` lines, program output) is skipped."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="latin-1", newline="") as f:
        for line in f:
            m = _REC_RE.match(line.rstrip("\r\n"))
            if m is None:
                continue
            yield m.group(1).strip(), int(m.group(2), 16), int(m.group(3))


def cachegrind_replay(lackey_path: str, i1, d1, ll) -> dict:
    """Replay a lackey log through Cachegrind's model; return the 9 counters.

    Rules (FORMATS.md 2.3): one Ir per I record, L -> Dr, S -> Dw,
    M -> a single Dr; sizes clamped to the smallest line size; a reference
    spanning two lines is one access, at most one miss, touching both lines;
    on an L1 miss the LL is referenced with the same (addr, size).
    """
    I1, D1, LL = _Cache(*i1), _Cache(*d1), _Cache(*ll)
    min_line = min(i1[2], d1[2], ll[2])
    c = dict.fromkeys(EVENTS, 0)
    for kind, addr, size in iter_lackey(lackey_path):
        size = min(size, min_line)
        if kind == "I":
            c["Ir"] += 1
            if I1.ref_is_miss(addr, size):
                c["I1mr"] += 1
                if LL.ref_is_miss(addr, size):
                    c["ILmr"] += 1
        else:
            pre = "Dw" if kind == "S" else "Dr"  # M counts as one read
            miss1, missL = ("D1mw", "DLmw") if kind == "S" else ("D1mr", "DLmr")
            c[pre] += 1
            if D1.ref_is_miss(addr, size):
                c[miss1] += 1
                if LL.ref_is_miss(addr, size):
                    c[missL] += 1
    return c


# ---------------------------------------------------------------------------
# regeneration of the checked-in data


def _geom_json(g: dict) -> dict:
    return {k: list(v) for k, v in g.items()}


def regenerate(data_dir: str = DATA_DIR, work_dir: str = WORK_DIR, verify: bool = True) -> dict:
    """Rebuild prog.c, run lackey once and cachegrind once per geometry
    (all in ``work_dir``, which is wiped first), write prog.lackey.gz and
    expected.json into ``data_dir``."""
    src = os.path.join(data_dir, "prog.c")
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    exe = build(src, work_dir)
    log = run_lackey(exe, work_dir)
    results = {}
    for name, g in GEOMETRIES.items():
        results[name] = run_cachegrind(exe, work_dir, g["I1"], g["D1"], g["LL"])
    gz = os.path.join(data_dir, "prog.lackey.gz")
    with open(log, "rb") as fin, open(gz, "wb") as raw:
        # mtime=0 and no file name: reproducible .gz bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as fout:
            shutil.copyfileobj(fin, fout)
    expected = {
        "description": (
            "Cachegrind (valgrind 3.19) counters for tests/data/cachegrind/prog.c, "
            "built with gcc " + " ".join(CFLAGS) + "; prog.lackey.gz is the lackey "
            "--trace-mem=yes log of the same execution (same cwd/env/argv/stdio). "
            "Regenerate with: python tests/valgrind_ref.py"
        ),
        "events": list(EVENTS),
        "geometries": {n: _geom_json(g) for n, g in GEOMETRIES.items()},
        "counters": results,
    }
    with open(os.path.join(data_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    if verify:
        ok = verify_data(data_dir)
        if not ok:
            raise SystemExit("replay does not match cachegrind")
    return expected


def verify_data(data_dir: str = DATA_DIR, out=sys.stdout) -> bool:
    """Replay prog.lackey.gz for every geometry of expected.json and compare."""
    with open(os.path.join(data_dir, "expected.json")) as f:
        expected = json.load(f)
    gz = os.path.join(data_dir, "prog.lackey.gz")
    ok = True
    for name, g in expected["geometries"].items():
        want = expected["counters"][name]
        got = cachegrind_replay(gz, tuple(g["I1"]), tuple(g["D1"]), tuple(g["LL"]))
        same = got == want
        ok &= same
        print(f"{name}: {'match' if same else 'MISMATCH'}", file=out)
        if not same:
            for e in EVENTS:
                if got[e] != want[e]:
                    print(f"  {e}: cachegrind {want[e]} replay {got[e]}", file=out)
    return ok


if __name__ == "__main__":
    if "--verify-only" in sys.argv[1:]:
        sys.exit(0 if verify_data() else 1)
    if not valgrind_available():
        sys.exit("valgrind/gcc not available")
    exp = regenerate()
    for n, c in exp["counters"].items():
        print(n, " ".join(f"{e}={c[e]}" for e in EVENTS))
