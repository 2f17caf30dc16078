"""ChampSim CloudSuite traces: 96-byte ``cloudsuite_instr`` records
(ChampSim ``--cloudsuite``; FORMATS.md section 4).

Same semantics as :mod:`.champsim` with up to 4 destination addresses; the
``asid`` field is not used.  Auto-detection needs the padding bytes (18-23
and 90-95 of each record) to be zero; otherwise pass
``--format champsim-cloudsuite``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..trace import TraceMeta
from . import champsim

NAME = "champsim-cloudsuite"
LAYOUT = champsim.CLOUDSUITE_INSTR


def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False) -> Iterator[np.ndarray]:
    return champsim.read(path, meta, skip_bad, layout=LAYOUT, name=NAME)


def sniff(head: bytes) -> bool:
    return champsim.plausible(head, LAYOUT)
