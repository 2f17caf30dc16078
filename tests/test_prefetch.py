"""Hardware prefetchers (next-line, DCU, IP-stride, stream, adjacent-line) and
software prefetch records: counted gem5-style as issued, useful and late."""
import numpy as np
import pytest

from cachesim.api import run_records
from cachesim.config import machine_from_dict
from cachesim.errors import ConfigError
from cachesim.trace import IFETCH, PREFETCH, READ, Trace, TraceMeta, empty


def mach(l1=(), l2=(), timing=True):
    return machine_from_dict({
        "machine": {"name": "pf", "frequency_ghz": 1.0},
        "caches": {"L1": {"level": 1, "size": "32KiB", "assoc": 8, "prefetcher": list(l1)},
                   "L2": {"level": 2, "size": "256KiB", "assoc": 8, "prefetcher": list(l2)}},
        "memory": {"latency_ns": 100}, "replay": {"timing": timing}})


def stream(nlines, per_line=1, site=7, stride=1):
    n = nlines * per_line
    r = empty(n)
    r["addr"] = (np.arange(n) // per_line) * 64 * stride + (np.arange(n) % per_line) * 8
    r["size"] = 8
    r["site"] = site
    return r


def run(m, r):
    return run_records(m, Trace(r, TraceMeta()))


def test_tagged_next_line_covers_a_stream_after_one_miss():
    lines = 2000
    off = run(mach(timing=False), stream(lines))["levels"]["L1"]
    on = run(mach(l1=["next_line"], timing=False), stream(lines))["levels"]["L1"]
    assert off["misses"] == lines
    assert on["misses"] == 1
    assert on["prefetch_issued"] == lines and on["prefetch_useful"] == lines - 1


def test_dcu_streams_on_ascending_accesses_within_a_page():
    """Intel's DCU prefetcher fires on an ascending access to a line just
    brought in: an 8-byte stream misses once per 4 KiB page (it never
    prefetches across one), every other line arrives by prefetch."""
    pages = 20
    lines = 64 * pages
    lv = run(mach(l1=["dcu"], timing=False), stream(lines, per_line=8))["levels"]["L1"]
    assert lv["misses"] == pages
    assert lv["prefetch_issued"] == lines - pages and lv["prefetch_useful"] == lines - pages


def test_dcu_ignores_single_and_descending_accesses():
    lines = 500
    # one access per line, as a random stream or a pointer chase: nothing to trigger it
    one = run(mach(l1=["dcu"], timing=False), stream(lines))["levels"]["L1"]
    assert one["prefetch_issued"] == 0 and one["misses"] == lines
    # two accesses per line, the second at a lower offset: not ascending
    r = stream(lines, per_line=2)
    r["addr"] = (np.arange(2 * lines) // 2) * 64 + 56 - (np.arange(2 * lines) % 2) * 48
    down = run(mach(l1=["dcu"], timing=False), r)["levels"]["L1"]
    assert down["prefetch_issued"] == 0 and down["misses"] == lines
    # the tagged next-line prefetcher fetches on every miss instead
    tagged = run(mach(l1=["next_line"], timing=False), stream(lines, stride=2))["levels"]["L1"]
    assert tagged["prefetch_issued"] == lines


def test_dcu_remembers_only_the_last_lines_brought_in():
    """An ascending second access triggers only while its line is among the
    last dcu.ENTRIES lines brought in."""
    from cachesim.engine.prefetchers.dcu import ENTRIES
    for k in (ENTRIES, ENTRIES + 2):
        # touch k lines (8 KiB apart: different pages), then each again higher up, in the same
        # order: the first k - ENTRIES are forgotten by then
        n = 50 * k
        r = empty(2 * n)
        grp = np.arange(2 * n) // (2 * k)
        pos = np.arange(2 * n) % (2 * k)
        r["addr"] = (grp * k + pos % k) * 8192 + np.where(pos < k, 0, 32)
        r["size"] = 8
        lv = run(mach(l1=["dcu"], timing=False), r)["levels"]["L1"]
        assert lv["prefetch_issued"] == 50 * ENTRIES


def test_l2_stream_prefetcher_trains_within_each_page():
    lines = 64 * 50                       # 50 pages of 4 KiB
    lv = run(mach(l2=["stream"], timing=False), stream(lines))["levels"]
    l2 = lv["L2"]
    assert lv["L1"]["misses"] == lines    # L1 has no prefetcher: every line reaches L2
    # per page: two accesses to train, then every line arrives by prefetch
    assert l2["misses"] <= 3 * 50
    assert l2["prefetch_useful"] >= lines - 3 * 50
    assert l2["prefetch_issued"] - l2["prefetch_useful"] <= 2 * 50      # at most DEGREE wasted per page end


def test_stream_prefetcher_does_not_cross_pages():
    lines = 64 * 4
    lv = run(mach(l2=["stream"], timing=False), stream(lines))["levels"]
    # every page starts cold: its first lines miss
    assert lv["L2"]["misses"] >= 4


def test_ip_stride_learns_a_stride_per_site():
    lines = 1000
    off = run(mach(timing=False), stream(lines, stride=3))["levels"]["L1"]
    on = run(mach(l1=["ip_stride"], timing=False), stream(lines, stride=3))["levels"]["L1"]
    assert off["misses"] == lines
    assert on["misses"] <= 4 and on["prefetch_useful"] >= lines - 4
    # strides beyond 2 KiB are not prefetched
    far = run(mach(l1=["ip_stride"], timing=False), stream(300, stride=64))["levels"]["L1"]
    assert far["prefetch_issued"] == 0 and far["misses"] == 300


def test_adjacent_line_fetches_the_buddy_line():
    r = stream(1000, stride=2)            # even lines only
    lv = run(mach(l2=["adjacent_line"], timing=False), r)["levels"]["L2"]
    assert lv["prefetch_issued"] == 1000 and lv["prefetch_useful"] == 0
    r2 = stream(2000)                      # all lines: every odd line was prefetched
    lv = run(mach(l2=["adjacent_line"], timing=False), r2)["levels"]["L2"]
    assert lv["misses"] == 1000 and lv["prefetch_useful"] == 1000


def test_late_prefetches_are_counted_and_still_save_time():
    r = stream(3000)                       # back-to-back loads: prefetches cannot be early enough
    off = run(mach(), r)
    on = run(mach(l1=["next_line"]), r)
    assert on["levels"]["L1"]["prefetch_late"] > 0
    assert on["cycles"] < off["cycles"]
    # 200 loads of a hot line between stream loads: the prefetches now arrive in time
    n, gap = 300, 200
    r = empty(n * (gap + 1))
    r["addr"][::gap + 1] = np.arange(n) * 64 + (1 << 30)
    r["size"] = 8
    spread = run(mach(l1=["next_line"]), r)["levels"]["L1"]
    assert spread["prefetch_useful"] == n - 1 and spread["prefetch_late"] == 0


def test_software_prefetch_records_are_honoured():
    n = 500
    r = empty(2 * n)
    r["addr"][0::2] = np.arange(n) * 4096          # prefetch line i ...
    r["kind"][0::2] = PREFETCH
    r["addr"][1::2] = np.arange(n) * 4096          # ... then load it
    r["kind"][1::2] = READ
    r["size"] = 8
    lv = run(mach(timing=False), r)["levels"]["L1"]
    assert lv["prefetches"] == n and lv["prefetch_misses"] == n
    assert lv["reads"] == n and lv["read_misses"] == 0


def test_bad_prefetcher_config():
    with pytest.raises(ConfigError, match="prefetcher"):
        mach(l1=["belady"])
    with pytest.raises(ConfigError, match="at most"):
        mach(l1=["next_line", "ip_stride", "stream"])


def test_an_instruction_fetch_hit_on_a_prefetched_line_stays_its_own():
    """An ifetch that hits a line the L2's next-line prefetcher brought in
    uses the prefetch up; the next data access that hits the same L2 line
    is a plain hit and must not retrain the prefetcher as a first hit on a
    prefetched line (the flag once leaked from one record to the next)."""
    m = machine_from_dict({
        "machine": {"name": "pf"},
        "caches": {"L1I": {"level": 1, "serves": "instructions", "size": "32KiB", "assoc": 8},
                   "L1D": {"level": 1, "serves": "data", "size": "32KiB", "assoc": 8},
                   "L2": {"level": 2, "size": "256KiB", "assoc": 8, "prefetcher": ["next_line"]}}})
    r = empty(3)
    r["addr"] = [0, 64, 64]          # read A: L2 prefetches A+1; ifetch A+1; read A+1 (an L2 hit)
    r["kind"] = [READ, IFETCH, READ]
    r["size"] = 8
    l2 = run(m, r)["levels"]["L2"]
    assert l2["prefetch_useful"] == 1
    assert l2["prefetch_issued"] == 1   # not a second one for A+2
