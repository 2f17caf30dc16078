"""Private virtual environment for the peer simulator pycachesim.

pycachesim (PyPI ``pycachesim``) installs an import package called ``cachesim``
and a ``cachesim`` console script -- the same names as this project.  It must
therefore NEVER be installed into the project's own environment.  This module
creates a dedicated venv (default ``<repo>/.peers/pycachesim``, git-ignored),
installs ``pycachesim==0.3.1`` + ``numpy`` into it, and hands back that venv's
``python``.  Everything that imports pycachesim runs in a subprocess of that
interpreter (see ``pycachesim_runner.py`` and ``benchmarks/pycachesim_side.py``).

Concurrency / idempotency:
  * a completed venv carries a marker file ``.cachesim-peer-ready.json`` that is
    written (atomically, via ``os.replace``) only after pip succeeded and
    ``import cachesim`` inside the venv was verified to be pycachesim;
  * creation happens while holding an exclusive ``fcntl.flock`` on the sibling
    file ``<root>.lock``; a venv directory without the marker (a crashed or
    interrupted build) is deleted and rebuilt under the lock;
  * the fast path (marker present and matching) takes no lock.

Environment overrides:
  * ``CACHESIM_PYCACHESIM_VENV``: venv location when ``root`` is not given;
  * ``CACHESIM_NO_PEERS=1``: ``pycachesim_python_if_available()`` returns None
    without building anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PYCACHESIM_VERSION = "0.3.1"
PIP_REQUIREMENTS = (f"pycachesim=={PYCACHESIM_VERSION}", "numpy")
MARKER_NAME = ".cachesim-peer-ready.json"

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().with_name("pycachesim_runner.py")

# Python snippet run inside the venv (with -I) to prove what `import cachesim` is.
_PROBE = r"""
import json, sys
import cachesim, numpy
from cachesim import backend
print(json.dumps({"pycachesim": cachesim.__version__, "cachesim_file": cachesim.__file__,
                  "numpy": numpy.__version__, "python": sys.version.split()[0],
                  "prefix": sys.prefix}))
"""


def default_root() -> Path:
    env = os.environ.get("CACHESIM_PYCACHESIM_VENV")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / ".peers" / "pycachesim"


def venv_python(root: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - the project targets Linux
        return root / "Scripts" / "python.exe"
    return root / "bin" / "python"


def clean_env() -> dict[str, str]:
    """Environment for venv subprocesses: nothing that could put the project's
    own ``cachesim`` (or another interpreter's packages) on sys.path."""
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE",
              "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(k, None)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _tail(text: str, n: int = 25) -> str:
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def _read_marker(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    if data.get("pycachesim") != PYCACHESIM_VERSION:
        return None
    if not venv_python(root).exists():
        return None
    return data


def _run(cmd: list[str], what: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=clean_env(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise RuntimeError(f"pycachesim venv: {what} timed out after {timeout:.0f} s; "
                           f"last output:\n{_tail(out)}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"pycachesim venv: {what} failed (exit {proc.returncode}): "
                           f"{' '.join(cmd)}\nlast output:\n{_tail(proc.stdout)}")
    return proc


def _build(root: Path, timeout: float) -> dict[str, Any]:
    if root.exists():  # leftover without marker: partial build, start over
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(root)], "venv creation", timeout)
    py = venv_python(root)
    _run([str(py), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
          *PIP_REQUIREMENTS], "pip install " + " ".join(PIP_REQUIREMENTS), timeout)
    probe = _run([str(py), "-I", "-c", _PROBE], "import check", timeout)
    try:
        info = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"pycachesim venv: unexpected import-check output:\n"
                           f"{_tail(probe.stdout)}") from None
    if info.get("pycachesim") != PYCACHESIM_VERSION:
        raise RuntimeError(f"pycachesim venv: installed version {info.get('pycachesim')!r}, "
                           f"expected {PYCACHESIM_VERSION}")
    if not Path(info["cachesim_file"]).resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"pycachesim venv: `import cachesim` resolved to "
                           f"{info['cachesim_file']}, outside the venv {root}")
    info["build_seconds"] = round(time.perf_counter() - t0, 2)
    info["base_python"] = sys.executable
    tmp = root / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, root / MARKER_NAME)
    return info


def ensure_pycachesim(root: Path | None = None, *, timeout: float = 1200.0,
                      lock_timeout: float = 1800.0) -> Path:
    """Create (once) the pycachesim venv and return its python executable.

    Safe to call concurrently from several processes: one builds, the others
    wait on the lock and then reuse the result.  Raises RuntimeError (with the
    last lines of pip's output) if the venv cannot be built.
    """
    root = Path(root).expanduser().resolve() if root is not None else default_root()
    if _read_marker(root) is not None:
        return venv_python(root)

    import fcntl  # POSIX only; the project targets Linux

    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / (root.name + ".lock")
    with open(lock_path, "a+") as lock:
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pycachesim venv: timed out waiting for lock "
                                       f"{lock_path}") from None
                time.sleep(0.5)
        try:
            if _read_marker(root) is None:  # someone may have finished while we waited
                _build(root, timeout)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return venv_python(root)


def pycachesim_python_if_available(root: Path | None = None) -> Path | None:
    """Like ensure_pycachesim(), but returns None instead of raising."""
    if os.environ.get("CACHESIM_NO_PEERS", "") not in ("", "0"):
        return None
    try:
        return ensure_pycachesim(root)
    except (RuntimeError, OSError, subprocess.SubprocessError, ImportError):
        return None


def venv_info(root: Path | None = None) -> dict[str, Any] | None:
    """The marker contents (versions, build time) of an existing venv, or None."""
    root = Path(root).expanduser().resolve() if root is not None else default_root()
    return _read_marker(root)


def run_pycachesim_spec(spec: dict[str, Any] | str | Path, python: Path | None = None,
                        timeout: float = 600.0) -> dict[str, Any]:
    """Run pycachesim_runner.py on SPEC (a dict, or a path to a spec JSON) in the venv.

    Returns the runner's JSON output as a dict.  Raises RuntimeError on failure.
    """
    import tempfile

    py = Path(python) if python is not None else ensure_pycachesim()
    with tempfile.TemporaryDirectory(prefix="pycachesim-spec-") as td:
        if isinstance(spec, dict):
            spec_path = Path(td) / "spec.json"
            spec_path.write_text(json.dumps(spec))
        else:
            spec_path = Path(spec)
        # -I: isolated mode; neither the runner's directory nor PYTHONPATH nor
        # user site-packages land on sys.path, so `import cachesim` is pycachesim.
        proc = subprocess.run([str(py), "-I", str(RUNNER), str(spec_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env(), timeout=timeout, cwd=td)
    if proc.returncode != 0:
        raise RuntimeError(f"pycachesim runner failed (exit {proc.returncode}):\n"
                           f"{_tail(proc.stderr)}")
    return json.loads(proc.stdout)


if __name__ == "__main__":
    t = time.perf_counter()
    p = ensure_pycachesim(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(p)
    print(json.dumps(venv_info(p.parent.parent), indent=1))
    print(f"ensure_pycachesim took {time.perf_counter() - t:.1f} s", file=sys.stderr)
