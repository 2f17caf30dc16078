"""The lean replay: the same results as replay_default, for plain hierarchies,
one cache level at a time.

Most configs people point at a trace are *plain*: every cache non-inclusive
non-exclusive (`nine`), write-back + write-allocate, no slices, no TLBs, no
hardware prefetchers, one level-1 cache per kind above shared lower levels.
Then no level ever looks at or changes a level above it: a cache's contents
and counters are a function of the requests it receives alone, in order
(demand misses and dirty-victim write-backs from the level above). So a
batch of records can be replayed level by level, exactly:

1. the level-1 pass walks the records and emits, in order, each level-1
   miss (line, kind, tag, record) and each dirty victim's write-back;
2. each lower level's pass walks the requests of the level above, updates
   its own cache and emits its misses and write-backs the same way;
3. memory counts what reaches it.

The order in which a level sees requests is the order the recursive model
(hierarchy.py) delivers them: a miss goes down before the level installs
the line and writes its victim back. Each pass is a short loop over one
cache, whose upcoming sets are known and asked of the host ahead of time;
that, not fewer instructions, is most of the speed. tests/test_lean.py holds
this to replay_default word for word (counters, tags, replacement state,
cycles) and to the reference model.

A record's hit level (hout) is the deepest level any of its lines reached;
with timing on, records are timed in order once their batch has gone
through every level.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..trace import IFETCH, PREFETCH, PREFETCHW, RMW, WRITE
from .arena import (ENTRIES, EOFF, H_NCACHE, H_NPATHD, H_TIMING, HS, MASK, NPARAM, POLICY, R_DIRTY, R_HDR, R_HINT,
                    R_P, R_PATHD, R_PATHI, R_RUN, R_SS, R_STATS, R_TAGS, R_VALID, SETS, SOFF, WAYS, regions)
from .cache import bump, bump_by, hint, insert_at, par, scan, set_base, touch, touch_at
from .lookahead import REC_AHEAD, prefetch_set, record_lines, same_line_run
from .policies import NIBBLE, nibble_lru
from .policies.lru import STACK_WAYS, evict_to_front, to_front
from .rawarray import as_ptr, as_ptr8, prefetch
from .stats import (ACC, EVICT, K_IFETCH, K_PREFETCH, K_READ, K_WRITE, MEM_READ, MEM_WRITE, MISS, NCNT, NTAGS,
                    R_LINES, R_RECORDS, WB_IN, WB_IN_MISS, WRITEBACK, count_op)
from .timing import time_records

BATCH = 8192     # level-1 requests per batch: the buffers stay in the host's L2
AHEAD = 16       # requests ahead whose sets a lower level asks the host for
WB = 7           # request kind of a write-back (demand kinds are K_READ..K_PREFETCH)


def nibble_l1(machine) -> bool:
    """Are both level-1 caches nibble-stack LRU (the lean replay's level-1
    pass then has the policy compiled in: lean_front_nibble)?"""
    return all(c.replacement_policy == "lru" and c.assoc <= STACK_WAYS for c in machine.caches if c.level == 1)


def plain(machine) -> bool:
    """Does the lean replay reproduce replay_default on this machine?"""
    if machine.semantics != "default" or machine.tlbs:
        return False
    l1 = [c for c in machine.caches if c.level == 1]
    if sum(c.serves_data for c in l1) != 1 or sum(c.serves_instructions for c in l1) != 1:
        return False
    return all(c.clusivity == "nine" and c.write_policy == "write_back" and c.write_allocate
               and c.slices == 1 and not c.prefetchers for c in machine.caches)


@njit(cache=True, inline="always")
def _queue(addr, j, cap):
    """Request buffer j (the input of path position j + 1): (j + 1) * cap
    requests of two words, after buffers 0..j-1."""
    return as_ptr(addr + 8 * j * (j + 1) * cap)


@njit(cache=True, inline="always")
def _emit(Q, n, line, meta):
    Q[2 * n] = line
    Q[2 * n + 1] = meta
    return n + 1


@njit(cache=True, inline="always")
def _look_up(R, c, line, inl):
    """Find `line` in cache c (its hint first) and touch it: (entry, 0, 0),
    or (-1, set, first entry of the set) for the install when it missed."""
    TAGS = R[R_TAGS]
    e = hint(R, c)
    if TAGS[e] == line:
        touch(R, c, e, inl)
        return e, 0, 0
    st, e0 = set_base(R, c, line)
    e = scan(TAGS, e0, par(R, c, WAYS), line)
    if e >= 0:
        touch_at(R, c, e, e0, st, inl)
    return e, st, e0


@njit(cache=True, inline="always")
def _install(R, c, line, d, t, st, e0, O, no, inl):
    """Install `line` (dirty bit d) in the set found missing; a dirty
    victim is written back: counted here, sent on as a request to O."""
    vline, vd = insert_at(R, c, line, d, t, e0, st, inl)
    if vline >= 0 and vd:
        bump(R, c, t, WRITEBACK)
        no = _emit(O, no, vline, (t << 8) | WB)
    return no


@njit(cache=True)
def _level(R, c, pos, Q, nq, O, H):
    """Cache c (path position pos) takes requests Q[0:nq] of the level
    above; its misses and write-backs go to O. Returns how many. A demand
    hit raises its record's hit level H[record] to pos."""
    # Two compiled copies of the pass: nibble-stack LRU (the default policy)
    # in registers, every other policy through cache.py's helpers.
    if nibble_lru(par(R, c, POLICY), par(R, c, WAYS)):
        return _level_nibble(R, c, pos, Q, nq, O, H)
    return _level_pass(R, c, pos, Q, nq, O, H)


@njit(cache=True, inline="always")
def _level_pass(R, c, pos, Q, nq, O, H):
    DIRTY = R[R_DIRTY]
    no = 0
    for i in range(nq):
        if i + AHEAD < nq:
            prefetch_set(R, c, Q[2 * (i + AHEAD)])
        line = Q[2 * i]
        m = Q[2 * i + 1]
        k = m & 7
        t = (m >> 8) & 255
        if k == WB:
            bump(R, c, t, WB_IN)
        else:
            bump(R, c, t, ACC + k)
        e, st, e0 = _look_up(R, c, line, True)
        if e >= 0:
            if k == WB:
                DIRTY[e] = 1
            elif H[m >> 16] < pos:
                H[m >> 16] = np.uint8(pos)
        elif k == WB:
            bump(R, c, t, WB_IN_MISS)
            no = _install(R, c, line, 1, t, st, e0, O, no, True)
        else:
            bump(R, c, t, MISS + k)
            no = _emit(O, no, line, m)
            no = _install(R, c, line, 0, t, st, e0, O, no, True)
    return no


@njit(cache=True, inline="always")
def _set_of(line, mask, sets):
    """cache.set_index of an unsliced cache (plain machines have no slices)."""
    return line & mask if mask >= 0 else line % sets


@njit(cache=True, inline="always")
def _level_nibble(R, c, pos, Q, nq, O, H):
    """_level_pass for a nibble-stack LRU cache, with the cache's geometry,
    hint, hint flag and valid count in registers for the whole pass. The
    helpers of cache.py re-read them from the arena at every use: every
    store of the pass (a tag, a counter) goes to the same arena, so the
    compiler cannot tell they did not change (+7-8 % on the benchmark's
    streams, in-process A/B). Only this pass touches cache c while it runs,
    so the three words are written back once at the end. Each step is the
    one cache.py takes (look_up, touch, insert_at under NIBBLE), word for
    word: tests/test_lean.py compares the whole arena with replay_default."""
    P = R[R_P]
    TAGS = R[R_TAGS]
    DIRTY = R[R_DIRTY]
    SS = R[R_SS]
    HINT = R[R_HINT]
    VALID = R[R_VALID]
    ST = R[R_STATS]
    p = c * NPARAM
    ways = P[p + WAYS]
    mask = P[p + MASK]
    sets = P[p + SETS]
    eoff = P[p + EOFF]
    soff = P[p + SOFF]
    entries = P[p + ENTRIES]
    sb = c * NTAGS * NCNT
    eh = HINT[c * HS]
    last = HINT[c * HS + 1]
    valid = VALID[c * HS]
    mid = ways > 8 and ways & (ways - 1) != 0   # 9-15 ways may span three host lines
    e1 = ways - 1
    no = 0
    for i in range(nq):
        if i + AHEAD < nq:
            sa = _set_of(Q[2 * (i + AHEAD)], mask, sets)
            f0 = eoff + sa * ways
            prefetch(TAGS, f0)
            prefetch(TAGS, f0 + e1)
            if mid:
                prefetch(TAGS, f0 + 8)   # see lookahead.prefetch_set
            prefetch(DIRTY, f0)
            prefetch(DIRTY, f0 + e1)
            prefetch(SS, soff + sa)
        line = Q[2 * i]
        m = Q[2 * i + 1]
        k = m & 7
        t = (m >> 8) & 255
        sr = sb + t * NCNT
        if k == WB:
            ST[sr + WB_IN] += 1
        else:
            ST[sr + ACC + k] += 1
        s = _set_of(line, mask, sets)
        e0 = eoff + s * ways
        e = -1
        if TAGS[eh] == line:
            e = eh
            if last != 1:
                SS[soff + s] = to_front(SS[soff + s], e - e0)
                last = 1
        else:
            e = scan(TAGS, e0, ways, line)
            if e >= 0:
                SS[soff + s] = to_front(SS[soff + s], e - e0)
                eh = e
                last = 1
        if e >= 0:
            if k == WB:
                DIRTY[e] = 1
            elif H[m >> 16] < pos:
                H[m >> 16] = np.uint8(pos)
            continue
        d = 0
        if k == WB:
            ST[sr + WB_IN_MISS] += 1
            d = 1
        else:
            ST[sr + MISS + k] += 1
            no = _emit(O, no, line, m)
        w = -1
        if valid < entries:
            for j in range(e1, -1, -1):
                if TAGS[e0 + j] == -1:
                    w = j
            if w >= 0:
                valid += 1
        vline = -1
        vd = 0
        if w < 0:
            w, ss = evict_to_front(SS[soff + s], ways)
            vline = TAGS[e0 + w]
            vd = DIRTY[e0 + w]
            ST[sr + EVICT] += 1
        else:
            ss = to_front(SS[soff + s], w)
        TAGS[e0 + w] = line
        DIRTY[e0 + w] = d
        SS[soff + s] = ss
        eh = e0 + w
        last = 1
        if vline >= 0 and vd:
            ST[sr + WRITEBACK] += 1
            no = _emit(O, no, vline, (t << 8) | WB)
    HINT[c * HS] = eh
    HINT[c * HS + 1] = last
    VALID[c * HS] = valid
    return no


@njit(cache=True)
def _memory(R, n, Q, nq, H):
    """Memory takes what the last level sent: reads of its misses (the
    record's hit level becomes n) and its write-backs."""
    ncache = R[R_HDR][H_NCACHE]
    for i in range(nq):
        m = Q[2 * i + 1]
        t = (m >> 8) & 255
        if m & 7 == WB:
            bump(R, ncache, t, MEM_WRITE)
        else:
            bump(R, ncache, t, MEM_READ)
            H[m >> 16] = np.uint8(n)


@njit(cache=True)
def _level1(R, rec, RECP, r, nrec, lb, line_bits, H, Q1, limit):
    """The level-1 pass: records r.. until `limit` requests are queued in Q1
    or the records end; returns the next record and the number of requests
    queued. Every record's level-1 hit level is 0: the caller zeroes H
    (_zero) before the levels below raise it; in the pipeline that is the
    worker, which takes 10 MB of stores per 10 M records off the front, the
    pipeline's slower stage on streams."""
    return _level1_pass(R, rec, RECP, r, nrec, lb, line_bits, H, Q1, limit, True)


@njit(cache=True)
def _level1_nibble(R, rec, RECP, r, nrec, lb, line_bits, H, Q1, limit):
    """_level1 when both level-1 caches are nibble-stack LRU (nibble_l1):
    the policy dispatch compiled out. A separate entry point, not a branch
    in _level1, so a replay compiles only the copy it runs (the pass is the
    largest piece of the lean replay's cold compile)."""
    return _level1_pass(R, rec, RECP, r, nrec, lb, line_bits, H, Q1, limit, NIBBLE)


@njit(cache=True, inline="always")
def _level1_pass(R, rec, RECP, r, nrec, lb, line_bits, H, Q1, limit, inl):
    DIRTY = R[R_DIRTY]
    RUN = R[R_RUN]
    pd = R[R_PATHD]
    pi = R[R_PATHI]
    lines = 0
    nq = 0
    while r < nrec and nq < limit:
        prefetch(RECP, 4 * (r + REC_AHEAD))
        a = rec[r].addr
        first, last = record_lines(a, rec[r].size, line_bits)
        t = np.int64(rec[r].tag)
        count_op(RUN, np.int64(rec[r].op))
        kd = rec[r].kind
        c1 = pd[0]
        k = K_READ
        if kd == IFETCH:
            c1 = pi[0]
            k = K_IFETCH
        elif kd == PREFETCH or kd == PREFETCHW:
            k = K_PREFETCH
        elif kd == WRITE:
            k = K_WRITE
        meta = (r << 16) | (t << 8) | k
        for line in range(first, last + 1):
            bump(R, c1, t, ACC + k)
            e, st, e0 = _look_up(R, c1, line, inl)
            if e < 0:
                bump(R, c1, t, MISS + k)
                nq = _emit(Q1, nq, line, meta)
                nq = _install(R, c1, line, 1 if kd == WRITE else 0, t, st, e0, Q1, nq, inl)
                e = hint(R, c1)
            if kd == WRITE:
                DIRTY[e] = 1
            elif kd == RMW:
                # the read brought the line into L1: the write hits there
                bump(R, c1, t, ACC + K_WRITE)
                touch(R, c1, e, inl)
                DIRTY[e] = 1
        lines += last - first + 1
        r += 1
        if first == last and kd != RMW:
            # Records repeating this one's line, kind, tag, op and size
            # only count level-1 hits on the entry just touched (7 of 8
            # records of an 8-byte stream): absorb the run in one go.
            j = same_line_run(RECP, r - 1, nrec, lb, line_bits)
            if j > r:
                touch(R, c1, hint(R, c1), inl)
                bump_by(R, c1, t, ACC + k, j - r)
                lines += j - r
                r = j
    RUN[R_LINES] += lines
    return r, nq


@njit(cache=True, inline="always")
def _zero(H, r0, r1):
    for q in range(r0, r1):
        H[q] = 0    # the raw pointer: no negative-index wraparound, so a memset


@njit(cache=True)
def _below(R, Q1, nq, qa, cap, H):
    """Levels 2.. and memory take the nq level-1 requests at Q1; buffer j of
    qa (j >= 1) holds the requests for path position j + 1."""
    pd, n = R[R_PATHD], R[R_HDR][H_NPATHD]
    Q = Q1
    for pos in range(1, n):
        O = _queue(qa, pos, cap)
        nq = _level(R, pd[pos], pos, Q, nq, O, H)
        Q = O
    _memory(R, n, Q, nq, H)


@njit(cache=True, inline="always")
def queue_cap(line_bits):
    """Requests per BATCH a request buffer must hold: level 1 emits at most
    two requests per line and a record spans at most `most` lines; each
    level below adds at most one write-back per request, so path position
    pos's input holds at most pos * queue_cap (buffer pos - 1, _queue)."""
    most = (65535 >> line_bits) + 2
    return BATCH + 2 * most


@njit(cache=True, inline="always")
def queue_words(n, line_bits):
    """Words of the request buffers of an n-level data path (_queue)."""
    return n * (n + 1) * queue_cap(line_bits)


@njit(cache=True, nogil=True)
def replay_lean(rec, base, line_bits, part, nparts, hout):
    """replay_default's contract (same arguments, same state, same results)
    for machines where plain() holds: batches of BATCH level-1 requests go
    through every level, then are timed. Never set-partitioned (part 0 of
    nparts 1): on two threads EngineState pipelines it instead."""
    _replay(_level1, rec, base, line_bits, hout)


@njit(cache=True, nogil=True)
def replay_lean_nibble(rec, base, line_bits, part, nparts, hout):
    """replay_lean when nibble_l1 holds."""
    _replay(_level1_nibble, rec, base, line_bits, hout)


@njit(cache=True, inline="always")
def _replay(level1, rec, base, line_bits, hout):
    R = regions(base)
    RUN = R[R_RUN]
    n = R[R_HDR][H_NPATHD]
    timing = R[R_HDR][H_TIMING] == 1
    nrec = rec.shape[0]
    rg0 = RUN[R_RECORDS]
    RECP = as_ptr(rec.ctypes.data)
    H = as_ptr8(hout.ctypes.data)
    cap = queue_cap(line_bits)
    buf = np.empty(queue_words(n, line_bits), np.int64)
    # the argument types lean_front and lean_back pass: one compiled copy of
    # the level-1 pass and _below, not one per literal or unsigned argument
    qa = np.int64(buf.ctypes.data)
    r = np.int64(0)
    while r < nrec:
        r0 = r
        r, nq = level1(R, rec, RECP, r, nrec, np.uint64(line_bits), line_bits, H, _queue(qa, 0, cap),
                       np.int64(BATCH))
        _zero(H, r0, r)
        _below(R, _queue(qa, 0, cap), nq, qa, cap, H)
        if timing:
            time_records(R, rec, r0, r, hout, hout, rg0)
    RUN[R_RECORDS] += nrec
    buf[0] = 0   # numba frees an array after its last use: the queues live in it until here


# The pipelined replay: the same passes on two threads. The calling thread
# runs the level-1 pass into the next slot of a ring (EngineState.NSLOTS)
# while a worker runs the levels below (and timing) on the slots already
# filled, oldest first; each level still sees its requests in order, so
# results are those of replay_lean, and the two threads touch disjoint state
# (arena.HS keeps their hot words on separate host lines).

@njit(cache=True, nogil=True)
def lean_front(rec, r, base, line_bits, hout, slot, limit):
    """Level-1 pass from record r into the slot at address `slot` until
    `limit` requests: (next record, requests)."""
    R = regions(base)
    return _level1(R, rec, as_ptr(rec.ctypes.data), r, rec.shape[0], np.uint64(line_bits), line_bits,
                   as_ptr8(hout.ctypes.data), as_ptr(slot), limit)


@njit(cache=True, nogil=True)
def lean_front_nibble(rec, r, base, line_bits, hout, slot, limit):
    """lean_front when nibble_l1 holds."""
    R = regions(base)
    return _level1_nibble(R, rec, as_ptr(rec.ctypes.data), r, rec.shape[0], np.uint64(line_bits), line_bits,
                          as_ptr8(hout.ctypes.data), as_ptr(slot), limit)


@njit(cache=True, nogil=True)
def lean_back(rec, r0, r1, base, slot, nq, qa, cap, hout, rg0):
    """Levels 2.. on a slot's nq requests, BATCH at a time (their buffers at
    qa stay in the host's L2), then time records r0..r1-1."""
    R = regions(base)
    H = as_ptr8(hout.ctypes.data)
    _zero(H, r0, r1)
    for k in range(0, nq, BATCH):
        _below(R, as_ptr(slot + 16 * k), min(BATCH, nq - k), qa, cap, H)
    if R[R_HDR][H_TIMING] == 1:
        time_records(R, rec, r0, r1, hout, hout, rg0)
