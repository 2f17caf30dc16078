"""A slow, obviously correct model of cachesim's counting semantics.

Written from docs/semantics.md, independently of the numba engine: Python
objects, one list per set, recency kept as explicit ordered lists, and the
hierarchy rules as plain recursion. Property tests replay random traces on
both and require every counter to match.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MASK64 = (1 << 64) - 1
READ, WRITE, RMW, IFETCH, PREFETCH, PREFETCHW = range(6)
KINDS = ("read", "write", "ifetch", "prefetch")


class SplitMix:
    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n


# ---- replacement policies: per-set objects ------------------------------------

class LRU:
    def __init__(self, ways, rng):
        self.order = list(range(ways))  # most recent first

    def touch(self, w):
        self.order.remove(w)
        self.order.insert(0, w)

    reset = touch

    def invalidate(self, w):
        self.order.remove(w)
        self.order.append(w)

    def victim(self):
        return self.order[-1]


class MRU(LRU):
    def victim(self):
        return self.order[0]


class FIFO:
    counter = 0  # insertion order shared by the cache (set per cache below)

    def __init__(self, ways, rng, clock):
        self.inserted = [0] * ways
        self.clock = clock

    def reset(self, w):
        self.clock[0] += 1
        self.inserted[w] = self.clock[0]

    def touch(self, w):
        pass

    def invalidate(self, w):
        self.inserted[w] = 0

    def victim(self):
        return min(range(len(self.inserted)), key=lambda w: (self.inserted[w], w))


class Random:
    def __init__(self, ways, rng):
        self.ways = ways
        self.rng = rng

    def reset(self, w):
        pass

    touch = invalidate = reset

    def victim(self):
        return self.rng.below(self.ways)


class TreePLRU:
    """Binary tree over the ways; bit[n] True = victim is in the right subtree."""

    def __init__(self, ways, rng):
        self.ways = ways
        self.bit = [False] * (ways - 1)

    def _path(self, w):
        node = self.ways - 1 + w
        while node > 0:
            parent = (node - 1) // 2
            yield parent, node == 2 * parent + 1
            node = parent

    def touch(self, w):
        for parent, is_left in self._path(w):
            self.bit[parent] = is_left  # point away from w

    reset = touch

    def invalidate(self, w):
        for parent, is_left in self._path(w):
            self.bit[parent] = not is_left  # point toward w

    def victim(self):
        node = 0
        while node < self.ways - 1:
            node = 2 * node + 2 if self.bit[node] else 2 * node + 1
        return node - (self.ways - 1)


class SRRIP:
    MAX = 3

    def __init__(self, ways, rng):
        self.rrpv = [self.MAX] * ways
        self.rng = rng

    def reset(self, w):
        self.rrpv[w] = self.MAX - 1

    def touch(self, w):
        self.rrpv[w] = 0

    def invalidate(self, w):
        self.rrpv[w] = self.MAX

    def victim(self):
        top = max(self.rrpv)
        w = self.rrpv.index(top)
        self.rrpv = [r + (self.MAX - top) for r in self.rrpv]
        return w


class BRRIP(SRRIP):
    def reset(self, w):
        self.rrpv[w] = self.MAX - 1 if self.rng.below(32) == 0 else self.MAX


def make_policy(name, ways, rng, clock):
    if name == "fifo":
        return FIFO(ways, rng, clock)
    return {"lru": LRU, "mru": MRU, "random": Random, "tree_plru": TreePLRU,
            "srrip": SRRIP, "brrip": BRRIP}[name](ways, rng)


# ---- caches ----------------------------------------------------------------------

COUNTERS = ("evictions", "writebacks", "back_invalidations", "invalidated", "writebacks_received",
            "writebacks_received_misses", "victims_received")


@dataclass
class Entry:
    line: int
    dirty: bool


@dataclass
class RefCache:
    cfg: object
    index: int
    seed: int
    sets: list = field(default_factory=list)
    policies: list = field(default_factory=list)
    acc: dict = field(default_factory=lambda: {k: 0 for k in KINDS})
    miss: dict = field(default_factory=lambda: {k: 0 for k in KINDS})
    n: dict = field(default_factory=lambda: {k: 0 for k in COUNTERS})

    def __post_init__(self):
        c = self.cfg
        rng = SplitMix(self.seed * 1000003 + self.index + 1)
        clock = [0]
        self.sets = [[None] * c.assoc for _ in range(c.sets)]
        self.policies = [make_policy(c.replacement_policy, c.assoc, rng, clock) for _ in range(c.sets)]

    @property
    def exclusive(self):
        return self.cfg.clusivity == "exclusive"

    @property
    def inclusive(self):
        return self.cfg.clusivity == "inclusive"

    @property
    def write_back(self):
        return self.cfg.write_policy == "write_back"

    def set_of(self, line):
        c = self.cfg
        if c.slices == 1:
            return line % c.sets
        sps = c.sets // c.slices
        h = (((line * 0x9E3779B97F4A7C15) & MASK64) >> 32) % c.slices
        return h * sps + line % sps

    def find(self, line):
        s = self.set_of(line)
        for w, e in enumerate(self.sets[s]):
            if e is not None and e.line == line:
                return s, w
        return None

    def touch(self, loc):
        self.policies[loc[0]].touch(loc[1])

    def entry(self, loc):
        return self.sets[loc[0]][loc[1]]

    def remove(self, loc):
        s, w = loc
        self.policies[s].invalidate(w)
        self.sets[s][w] = None

    def insert(self, line, dirty):
        """Returns the evicted Entry or None."""
        s = self.set_of(line)
        ways = self.sets[s]
        free = [w for w, e in enumerate(ways) if e is None]
        victim = None
        if free:
            w = free[0]
        else:
            w = self.policies[s].victim()
            victim = ways[w]
            self.n["evictions"] += 1
        ways[w] = Entry(line, bool(dirty))
        self.policies[s].reset(w)
        return victim


class RefHierarchy:
    def __init__(self, machine):
        self.machine = machine
        self.caches = [RefCache(c, i, machine.seed) for i, c in enumerate(machine.caches)]
        levels = sorted({c.level for c in machine.caches})
        by_level = {lv: [rc for rc in self.caches if rc.cfg.level == lv] for lv in levels}
        lower = [by_level[lv][0] for lv in levels[1:]]
        self.path_d = [rc for rc in by_level[1] if rc.cfg.serves_data] + lower
        self.path_i = [rc for rc in by_level[1] if rc.cfg.serves_instructions] + lower
        self.below = {}
        for rc in self.caches:
            nxt = [x for x in self.caches if x.cfg.level == rc.cfg.level + 1]
            self.below[rc.index] = nxt[0] if nxt else None
        self.mem_reads = 0
        self.mem_writes = 0
        self.ops = 0
        self.lines = 0
        self._last_op = None

    # -- the rules of docs/semantics.md, as recursion --

    def fill(self, path, pos, line, kind):
        c = path[pos]
        c.acc[kind] += 1
        loc = c.find(line)
        if loc is not None:
            if pos > 0 and c.exclusive:
                d = c.entry(loc).dirty
                c.remove(loc)
                return d
            c.touch(loc)
            return False
        c.miss[kind] += 1
        if pos + 1 < len(path):
            d = self.fill(path, pos + 1, line, kind)
        else:
            self.mem_reads += 1
            d = False
        if c.exclusive:
            return d
        self.install(c, line, d)
        return False

    def write(self, path, pos, line):
        if pos == len(path):
            self.mem_writes += 1
            return
        c = path[pos]
        c.acc["write"] += 1
        loc = c.find(line)
        if loc is not None:
            c.touch(loc)
            if c.write_back:
                c.entry(loc).dirty = True
                return
        else:
            c.miss["write"] += 1
            if c.cfg.write_allocate and not c.exclusive:
                if pos + 1 < len(path):
                    d = self.fill(path, pos + 1, line, "write")
                else:
                    self.mem_reads += 1
                    d = False
                if c.write_back:
                    self.install(c, line, True)
                    return
                self.install(c, line, d)
        c.n["writebacks"] += 1
        self.write(path, pos + 1, line)

    def install(self, c, line, dirty):
        v = c.insert(line, dirty)
        if v is not None:
            self.victim(c, v.line, v.dirty)

    def victim(self, c, line, dirty):
        if c.inclusive:
            for u in self.caches:
                if u.cfg.level < c.cfg.level:
                    loc = u.find(line)
                    if loc is not None:
                        u.n["invalidated"] += 1
                        c.n["back_invalidations"] += 1
                        dirty = dirty or u.entry(loc).dirty
                        u.remove(loc)
        self.send(c, line, dirty)

    def send(self, c, line, dirty):
        if dirty:
            c.n["writebacks"] += 1
        b = self.below[c.index]
        if b is None:
            if dirty:
                self.mem_writes += 1
        elif b.exclusive:
            self.place(b, line, dirty)
        elif dirty:
            self.writeback(b, line)

    def place(self, b, line, dirty):
        b.n["victims_received"] += 1
        loc = b.find(line)
        if loc is not None:
            b.touch(loc)
            if dirty:
                b.entry(loc).dirty = True
        else:
            self.install(b, line, dirty)

    def writeback(self, b, line):
        b.n["writebacks_received"] += 1
        loc = b.find(line)
        if loc is not None:
            b.touch(loc)
            if b.write_back:
                b.entry(loc).dirty = True
            else:
                self.send(b, line, True)
            return
        b.n["writebacks_received_misses"] += 1
        if b.cfg.write_allocate:
            v = b.insert(line, b.write_back)
            if v is not None:
                self.victim(b, v.line, v.dirty)
            if not b.write_back:
                self.send(b, line, True)
        else:
            self.send(b, line, True)

    # -- records --

    def access(self, addr, size, kind, op=0):
        if self._last_op is None or op > self._last_op:
            self.ops += 1
            self._last_op = op
        ls = self.machine.line_size
        size = max(size, 1)
        first = addr // ls
        last = (addr + size - 1) // ls
        if self.machine.semantics == "cachegrind":
            return self._cachegrind(addr, size, kind)
        for line in range(first, last + 1):
            self.lines += 1
            if kind == IFETCH:
                self.fill(self.path_i, 0, line, "ifetch")
            elif kind == WRITE:
                self.write(self.path_d, 0, line)
            elif kind == RMW:
                self.fill(self.path_d, 0, line, "read")
                self.write(self.path_d, 0, line)
            elif kind in (PREFETCH, PREFETCHW):
                self.fill(self.path_d, 0, line, "prefetch")
            else:
                self.fill(self.path_d, 0, line, "read")

    def _cachegrind(self, addr, size, kind):
        ls = self.machine.line_size
        size = min(size, ls)
        b1, b2 = addr // ls, (addr + size - 1) // ls
        self.lines += 1 if b1 == b2 else 2
        path = self.path_i if kind == IFETCH else self.path_d
        k = "ifetch" if kind == IFETCH else ("write" if kind == WRITE else "read")

        def probe(c, b):
            loc = c.find(b)
            if loc is not None:
                c.touch(loc)
                return False
            c.insert(b, False)
            return True

        def ref(c):
            m1 = probe(c, b1)
            m2 = probe(c, b2) if b2 != b1 else False
            return m1 or m2

        l1, ll = path[0], self.path_d[-1]
        l1.acc[k] += 1
        if ref(l1):
            l1.miss[k] += 1
            ll.acc[k] += 1
            if ref(ll):
                ll.miss[k] += 1
                self.mem_reads += 1

    def levels(self) -> dict:
        out = {}
        for c in self.caches:
            d = {"reads": c.acc["read"], "read_misses": c.miss["read"],
                 "writes": c.acc["write"], "write_misses": c.miss["write"],
                 "ifetches": c.acc["ifetch"], "ifetch_misses": c.miss["ifetch"],
                 "prefetches": c.acc["prefetch"], "prefetch_misses": c.miss["prefetch"]}
            d["accesses"] = d["reads"] + d["writes"] + d["ifetches"]
            d["misses"] = d["read_misses"] + d["write_misses"] + d["ifetch_misses"]
            d["hits"] = d["accesses"] - d["misses"]
            d.update(c.n)
            out[c.cfg.name] = d
        return out


def replay(machine, records) -> RefHierarchy:
    h = RefHierarchy(machine)
    for r in records:
        h.access(int(r["addr"]), int(r["size"]), int(r["kind"]), int(r["op"]))
    return h
