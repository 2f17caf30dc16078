"""Machine configuration: TOML -> frozen dataclasses, validated up front.

Every problem raises :class:`ConfigError` with one line naming the file, the
key and what was expected, so the CLI can print it and exit with status 2.
Unknown keys are errors too: a typo such as ``asoc = 8`` must not silently
fall back to a default.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine.policies import POLICY_IDS, policy_requires_pow2
from .errors import ConfigError

SERVES = ("instructions", "data", "both")
CLUSIVITY = ("nine", "inclusive", "exclusive")
WRITE_POLICIES = ("write_back", "write_through")
SEMANTICS = ("default", "cachegrind")

_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
    "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: Any, where: str) -> int:
    """Parse ``"32KiB"``, ``"1.375MiB"``, ``"32kB"`` or an integer byte count.

    KB/MB/GB are binary (1024-based), as in gem5's and Cachegrind's cache
    sizes; the result must be a whole number of bytes.
    """
    expected = 'a size like "32KiB", "1.375MiB" or an integer number of bytes'
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ConfigError(f"{where}: expected a positive size, got {value}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    m = _SIZE_RE.match(value)
    if not m or m.group(2).lower() not in _UNITS:
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    num = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if num <= 0 or num != math.floor(num):
        raise ConfigError(f"{where}: {value!r} is not a positive whole number of bytes")
    return int(num)


@dataclass(frozen=True)
class CacheConfig:
    name: str
    level: int
    serves: str
    size: int
    assoc: int
    line_size: int
    replacement_policy: str = "lru"
    write_policy: str = "write_back"
    write_allocate: bool = True
    clusivity: str = "nine"
    slices: int = 1
    tag_latency: int = 1
    data_latency: int = 3
    response_latency: int = 1
    mshrs: int = 10
    prefetchers: tuple = ()

    @property
    def sets(self) -> int:
        return self.size // (self.line_size * self.assoc)

    @property
    def serves_data(self) -> bool:
        return self.serves in ("data", "both")

    @property
    def serves_instructions(self) -> bool:
        return self.serves in ("instructions", "both")

    def describe(self) -> dict:
        return {
            "level": self.level, "serves": self.serves, "size": self.size, "assoc": self.assoc,
            "line_size": self.line_size, "sets": self.sets, "slices": self.slices,
            "replacement_policy": self.replacement_policy, "write_policy": self.write_policy,
            "write_allocate": self.write_allocate, "clusivity": self.clusivity,
            "tag_latency": self.tag_latency, "data_latency": self.data_latency,
            "response_latency": self.response_latency, "mshrs": self.mshrs,
            "prefetcher": list(self.prefetchers),
        }


PAGE_SIZES = {4096: 0, 2 << 20: 1, 1 << 30: 2}   # x86-64 page sizes and their size codes


@dataclass(frozen=True)
class TlbConfig:
    """A TLB: a set-associative cache of translations for some page sizes.
    Level 1 TLBs are looked up first; a miss goes to the level-2 TLB that
    holds the page size (if any), then to a page walk through the caches."""
    name: str
    level: int
    page_sizes: tuple
    entries: int
    assoc: int
    hit_latency: int = 0

    @property
    def sets(self) -> int:
        return self.entries // self.assoc

    def describe(self) -> dict:
        return {"level": self.level, "page_sizes": list(self.page_sizes), "entries": self.entries,
                "assoc": self.assoc, "hit_latency": self.hit_latency}


@dataclass(frozen=True)
class Machine:
    name: str
    line_size: int
    frequency_ghz: float
    caches: tuple[CacheConfig, ...]
    semantics: str = "default"
    seed: int = 0
    study: dict = field(default_factory=dict)
    source: str = "<dict>"
    memory_latency_ns: float = 80.0
    window: int = 72
    timing: bool = True
    tlbs: tuple = ()
    regions: tuple = ()       # (start, end, page size): address ranges mapped with large pages

    @property
    def memory_latency(self) -> int:
        """Memory latency in core cycles."""
        return max(1, round(self.memory_latency_ns * self.frequency_ghz))

    def cache(self, name: str) -> CacheConfig:
        for c in self.caches:
            if c.name == name:
                return c
        raise KeyError(name)

    def describe(self) -> dict:
        return {
            "name": self.name, "line_size": self.line_size, "frequency_ghz": self.frequency_ghz,
            "semantics": self.semantics, "seed": self.seed, "source": self.source,
            "memory_latency_ns": self.memory_latency_ns, "memory_latency_cycles": self.memory_latency,
            "window": self.window, "timing": self.timing,
            "caches": {c.name: c.describe() for c in self.caches},
            "tlbs": {t.name: t.describe() for t in self.tlbs},
            "regions": [{"start": hex(a), "end": hex(b), "page_size": ps} for a, b, ps in self.regions],
        }


class _Table:
    """A TOML table that remembers which keys were read, to reject the rest."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def get(self, key: str, kind: type | tuple, default: Any = ..., *, what: str | None = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self.where}: missing required key '{key}'")
            return default
        v = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(v, kinds) and not (isinstance(v, bool) and bool not in kinds)
        if not ok:
            raise ConfigError(f"{self.where}: '{key}' expected {what or ' or '.join(k.__name__ for k in kinds)}, got {v!r}")
        return v

    def choice(self, key: str, choices: tuple, default: Any = ...) -> str:
        v = self.get(key, str, default, what="one of " + ", ".join(repr(c) for c in choices))
        if v not in choices:
            raise ConfigError(f"{self.where}: '{key}' expected one of {', '.join(map(repr, choices))}, got {v!r}")
        return v

    def positive_int(self, key: str, default: Any = ...) -> int:
        v = self.get(key, int, default, what="a positive integer")
        if v <= 0:
            raise ConfigError(f"{self.where}: '{key}' expected a positive integer, got {v}")
        return v

    def finish(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise ConfigError(f"{self.where}: unknown key '{extra[0]}'")


# Latency and MSHR defaults by level when a config gives none (cycles): in the
# range of the shipped machines' cited figures (docs/machine-sources.md).
LEVEL_DEFAULTS = {1: (1, 3, 1, 10), 2: (3, 9, 2, 16), 3: (10, 26, 4, 32)}


def _is_pow2(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def _cache(name: str, data: Any, src: str, line_size: int) -> CacheConfig:
    t = _Table(data, f"{src}: [caches.{name}]")
    level = t.positive_int("level")
    serves = t.choice("serves", SERVES, "both")
    t.used.add("size")
    if "size" not in t.data:
        raise ConfigError(f"{t.where}: missing required key 'size'")
    size = parse_size(t.data["size"], f"{t.where}: 'size'")
    assoc = t.positive_int("assoc")
    ls = t.positive_int("line_size", line_size)
    if ls != line_size:
        raise ConfigError(f"{t.where}: 'line_size' {ls} differs from [machine] line_size {line_size}; "
                          "all caches share one line size")
    policy = t.choice("replacement_policy", tuple(POLICY_IDS), "lru")
    write_policy = t.choice("write_policy", WRITE_POLICIES, "write_back")
    write_allocate = t.get("write_allocate", bool, True)
    clusivity = t.choice("clusivity", CLUSIVITY, "nine")
    slices = t.positive_int("slices", 1)
    dt, dd, dr, dm = LEVEL_DEFAULTS.get(level, LEVEL_DEFAULTS[3])
    lat = []
    for key, default in (("tag_latency", dt), ("data_latency", dd), ("response_latency", dr)):
        v = t.get(key, int, default, what="a whole number of cycles")
        if v < 0:
            raise ConfigError(f"{t.where}: '{key}' expected a non-negative number of cycles, got {v}")
        lat.append(v)
    mshrs = t.positive_int("mshrs", dm)
    from .engine.prefetchers import MAX_PER_CACHE, PREFETCHER_IDS
    pf = t.get("prefetcher", (str, list), [], what="a prefetcher name or a list of names")
    pf = [pf] if isinstance(pf, str) else pf
    for pname in pf:
        if pname not in PREFETCHER_IDS:
            raise ConfigError(f"{t.where}: 'prefetcher' expected one of {', '.join(map(repr, PREFETCHER_IDS))}, "
                              f"got {pname!r}")
    if len(pf) > MAX_PER_CACHE:
        raise ConfigError(f"{t.where}: 'prefetcher' takes at most {MAX_PER_CACHE} prefetchers")
    if pf and serves == "instructions":
        raise ConfigError(f"{t.where}: prefetchers are modelled on data caches only")
    t.finish()
    if size % (line_size * assoc):
        raise ConfigError(f"{t.where}: size {size} B is not a whole number of sets of "
                          f"{assoc} ways x {line_size} B lines")
    sets = size // (line_size * assoc)
    if sets % slices:
        raise ConfigError(f"{t.where}: {sets} sets do not split evenly into {slices} slices")
    if policy_requires_pow2(policy) and not _is_pow2(assoc):
        raise ConfigError(f"{t.where}: replacement_policy '{policy}' needs a power-of-two assoc, got {assoc}")
    if level == 1 and clusivity == "exclusive":
        raise ConfigError(f"{t.where}: a level-1 cache cannot be 'exclusive' (nothing above it fills it)")
    if level > 1 and serves != "both":
        raise ConfigError(f"{t.where}: only level 1 may be split; a level-{level} cache must serve 'both'")
    return CacheConfig(name, level, serves, size, assoc, line_size, policy, write_policy,
                       write_allocate, clusivity, slices, lat[0], lat[1], lat[2], mshrs, tuple(pf))


def machine_from_dict(raw: dict, source: str = "<dict>") -> Machine:
    top = _Table(raw, source)
    m = _Table(top.get("machine", dict, what="a [machine] table"), f"{source}: [machine]")
    name = m.get("name", str)
    line_size = m.positive_int("line_size", 64)
    if not _is_pow2(line_size) or line_size < 4:
        raise ConfigError(f"{source}: [machine] 'line_size' expected a power of two >= 4, got {line_size}")
    freq = m.get("frequency_ghz", (int, float), 1.0, what="a number of GHz")
    if freq <= 0:
        raise ConfigError(f"{source}: [machine] 'frequency_ghz' expected a positive number, got {freq}")
    seed = m.get("seed", int, 0, what="an integer")
    m.finish()

    caches_raw = top.get("caches", dict, what="a [caches.NAME] table per cache")
    if not caches_raw:
        raise ConfigError(f"{source}: [caches] expected at least one [caches.NAME] table")
    caches = [_cache(n, d, source, line_size) for n, d in caches_raw.items()]
    caches.sort(key=lambda c: (c.level, {"instructions": 0, "data": 1, "both": 2}[c.serves]))
    _check_levels(caches, source)

    replay = _Table(top.get("replay", dict, {}), f"{source}: [replay]")
    semantics = replay.choice("semantics", SEMANTICS, "default")
    replay_seed = replay.get("seed", int, None, what="an integer")
    timing = replay.get("timing", bool, True)
    replay.finish()
    mem = _Table(top.get("memory", dict, {}), f"{source}: [memory]")
    mem_ns = mem.get("latency_ns", (int, float), 80.0, what="a latency in ns")
    if mem_ns <= 0:
        raise ConfigError(f"{source}: [memory] 'latency_ns' expected a positive number, got {mem_ns}")
    mem.finish()
    core = _Table(top.get("core", dict, {}), f"{source}: [core]")
    window = core.positive_int("window", 72)
    core.finish()
    if replay_seed is not None:
        seed = replay_seed
    if semantics == "cachegrind":
        _check_cachegrind(caches, source)

    tlbs = tuple(_tlb(n, d, source) for n, d in top.get("tlbs", dict, {}, what="[tlbs.NAME] tables").items())
    _check_tlbs(tlbs, source)
    regions = tuple(_region(i, d, source) for i, d in enumerate(top.get("regions", list, [],
                                                                         what="an array of [[regions]]")))
    study = top.get("study", dict, {}, what="a [study] table")
    top.finish()
    return Machine(name, line_size, float(freq), tuple(caches), semantics, seed, study, source, float(mem_ns),
                   window, timing, tlbs, regions)


def _page_size(v, where: str) -> int:
    ps = parse_size(v, where)
    if ps not in PAGE_SIZES:
        raise ConfigError(f"{where}: expected a page size of 4KiB, 2MiB or 1GiB, got {v!r}")
    return ps


def _tlb(name: str, data, source: str) -> TlbConfig:
    t = _Table(data, f"{source}: [tlbs.{name}]")
    level = t.positive_int("level")
    if level > 2:
        raise ConfigError(f"{t.where}: 'level' expected 1 or 2, got {level}")
    sizes = t.get("page_sizes", list, what="a list of page sizes")
    if not sizes:
        raise ConfigError(f"{t.where}: 'page_sizes' must name at least one page size")
    sizes = tuple(_page_size(v, f"{t.where}: 'page_sizes'") for v in sizes)
    entries = t.positive_int("entries")
    assoc = t.positive_int("assoc")
    lat = t.get("hit_latency", int, 0 if level == 1 else 9, what="a whole number of cycles")
    t.finish()
    if entries % assoc:
        raise ConfigError(f"{t.where}: {entries} entries do not divide into {assoc}-way sets")
    return TlbConfig(name, level, sizes, entries, assoc, lat)


def _check_tlbs(tlbs: tuple, source: str) -> None:
    for lv in (1, 2):
        seen: dict = {}
        for t in tlbs:
            if t.level != lv:
                continue
            for ps in t.page_sizes:
                if ps in seen:
                    raise ConfigError(f"{source}: TLBs {seen[ps]} and {t.name} both hold level-{lv} "
                                      f"translations of {ps}-byte pages")
                seen[ps] = t.name


def _region(i: int, data, source: str) -> tuple:
    t = _Table(data, f"{source}: [[regions]] #{i + 1}")
    start = t.get("start", int, what="an address")
    end = t.get("end", int, what="an address")
    ps = _page_size(t.get("page_size", (str, int), what="a page size"), f"{t.where}: 'page_size'")
    t.finish()
    if not 0 <= start < end <= 1 << 64:
        raise ConfigError(f"{t.where}: expected 0 <= start < end <= 2^64")
    if start % ps or end % ps:
        raise ConfigError(f"{t.where}: start and end must be aligned to the page size {ps}")
    return (start, end, ps)


def _check_levels(caches: list[CacheConfig], source: str) -> None:
    levels = sorted({c.level for c in caches})
    if levels != list(range(1, len(levels) + 1)):
        raise ConfigError(f"{source}: cache levels must run 1, 2, ... without gaps, got {levels}")
    l1 = [c for c in caches if c.level == 1]
    data = [c.name for c in l1 if c.serves_data]
    inst = [c.name for c in l1 if c.serves_instructions]
    if len(data) > 1:
        raise ConfigError(f"{source}: two level-1 caches both serve data: {data[0]} and {data[1]}")
    if len(inst) > 1:
        raise ConfigError(f"{source}: two level-1 caches both serve instructions: {inst[0]} and {inst[1]}")
    for lvl in levels[1:]:
        at = [c.name for c in caches if c.level == lvl]
        if len(at) > 1:
            raise ConfigError(f"{source}: level {lvl} has two caches ({at[0]}, {at[1]}); only level 1 may be split")
    names = [c.name for c in caches]
    if len(set(n.lower() for n in names)) != len(names):
        raise ConfigError(f"{source}: cache names must be unique (case-insensitive)")


def _check_cachegrind(caches: list[CacheConfig], source: str) -> None:
    if max(c.level for c in caches) != 2:
        raise ConfigError(f"{source}: semantics 'cachegrind' models I1, D1 and LL only: "
                          "expected level-1 caches and one level-2 (LL) cache")
    for c in caches:
        if not _is_pow2(c.sets):
            raise ConfigError(f"{source}: [caches.{c.name}] semantics 'cachegrind' needs a power-of-two "
                              f"set count (as Cachegrind does), got {c.sets}")


def load_machine(path: str | Path) -> Machine:
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return machine_from_dict(raw, str(p))
