"""cachesim: a fast, numba-jitted CPU cache hierarchy simulator.

The public API for notebooks is :func:`simulate`; the command line lives in
:mod:`cachesim.cli`.
"""
import os as _os

__version__ = "0.1.0"


def _numba_cache_dir() -> None:
    # numba writes its cache beside the sources; when the install is read-only
    # (system site-packages), point it at a user cache so second runs start fast.
    if "NUMBA_CACHE_DIR" in _os.environ:
        return
    here = _os.path.dirname(__file__)
    if not _os.access(here, _os.W_OK):
        base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
        _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(base, "cachesim", "numba")


_numba_cache_dir()

from .errors import CachesimError, ConfigError, TraceError  # noqa: E402
from .api import simulate, load_machine  # noqa: E402

__all__ = ["simulate", "load_machine", "CachesimError", "ConfigError", "TraceError", "__version__"]
