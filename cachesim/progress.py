"""Progress output on stderr: a tqdm bar on a terminal, nothing otherwise
(a log file or a pipe should not fill with carriage returns)."""
from __future__ import annotations

import sys


def bar(total: int | None, quiet: bool, desc: str, unit: str = "rec"):
    """A tqdm bar, or None when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, unit_scale=unit == "rec", desc=desc, leave=False, file=sys.stderr)
