"""Counter layout of the stats array ``stats[cache, tag, counter]``.

Row ``n_caches`` holds memory traffic. Hits are derived (accesses - misses)
so the hot loop increments as little as possible.
"""
from numba import njit

# access kinds as the caches see them
K_READ, K_WRITE, K_IFETCH, K_PREFETCH = 0, 1, 2, 3
KINDS = ("read", "write", "ifetch", "prefetch")

ACC = 0          # ACC + k: accesses of kind k
MISS = 4         # MISS + k: misses of kind k
EVICT = 8        # valid lines replaced
WRITEBACK = 9    # line-writes sent to the next level (dirty victims; write-through forwards)
BACKINV = 10     # lines this (inclusive) cache invalidated above it
INVALIDATED = 11  # lines of this cache invalidated by an inclusive cache below
WB_IN = 12       # write-backs received from above
WB_IN_MISS = 13  # ... that missed here
VICTIM_IN = 14   # victims received by an exclusive cache
PF_ISSUED = 15   # hardware prefetch fills this cache's prefetchers issued
PF_USEFUL = 16   # demand hits on lines they brought in
PF_LATE = 17     # ... that had to wait for the prefetch to arrive
NCNT = 20

MEM_READ, MEM_WRITE = 0, 1
NTAGS = 256


def level_dict(s) -> dict:
    """Turn one cache's counters (summed over tags, shape (NCNT,)) into JSON keys."""
    acc = {k: int(s[ACC + i]) for i, k in enumerate(KINDS)}
    miss = {k: int(s[MISS + i]) for i, k in enumerate(KINDS)}
    demand_acc = acc["read"] + acc["write"] + acc["ifetch"]
    demand_miss = miss["read"] + miss["write"] + miss["ifetch"]
    return {
        "accesses": demand_acc,
        "hits": demand_acc - demand_miss,
        "misses": demand_miss,
        "miss_rate": (demand_miss / demand_acc) if demand_acc else 0.0,
        "reads": acc["read"], "read_misses": miss["read"],
        "writes": acc["write"], "write_misses": miss["write"],
        "ifetches": acc["ifetch"], "ifetch_misses": miss["ifetch"],
        "prefetches": acc["prefetch"], "prefetch_misses": miss["prefetch"],
        "evictions": int(s[EVICT]),
        "writebacks": int(s[WRITEBACK]),
        "back_invalidations": int(s[BACKINV]),
        "invalidated": int(s[INVALIDATED]),
        "writebacks_received": int(s[WB_IN]),
        "writebacks_received_misses": int(s[WB_IN_MISS]),
        "victims_received": int(s[VICTIM_IN]),
        "prefetch_issued": int(s[PF_ISSUED]),
        "prefetch_useful": int(s[PF_USEFUL]),
        "prefetch_late": int(s[PF_LATE]),
    }


# run-wide counters (arena region RUN, first words)
R_OPS, R_RECORDS, R_LINES, R_LASTOP, R_STARTED = range(5)


@njit(cache=True, inline="always")
def count_op(RUN, o):
    # An op starts when its id exceeds every id seen before, so a path that
    # revisits earlier ops (lru_walk's shrink phase) is not counted twice.
    if RUN[R_STARTED] == 0 or o > RUN[R_LASTOP]:
        RUN[R_OPS] += 1
        RUN[R_LASTOP] = o
        RUN[R_STARTED] = 1
