"""cachesim: a fast, numba-jitted CPU cache hierarchy simulator.

The public API for notebooks is :func:`simulate`; the command line lives in
:mod:`cachesim.cli`.
"""
import os as _os

__version__ = "0.1.0"


# Front-end modules that no jitted function reads (no constants, no code):
# editing them must not throw away minutes of compiled engine. Everything
# else, including any new module, is part of the key: the safe default.
_FRONT_END = {"__init__.py", "api.py", "cli.py", "errors.py", "plot.py", "progress.py", "report.py",
              "stats_txt.py", "study.py", "sweep.py", "crossover.py", "dwarf.py", "layoutfile.py", "overhead.py",
              "scenario.py"}


def _engine_hash() -> str:
    """Hash of the sources jitted code can see: results carry it, and sweep
    workers must match it, so two runs with one hash ran the same engine."""
    import hashlib
    here = _os.path.dirname(__file__)
    h = hashlib.sha256()
    for root, dirs, files in sorted(_os.walk(here)):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".py") and f not in _FRONT_END:
                with open(_os.path.join(root, f), "rb") as fh:
                    h.update(f.encode() + fh.read())
    return h.hexdigest()[:16]


ENGINE_HASH = _engine_hash()


def _numba_cache_dir() -> None:
    # numba's on-disk cache checks only the timestamp of a function's own
    # file, not of the functions it inlines from other modules, so an edit to
    # engine/cache.py could leave a stale compiled replay loop. Keying the
    # cache directory by a hash of the sources jitted code can see makes that
    # impossible (and keeps read-only installs fast: the cache lives in the
    # user's cache). Child processes (sweep workers, Dask workers started
    # from here) inherit the variable and so share the warm cache.
    if "NUMBA_CACHE_DIR" in _os.environ:
        return
    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(base, "cachesim", "numba", ENGINE_HASH)


_numba_cache_dir()

from .errors import CachesimError, ConfigError, TraceError  # noqa: E402
from .api import simulate, load_machine  # noqa: E402

__all__ = ["simulate", "load_machine", "CachesimError", "ConfigError", "TraceError", "__version__", "ENGINE_HASH"]
