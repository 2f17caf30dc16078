"""The per-record replay loop (numba) and the Python driver around it.

The driver builds the flat state arrays once from a :class:`Machine`, then
hands the kernel one chunk of records at a time; the kernel keeps all state
in those arrays, so chunking changes nothing in the results.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..config import Machine
from ..trace import CHUNK, IFETCH, PREFETCH, PREFETCHW, READ, RECORD_DTYPE, RMW, WRITE
from . import policies as pol
from .arena import (CLUS, CLUS_IDS, CSOFF, ENTRIES, EOFF, H_LINEBITS, H_NCACHE, H_NPATHD, H_NPATHI, H_PREFETCH, H_TLB,
                    H_REPEAT, H_TIMING, H_WINDOW, HS, MASK, MSHOFF, MSHRS, NPARAM, PF1, PF2, PFS1, PFS2, POLICY, R_LAT,
                    R_DIRTY, R_HDR, R_PATHD, R_PATHI, R_RUN, R_TAGS, SETS, SLICES, SOFF, SPS,
                    WA, WAYS, WB, build, regions, zeroed)
from .cache import bump, bump_by, find, hint, insert, par, scan, set_base, touch, touch_at
from .hierarchy import STACK, fill, prefetched_hit, quiet_hit, run_prefetchers, write
from . import prefetchers as pfm
from .timing import R_PFHIT, TRING, account, latencies, time_hits, time_records
from .tlb import hinted, translate
from ..config import CacheConfig
from .rawarray import as_ptr, as_ptr8
from .stats import (ACC, K_IFETCH, K_PREFETCH, K_READ, K_WRITE, MEM_READ, MISS, NCNT, NTAGS, R_LINES, R_OPS,  # noqa: F401
                    R_RECORDS, count_op as _count_op)
from .lean import (lean_back, lean_front, lean_front_nibble, nibble_l1, plain, queue_cap, queue_words, replay_lean,
                   replay_lean_nibble)
from .lookahead import look_ahead, record_lines, same_line_run

NRUN = 16   # run-wide counters: 0-4 stats.py R_*, 8-13 timing.py (its own host line)


@njit(cache=True, inline="always")
def _count_l1_hit(R, d1, e, t, kd):
    """A read or store hit on level-1 entry e: count it; a store (write-back
    cache) dirties the line."""
    if kd == READ:
        bump(R, d1, t, ACC + K_READ)
    else:
        bump(R, d1, t, ACC + K_WRITE)
        R[R_DIRTY][e] = 1


@njit(cache=True)
def repeat_run(base, recp, hp, r, nrec, a, line, t, kd, site, line_bits, rg0):
    """replay_default's shortcut for record r, a single-line read or store
    that hits level 1: when its translation is the entry its L1 TLB hit or
    filled last and level 1's prefetchers would stay quiet (7 of 8 records
    of a stream), do what translate(), the look-up and run_prefetchers()
    would, without them; then count and time the records after r that
    repeat it (same line, kind, tag, op, size and site), which find both
    entries touched last and the prefetchers as quiet. Returns the end of
    the run taken, or r when record r does not qualify."""
    R = regions(base)
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    d1 = pd[0]
    e = find(R, d1, line)
    if e < 0:
        return r
    pf = R[R_HDR][H_PREFETCH] == 1
    if pf and not quiet_hit(R, d1, e, line, site):
        return r
    tlb = R[R_HDR][H_TLB] == 1
    c1 = e1 = -1
    if tlb:
        c1, e1 = hinted(R, a)
        if c1 < 0:
            return r
        bump(R, c1, t, ACC + K_READ)
        touch(R, c1, e1, True)
    touch(R, d1, e, True)
    _count_l1_hit(R, d1, e, t, kd)
    RECP = as_ptr(recp)
    j = same_line_run(RECP, r, nrec, np.uint64(line_bits), line_bits, 0xFFFFFFFF if pf else 0)  # ip-stride: per site
    k = j - r - 1
    if k > 0:
        bump_by(R, d1, t, ACC + (K_READ if kd == READ else K_WRITE), k)
        if tlb:
            bump_by(R, c1, t, ACC + K_READ, k)
    H = as_ptr8(hp)
    for q in range(r, j):
        H[q] = 0
    if R[R_HDR][H_TIMING] == 1:   # no prefetch to wait for: quiet_hit saw none
        time_hits(R, RECP, r, j, rg0, R[R_LAT][0], pd, npd, kd == READ)
    return j


@njit(cache=True, nogil=True)
def replay_default(rec, base, line_bits, part, nparts, hout):
    """Replay records on the arena at `base`. With nparts > 1 this arena
    simulates only the lines with line % nparts == part (set partitioning,
    see EngineState) and writes each record's hit level to hout for the
    timing pass; with nparts == 1 it times records as it goes. `rec` is a
    contiguous array of trace.RECORD_DTYPE: fields at fixed offsets of one
    32-byte row are cheaper to load than seven strided column views."""
    R = regions(base)
    TAGS = R[R_TAGS]
    RUN = R[R_RUN]
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    pi, npi = R[R_PATHI], R[R_HDR][H_NPATHI]
    ncache = R[R_HDR][H_NCACHE]
    d1 = pd[0]
    d1_wb = par(R, d1, WB)
    d1_ways = par(R, d1, WAYS)
    lb = np.uint64(line_bits)
    lmask = (np.int64(1) << line_bits) - 1   # a byte's offset in its line
    nrec = rec.shape[0]
    lines = 0
    la = (np.int64(-1), np.int64(-1))   # look_ahead's last line and page-table line
    timing = R[R_HDR][H_TIMING] == 1 and nparts == 1
    pf = R[R_HDR][H_PREFETCH] == 1
    tlb = R[R_HDR][H_TLB] == 1
    LAT = R[R_LAT]
    rg0 = RUN[R_RECORDS]
    pmask = nparts - 1
    repeat = R[R_HDR][H_REPEAT] > 0 and nparts == 1
    repeats = 0
    skip = 0
    recp, hp = rec.ctypes.data, hout.ctypes.data
    RECP = as_ptr(recp)
    for r in range(nrec):
        la = look_ahead(R, RECP, nrec, r, lb, part, pmask, la)
        if r < skip:    # counted with the run it repeats
            continue
        a = rec[r].addr
        first, last = record_lines(a, rec[r].size, line_bits)
        t = np.int64(rec[r].tag)
        if part == 0:
            _count_op(RUN, np.int64(rec[r].op))
        kd = rec[r].kind
        if first == last and (first & pmask) != part:
            hout[r] = -1
            continue
        if repeat and first == last and (kd == READ or (kd == WRITE and d1_wb)):
            j = repeat_run(base, recp, hp, r, nrec, np.int64(a), first, t, np.int64(kd), np.int64(rec[r].site),
                           line_bits, rg0)
            if j > r:
                lines += j - r
                repeats += j - r
                skip = j
                continue
        tl = 0
        if tlb and kd != IFETCH:
            tl = translate(R, np.int64(a), t, pd, npd, line_bits)   # before the access: the walk may evict it
        if first == last and (kd == READ or (kd == WRITE and d1_wb)):
            # Level-1 hits are handled here, without entering the hierarchy.
            e = hint(R, d1)
            hit = False
            if TAGS[e] == first:
                touch(R, d1, e, True)
                hit = True
            else:
                st, e0 = set_base(R, d1, first)
                e = scan(TAGS, e0, d1_ways, first)
                if e >= 0:
                    touch_at(R, d1, e, e0, st, True)
                    hit = True
            if hit:
                lines += 1
                _count_l1_hit(R, d1, e, t, kd)
                if pf:
                    prefetched_hit(R, d1, e, 0)
                    run_prefetchers(R, pd, npd, first, np.int64(a) & lmask, np.int64(rec[r].site), np.int64(0), t)
                if timing:
                    account(R, rg0 + r, np.int64(rec[r].dep), LAT[0] + tl, 0, pd, npd, kd == READ)
                hout[r] = 0
                continue
        # one call site each for fill and write keeps the compiled code small
        path = pd
        n = npd
        k = K_READ
        do_fill = True
        do_write = False
        if kd == IFETCH:
            path = pi
            n = npi
            k = K_IFETCH
        elif kd == WRITE:
            do_fill = False
            do_write = True
        elif kd == RMW:
            do_write = True
        elif kd == PREFETCH or kd == PREFETCHW:
            k = K_PREFETCH
        h = -1
        for line in range(first, last + 1):
            if (line & pmask) != part:
                continue
            if h < 0:
                h = 0
            lines += 1
            hl = 0
            if do_fill:
                hl = fill(R, path, n, np.int64(0), line, k, t) >> 1
                if hl > h:
                    h = hl
            if do_write:
                got = write(R, pd, npd, 0, line, t)
                if not do_fill:
                    hl = got
                    if got > h:
                        h = got
            if pf and kd != IFETCH and k != K_PREFETCH:
                run_prefetchers(R, pd, npd, line, (np.int64(a) & lmask) if line == first else np.int64(0),
                                np.int64(rec[r].site), hl, t)
            elif pf:
                RUN[R_PFHIT] = 0   # an ifetch's prefetched hit is not the next data access's
        hout[r] = h
        if timing:
            lat = (LAT[h] if kd != IFETCH else LAT[ncache + 1 + h]) + tl
            waits = kd == READ or kd == RMW or kd == IFETCH
            account(R, rg0 + r, np.int64(rec[r].dep), lat, h, path, n, waits)
    RUN[R_LINES] += lines
    if repeat:
        R[R_HDR][H_REPEAT] += repeats
    if part == 0:
        RUN[R_RECORDS] += nrec


@njit(cache=True, nogil=True)
def timing_pass(rec, h0, h1, base):
    """Time records from the hit levels the partitions found (the deeper of
    the two when a record's lines fell in both), in record order."""
    R = regions(base)
    nrec = rec.shape[0]
    time_records(R, rec, 0, nrec, h0, h1, R[R_RUN][R_RECORDS] - nrec)


@njit(cache=True, inline="always")
def _cg_probe(R, c, line, t):
    """Cachegrind's per-block probe: hit -> LRU update; miss -> insert,
    dropping the victim (no dirty state, no write-backs). True on miss."""
    e = find(R, c, line)
    if e >= 0:
        touch(R, c, e)
        return False
    insert(R, c, line, 0, t)
    return True


@njit(cache=True, inline="always")
def _cg_ref(R, c, b1, b2, t):
    # cg_sim.c cachesim_ref_is_miss: both blocks are probed; one miss at most.
    m = _cg_probe(R, c, b1, t)
    if b2 != b1:
        m2 = _cg_probe(R, c, b2, t)
        m = m or m2
    return m


@njit(cache=True)
def replay_cachegrind(rec, base, line_bits):
    """Valgrind Cachegrind's I1/D1/LL counting (FORMATS.md 2.3): one access
    per reference even when it straddles two lines, at most one miss, M as
    one read, sizes clamped to the line size, and the LL probed with the
    same (addr, size) whenever L1 misses."""
    R = regions(base)
    RUN = R[R_RUN]
    pd, npd = R[R_PATHD], R[R_HDR][H_NPATHD]
    pi = R[R_PATHI]
    ll = pd[npd - 1]
    line = np.int64(1) << line_bits
    lb = np.uint64(line_bits)
    lines = 0
    for r in range(rec.shape[0]):
        a = rec[r].addr
        t = np.int64(rec[r].tag)
        _count_op(RUN, np.int64(rec[r].op))
        sz = np.int64(rec[r].size)
        if sz > line:
            sz = line
        if sz < 1:
            sz = 1
        kd = rec[r].kind
        if kd == IFETCH:
            c1 = pi[0]
            k = K_IFETCH
        else:
            c1 = pd[0]
            k = K_WRITE if kd == WRITE else K_READ
        b1 = np.int64(a >> lb)
        b2 = np.int64((a + np.uint64(sz - 1)) >> lb)
        lines += 1 if b1 == b2 else 2
        bump(R, c1, t, ACC + k)
        if _cg_ref(R, c1, b1, b2, t):
            bump(R, c1, t, MISS + k)
            bump(R, ll, t, ACC + k)
            if _cg_ref(R, ll, b1, b2, t):
                bump(R, ll, t, MISS + k)
                bump(R, R[R_HDR][H_NCACHE], t, MEM_READ)
    RUN[R_LINES] += lines
    RUN[R_RECORDS] += rec.shape[0]


def _tlb_rows(machine: Machine) -> list:
    """TLBs as cache rows: one 'line' per translation, LRU."""
    return [CacheConfig(t.name, 99, "data", t.entries * machine.line_size, t.assoc, machine.line_size)
            for t in machine.tlbs]


class _Arena:
    """One machine's caches, cold, in a fresh arena."""

    def __init__(self, machine: Machine):
        self.machine = machine
        real = list(machine.caches)
        caches = real + _tlb_rows(machine)
        n = len(caches)
        self.nreal = len(real)
        self.names = [c.name for c in caches]
        entries = sum(c.sets * c.assoc for c in caches)
        nsets = sum(c.sets for c in caches)
        M, offs = build({
            "P": n * NPARAM, "TAGS": entries, "DIRTY": -(-entries // 8), "RS": entries, "SS": nsets,
            "CS": n * HS, "HINT": HS * n, "BELOW": n, "ABOVE": n * n,
            "STATS": (n + 1) * NTAGS * NCNT, "STACK": STACK * 4, "RUN": NRUN, "PATHD": n, "PATHI": n,
            "VALID": HS * n, "SCR": 2 * n, "LAT": 2 * (n + 1), "TIME": TRING + machine.window,
            "MSH": sum(c.mshrs for c in caches), "MSHI": n, "PFR": entries,
            "PFS": sum(pfm.state_words(name) for c in caches for name in c.prefetchers), "PFQ": pfm.QUEUE,
            "REG": 1 + 3 * len(machine.regions), "TLBMAP": 6, "TLBLAT": n})
        self.M = M
        self.offs = offs
        view = lambda key, size: M[offs[key]:offs[key] + size]  # noqa: E731
        self.P = view("P", n * NPARAM).reshape(n, NPARAM)
        self.tags = view("TAGS", entries)
        self.tags[:] = -1
        self.dirty = view("DIRTY", -(-entries // 8)).view(np.uint8)[:entries]
        ss = view("SS", nsets)
        self.cs = view("CS", n * HS).reshape(n, HS)[:, :pol.CS_COLUMNS]
        self.stats = view("STATS", (n + 1) * NTAGS * NCNT).reshape(n + 1, NTAGS, NCNT)
        self.run = view("RUN", NRUN)
        below = view("BELOW", n)
        above = view("ABOVE", n * n).reshape(n, n)
        hints = view("HINT", HS * n)
        e = s = msh = pfs = 0
        for ci, c in enumerate(caches):
            sps = c.sets // c.slices
            P = self.P[ci]
            P[SETS] = c.sets
            P[WAYS] = c.assoc
            P[POLICY] = pol.POLICY_IDS[c.replacement_policy]
            P[WB] = 1 if c.write_policy == "write_back" else 0
            P[WA] = 1 if c.write_allocate else 0
            P[CLUS] = CLUS_IDS[c.clusivity]
            P[EOFF] = e
            P[SOFF] = s
            P[SLICES] = c.slices
            P[SPS] = sps
            P[MASK] = (sps - 1) if (sps & (sps - 1)) == 0 else -1
            P[CSOFF] = ci * HS   # a host line per cache, as HINT
            P[ENTRIES] = c.sets * c.assoc
            P[MSHRS] = c.mshrs
            P[MSHOFF] = msh
            msh += c.mshrs
            for slot, soff, name in zip((PF1, PF2), (PFS1, PFS2), c.prefetchers):
                P[slot] = pfm.PREFETCHER_IDS[name]
                P[soff] = pfs
                pfs += pfm.state_words(name)
            hints[ci * HS] = e
            ss[s:s + c.sets] = pol.set_init(c.replacement_policy, c.assoc)
            # a distinct, seed-derived generator per cache
            self.cs[ci, pol.rng.RNG] = np.uint64((machine.seed * 1000003 + ci + 1) % (1 << 64)).view(np.int64)
            e += c.sets * c.assoc
            s += c.sets
        below[:] = -1
        by_level: dict[int, list[int]] = {}
        for ci, c in enumerate(real):
            by_level.setdefault(c.level, []).append(ci)
        max_level = max(by_level)
        for ci, c in enumerate(real):
            if c.level < max_level:
                below[ci] = by_level[c.level + 1][0]
            for cj, u in enumerate(real):
                if u.level < c.level:
                    above[ci, cj] = 1
        from ..config import PAGE_SIZES
        reg = view("REG", 1 + 3 * len(machine.regions))
        reg[0] = len(machine.regions)
        for i, (a, b, ps) in enumerate(machine.regions):
            reg[1 + 3 * i:4 + 3 * i] = [np.uint64(a % (1 << 64)).view(np.int64),
                                        np.uint64(b % (1 << 64)).view(np.int64), ps.bit_length() - 1]
        tmap = view("TLBMAP", 6)
        tmap[:] = -1
        tlat = view("TLBLAT", n)
        for k, t in enumerate(machine.tlbs):
            row = len(real) + k
            tlat[row] = t.hit_latency
            for ps in t.page_sizes:
                tmap[PAGE_SIZES[ps] + (3 if t.level == 2 else 0)] = row
        lower = [by_level[lv][0] for lv in range(2, max_level + 1)]
        l1 = by_level[1]
        self.path_d = np.array([ci for ci in l1 if caches[ci].serves_data] + lower, np.int64)
        self.path_i = np.array([ci for ci in l1 if caches[ci].serves_instructions] + lower, np.int64)
        view("PATHD", len(self.path_d))[:] = self.path_d
        view("PATHI", len(self.path_i))[:] = self.path_i
        M[H_NCACHE] = n
        M[H_NPATHD] = len(self.path_d)
        M[H_NPATHI] = len(self.path_i)
        M[H_WINDOW] = machine.window
        M[H_TIMING] = 1 if machine.timing and machine.semantics == "default" else 0
        M[H_PREFETCH] = 1 if any(c.prefetchers for c in caches) and machine.semantics == "default" else 0
        M[H_TLB] = 1 if machine.tlbs and machine.semantics == "default" else 0
        M[H_REPEAT] = 1
        M[H_LINEBITS] = int(machine.line_size).bit_length() - 1
        lat = view("LAT", 2 * (n + 1))
        mem_lat = machine.memory_latency
        for k, path in ((0, self.path_d), (n + 1, self.path_i)):
            if len(path):
                vals = latencies(caches, list(path), mem_lat)
                lat[k:k + len(vals)] = vals
        self.line_bits = int(machine.line_size).bit_length() - 1


def partitions(machine: Machine, threads: int) -> int:
    """How many set partitions can replay this machine in parallel with
    results identical to one thread: lines with different line % P never meet
    in any set when every cache's set count is a multiple of P (a set is
    line % sets), so each partition is an independent hierarchy. That needs
    no slice hash, no shared random stream (random, brrip), no hardware
    prefetchers (their timing feedback is per record) and Cachegrind's
    per-record counting off; timing is computed afterwards in record order."""
    if threads < 2 or machine.semantics != "default" or machine.tlbs:
        return 1
    for c in machine.caches:
        if c.slices != 1 or c.sets % 2 or c.replacement_policy in ("random", "brrip") or c.prefetchers:
            return 1
    return 2


def _contiguous(records: np.ndarray) -> np.ndarray:
    """The kernels take one writable, contiguous RECORD_DTYPE array (one
    compiled signature); anything else (a read-only memmap, a strided view,
    another field order) is copied into one."""
    if records.dtype == RECORD_DTYPE and records.flags.c_contiguous and records.flags.writeable:
        return records
    return np.array(records, dtype=RECORD_DTYPE, order="C")


class EngineState:
    """A machine's cold caches; replays record chunks, possibly on 2 threads."""

    def __init__(self, machine: Machine, threads: int | None = None, lean: bool | None = None):
        import os
        self.machine = machine
        # the lean loop where it gives the same results (lean.plain); lean=False forces the generic one
        self.lean = plain(machine) if lean is None else lean and plain(machine)
        # its level-1 pass with nibble-stack LRU compiled in (+14 % on a record
        # that opens a line); a separate entry point, so only one copy compiles
        nibble = self.lean and nibble_l1(machine)
        self.kernel = (replay_lean_nibble if nibble else replay_lean) if self.lean else replay_default
        self._front = lean_front_nibble if nibble else lean_front
        env = int(os.environ.get("CACHESIM_THREADS", "0"))
        if threads is None:
            # Default: on a plain machine and a multi-core host, the lean
            # replay's pipeline (level 1 | the levels below: 1.5-1.8x on the
            # 2-vCPU VM of this project); otherwise one thread. Two set
            # partitions only when asked: on that VM they ran slower than one
            # (both threads stream every record); on an earlier host they
            # gained 1.3-1.5x.
            threads = env or (2 if (os.cpu_count() or 1) >= 2 and self.lean else 1)
        self.pipelined = threads >= 2 and self.lean
        self.nparts = 1 if self.pipelined else partitions(machine, threads)
        self.arenas = [_Arena(machine) for _ in range(self.nparts)]
        a0 = self.arenas[0]
        self.names = a0.names
        self.nreal = a0.nreal        # cache rows; the TLB rows follow
        self.path_d, self.path_i = a0.path_d, a0.path_i
        self.line_bits = a0.line_bits
        self._pool = None
        self._pending = [None] * self.NSLOTS
        self._k = 0
        self._hbuf = None
        if self.pipelined:
            self._start_pipeline()

    @property
    def M(self) -> np.ndarray:
        self.sync()
        return self.arenas[0].M

    @property
    def tags(self) -> np.ndarray:
        if self.nparts != 1:
            raise AttributeError("tags of a partitioned state: use cached_in()")
        self.sync()
        return self.arenas[0].tags

    @property
    def stats(self) -> np.ndarray:
        self.sync()
        if self.nparts == 1:
            return self.arenas[0].stats
        return sum(a.stats for a in self.arenas)

    @property
    def run(self) -> np.ndarray:
        self.sync()
        if self.nparts == 1:
            return self.arenas[0].run
        r = self.arenas[0].run.copy()
        r[R_LINES] = sum(int(a.run[R_LINES]) for a in self.arenas)
        return r

    def replay(self, records: np.ndarray) -> None:
        """Replay a chunk of records. The caller may overwrite the chunk once
        this returns (Trace.chunks(reuse=True)): a pipeline's worker may
        still be on its last slots, but reads records only to time them,
        and with timing on the pipeline drains before returning."""
        if len(records) == 0:
            return
        rec = _contiguous(records)
        if self.machine.semantics == "cachegrind":
            replay_cachegrind(rec, self.M.ctypes.data, self.line_bits)
            return
        houts = self._houts(len(rec))
        if self.pipelined:
            self._replay_pipelined(rec, houts[0])
            return
        if self.nparts == 1:
            self.kernel(rec, self.M.ctypes.data, self.line_bits, 0, 1, houts[0])
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(self.nparts)
        futs = [self._pool.submit(self.kernel, rec, a.M.ctypes.data, self.line_bits, i, self.nparts, houts[i])
                for i, a in enumerate(self.arenas)]
        for f in futs:
            f.result()
        if self.arenas[0].M[H_TIMING] == 1:  # partitioned: time the records in order now
            timing_pass(rec, houts[0], houts[1], self.M.ctypes.data)

    # Level-1 requests per pipeline slot (0.5-2 ms of work against ~20 us of
    # handoff) and slots in the ring. The ring holds ~20-50 ms of work: on the
    # project's VM the host takes a vCPU away for milliseconds at a time
    # (steal time was 25-50 % of a replay), and a stage can only run ahead
    # of a stalled partner as far as the ring reaches. Ring sizes measured on
    # it, random stream: 3 x 16 Ki 1.00, 6 x 32 Ki 1.59, 16 x 32 Ki 1.81.
    SLOT = 1 << 15
    NSLOTS = 16

    def _start_pipeline(self) -> None:
        """The pipeline's worker thread, ring and buffers, made with the cold
        caches rather than by the first replay: they are the simulator's
        set-up, like the arena (1.3-4.5 ms here, 3-9 % of a 10 M-record
        sequential replay, had been inside it)."""
        from concurrent.futures import ThreadPoolExecutor
        self._pool = ThreadPoolExecutor(1)
        # One block on huge pages for the ring and the lower levels'
        # buffers, written once here: in 4 KiB pages their first use took
        # ~2600 page faults, 2-3 ms of a 50-80 ms sequential replay.
        cap = int(queue_cap(self.line_bits))
        words = 2 * (self.SLOT + cap)
        block = zeroed(self.NSLOTS * words + int(queue_words(len(self.path_d), self.line_bits)))
        block[::512] = 0   # fault every page in now (4 KiB apart; huge pages take one each)
        self._slots = [block[k * words:(k + 1) * words] for k in range(self.NSLOTS)]
        self._cap = cap
        self._below = block[self.NSLOTS * words:]
        for h in self._houts(CHUNK):
            h.fill(0)   # its pages too
        self._pool.submit(int).result()   # the worker thread starts on its first task

    def _replay_pipelined(self, rec: np.ndarray, hout: np.ndarray) -> None:
        """lean.lean_front on this thread, lean.lean_back on a worker, over a
        ring of slots; the worker takes slots in the order they were filled.
        Without timing the worker may still be on this chunk's last slots
        when replay() returns (it reads no record), so the pipeline does not
        drain at every chunk; everything that reads state calls sync()."""
        a = self.arenas[0]
        base, lb = a.M.ctypes.data, self.line_bits
        rg0 = int(a.run[R_RECORDS])
        r = 0
        try:
            while r < len(rec):
                k = self._k
                if self._pending[k] is not None:
                    self._pending[k].result()
                slot = self._slots[k].ctypes.data
                r1, nq = self._front(rec, r, base, lb, hout, slot, self.SLOT)
                self._pending[k] = self._pool.submit(lean_back, rec, r, r1, base, slot, nq,
                                                     self._below.ctypes.data, self._cap, hout, rg0)
                r, self._k = r1, (k + 1) % self.NSLOTS
        finally:
            if a.M[H_TIMING] == 1 or r < len(rec):
                self.sync()
        a.run[R_RECORDS] += len(rec)

    def _houts(self, n: int) -> list:
        """Per-part hit-level buffers for n records, reused from chunk to
        chunk: a fresh 1 MiB buffer per chunk was ~250 page faults of the
        worker's. Safe while the pipeline's worker may still be on the last
        chunk's slots: it writes them in ring order before the new ones, and
        nothing reads them then (with timing the pipeline drains per chunk)."""
        if self._hbuf is None or len(self._hbuf[0]) < n:
            self._hbuf = [np.empty(n, np.int8) for _ in range(self.nparts)]
        return [h[:n] for h in self._hbuf]

    def sync(self) -> None:
        """Wait for the pipeline's worker to finish what it was given."""
        for k, p in enumerate(self._pending):
            if p is not None:
                p.result()
                self._pending[k] = None

    def cached_in(self, name: str, addr: int) -> bool:
        """Is the line holding byte `addr` in cache `name`?"""
        self.sync()
        line = int(addr) >> self.line_bits
        a = self.arenas[line % self.nparts]
        return probe(a.M.ctypes.data, self.names.index(name), line) >= 0

    def contains(self, addr: int) -> bool:
        """Is the line holding byte `addr` in any cache? (pycachesim's
        contains(0) crashed; this works for any 64-bit address.)"""
        return any(self.cached_in(n, addr) for n in self.names)

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self.sync()   # the worker writes into the arena this object owns
            self._pool.shutdown(wait=False)


@njit(cache=True)
def probe(base, c, line):
    return find(regions(base), c, line)
