"""Replacement policies behind one small interface (gem5's shape).

Each policy is a module with four numba functions and one Python hook:

    reset(RS, SS, CS, e0, s, cs, way, ways)       a line was inserted in `way`
    touch(RS, SS, CS, e0, s, cs, way, ways)       a line in `way` was hit
    invalidate(RS, SS, CS, e0, s, cs, way, ways)  the line in `way` was removed
    victim(RS, SS, CS, e0, s, cs, ways) -> way    the way to replace in a full set
    set_init(ways) -> int                          initial per-set state word

``RS[e0 + way]`` is per-entry state, ``SS[s]`` the set's state word and
``CS[cs + k]`` per-cache state (clock, RNG, ...), all int64 pointers into
the engine's arena. Policies never see tags: the engine fills invalid ways
first (lowest first), then asks for a victim.

Adding a policy (DRRIP, SHiP, ...) = one module + one entry in POLICIES +
one branch in each dispatcher below. The switch is on a per-cache constant,
so the host's branch predictor makes it nearly free.
"""
from numba import njit

from . import brrip, fifo, lru, mru, random, srrip, tree_plru

LRU, FIFO, RANDOM, TREE_PLRU, SRRIP, BRRIP, MRU = range(7)

POLICIES = {
    "lru": (LRU, lru),
    "fifo": (FIFO, fifo),
    "random": (RANDOM, random),
    "tree_plru": (TREE_PLRU, tree_plru),
    "srrip": (SRRIP, srrip),
    "brrip": (BRRIP, brrip),
    "mru": (MRU, mru),
}
POLICY_IDS = {name: pid for name, (pid, _) in POLICIES.items()}

CS_COLUMNS = 4  # per-cache state: clock, rng, 2 spare


def policy_requires_pow2(name: str) -> bool:
    return name == "tree_plru"


def set_init(name: str, ways: int) -> int:
    return POLICIES[name][1].set_init(ways)


# The four dispatchers are real calls, not inlined: inlined, every call site
# in the engine carried all seven policy bodies and the generic replay loop
# took ~3 minutes to compile (the main job's cold run: 3m48s -> 1m49s). The
# runtime cost is a call per policy operation (~15 % on the lean loop's
# best case, within the VM's noise on the full model).
@njit(cache=True)
def reset(pid, RS, SS, CS, e0, s, cs, way, ways):
    if pid == LRU:
        lru.reset(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == FIFO:
        fifo.reset(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == RANDOM:
        random.reset(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == TREE_PLRU:
        tree_plru.reset(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == SRRIP:
        srrip.reset(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == BRRIP:
        brrip.reset(RS, SS, CS, e0, s, cs, way, ways)
    else:
        mru.reset(RS, SS, CS, e0, s, cs, way, ways)


@njit(cache=True)
def touch(pid, RS, SS, CS, e0, s, cs, way, ways):
    if pid == LRU:
        lru.touch(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == FIFO:
        fifo.touch(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == RANDOM:
        random.touch(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == TREE_PLRU:
        tree_plru.touch(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == SRRIP:
        srrip.touch(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == BRRIP:
        brrip.touch(RS, SS, CS, e0, s, cs, way, ways)
    else:
        mru.touch(RS, SS, CS, e0, s, cs, way, ways)


@njit(cache=True)
def invalidate(pid, RS, SS, CS, e0, s, cs, way, ways):
    if pid == LRU:
        lru.invalidate(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == FIFO:
        fifo.invalidate(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == RANDOM:
        random.invalidate(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == TREE_PLRU:
        tree_plru.invalidate(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == SRRIP:
        srrip.invalidate(RS, SS, CS, e0, s, cs, way, ways)
    elif pid == BRRIP:
        brrip.invalidate(RS, SS, CS, e0, s, cs, way, ways)
    else:
        mru.invalidate(RS, SS, CS, e0, s, cs, way, ways)


@njit(cache=True)
def victim(pid, RS, SS, CS, e0, s, cs, ways):
    if pid == LRU:
        return lru.victim(RS, SS, CS, e0, s, cs, ways)
    elif pid == FIFO:
        return fifo.victim(RS, SS, CS, e0, s, cs, ways)
    elif pid == RANDOM:
        return random.victim(RS, SS, CS, e0, s, cs, ways)
    elif pid == TREE_PLRU:
        return tree_plru.victim(RS, SS, CS, e0, s, cs, ways)
    elif pid == SRRIP:
        return srrip.victim(RS, SS, CS, e0, s, cs, ways)
    elif pid == BRRIP:
        return brrip.victim(RS, SS, CS, e0, s, cs, ways)
    else:
        return mru.victim(RS, SS, CS, e0, s, cs, ways)


# With `inl` true (the lean replay), nibble-stack LRU runs inline and every
# other policy through the dispatchers above; with inl == NIBBLE (a lean pass
# over a cache it checked is nibble-stack LRU) the dispatch is compiled out: LRU is the default and common
# case, and its touch/victim are a few register operations, cheaper than
# the call. The generic loop passes true at its hot sites (fill's look-ups
# and installs, the TLBs, level-1 hits): the policy calls had been 13 % of
# the full model's time; the main job's cold start stayed 95 s. Passing it
# everywhere had cost ~30 s of compile time (main job cold 80 -> 113 s).
NIBBLE = 2   # inl value of a caller that knows the cache is nibble-stack LRU (lean.py)


@njit(cache=True, inline="always")
def nibble_lru(pid, ways):
    return pid == LRU and ways <= lru.STACK_WAYS


@njit(cache=True, inline="always")
def touch_inl(inl, inserted, pid, RS, SS, CS, e0, s, cs, way, ways):
    """reset() when the line was just inserted, else touch()."""
    if inl == NIBBLE or (inl and nibble_lru(pid, ways)):
        SS[s] = lru.to_front(SS[s], way)   # lru.reset is lru.touch
    elif inserted:
        reset(pid, RS, SS, CS, e0, s, cs, way, ways)
    else:
        touch(pid, RS, SS, CS, e0, s, cs, way, ways)


@njit(cache=True, inline="always")
def victim_inl(inl, pid, RS, SS, CS, e0, s, cs, ways):
    """(victim way, True if the policy already ranks the way as just
    refilled): a nibble stack moves its last nibble to the front with a
    mask and a shift (lru.evict_to_front), so the caller skips its
    touch_inl."""
    if inl == NIBBLE or (inl and nibble_lru(pid, ways)):
        w, o = lru.evict_to_front(SS[s], ways)
        SS[s] = o
        return w, True
    return victim(pid, RS, SS, CS, e0, s, cs, ways), False
