"""splitmix64: the seeded generator behind every random choice a policy
makes. One 64-bit state per cache (kept as int64 bits), so results depend
only on the config's seed and the access stream, never on process-global
state (the pycachesim RR bug, PEERS.md 3.3)."""
import numpy as np
from numba import njit

RNG = 1  # column of the per-cache state holding the generator state

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@njit(cache=True, inline="always")
def next_u64(CS, cs):
    z = np.uint64(CS[cs + RNG]) + _GAMMA
    CS[cs + RNG] = np.int64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def below(CS, cs, n):
    """A draw in [0, n) (n small; modulo bias is < 2^-58)."""
    return np.int64(next_u64(CS, cs) % np.uint64(n))
