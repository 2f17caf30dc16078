"""perf script text reader (cachesim.readers.perf; FORMATS.md section 1.2).

The real inputs in tests/data/perf were made with perf 6.1 on this project's
VM (commands in tests/data/perf/README.txt).  Every text made from one
recording lists the same samples, so the ``perf mem report -D -x,`` dump of
the same perf.data is an independent oracle for the addresses and ips of
each ``perf script`` layout.
"""
import gzip
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cachesim.errors import TraceError
from cachesim.readers import perf, perf_mem, textio
from cachesim.trace import PREFETCH, READ, RECORD_DTYPE, WRITE, TraceMeta

from conftest import DATA

PD = DATA / "perf"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
M32 = 0xFFFFFFFF


def load(path, skip_bad=False):
    meta = TraceMeta()
    chunks = list(perf.read(path, meta, skip_bad))
    for c in chunks:
        assert c.dtype == RECORD_DTYPE
    recs = np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)
    return recs, meta


def write(tmp_path, text, name="t.perf"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def oracle(name):
    """(addr, ip, dsrc) per sample from a `perf mem report -D -x<sep>` dump."""
    lines = (PD / name).read_text().splitlines()
    sep = ";" if "semicolon" in name else ","
    cols = [c.strip() for c in lines[0].lstrip("#").split(",")]
    out = []
    for ln in lines[1:]:
        f = ln.split(sep, len(cols) - 1)
        out.append((int(f[cols.index("ADDR")], 16), int(f[cols.index("IP")], 16), int(f[cols.index("DSRC")], 16)))
    return out


def kind_of(dsrc):
    op = dsrc & 0x1F
    return WRITE if op & 4 else PREFETCH if op & 8 else READ


def sample_lines(name):
    """The sample lines of a real perf script file (what `grep -v` of headers, side-band and frames keeps)."""
    return [ln for ln in (PD / name).read_text().splitlines()
            if ln.strip() and not ln.startswith(("#", "\t")) and "PERF_RECORD_" not in ln]


PF = oracle("pf.mem.csv")
DS = oracle("ds.mem.semicolon.txt")


# ---- real files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,has_ip,ignored", [
    ("pf.plus-addr.txt", True, 0),      # default layout + addr
    ("pf.fields.txt", True, 0),         # -F comm,tid,time,event,addr,ip,sym
    ("pf.ns-pid.txt", True, 0),         # --ns, pid/tid, symoff, dso
    ("pf.ip-addr.txt", True, 0),        # -F ip,addr: printed "ADDR IP"
    ("pf.addr.txt", False, 0),          # -F addr
    ("pf.header.txt", True, 51),        # --header + side-band PERF_RECORD_ lines, period
])
def test_real_layouts_give_the_same_samples(name, has_ip, ignored):
    recs, meta = load(PD / name)
    assert len(recs) == len(sample_lines(name)) == len(PF) == 45
    assert [int(a) for a in recs["addr"]] == [a for a, _, _ in PF]
    want_site = [ip & M32 for _, ip, _ in PF] if has_ip else [0] * 45
    assert [int(s) for s in recs["site"]] == want_site
    assert list(recs["op"]) == list(range(45))
    assert (recs["size"] == 8).all() and (recs["kind"] == READ).all() and (recs["weight"] == 1).all()
    assert (recs["tag"] == 0).all() and (recs["dep"] == 0).all()
    assert meta.sampled and meta.format == "perf" and meta.tags == ["data"]
    assert meta.ignored_lines == ignored and meta.skipped_lines == 0
    # the address is literally one of the hex tokens of its line
    for r, ln in zip(recs, sample_lines(name)):
        assert f"{int(r['addr']):x}" in ln.split()


def test_real_layouts_contain_kernel_ips_user_and_stack_addresses():
    ips = [ip for _, ip, _ in PF]
    assert any(ip >= 0xFFFF800000000000 for ip in ips) and any(ip < 0x1000000 for ip in ips)
    assert any(a >= 0x7F0000000000 for a, _, _ in PF)


def test_events_and_header_info_in_meta():
    _, meta = load(PD / "pf.fields.txt")
    assert meta.extra["events"] == ["page-faults"] and meta.extra["event_samples"] == {"page-faults": 45}
    _, meta = load(PD / "pf.header.txt")
    assert meta.extra["header_events"] == ["page-faults"]
    assert meta.extra["perf_cmdline"].startswith("/usr/bin/perf record -e page-faults -c 1 -d")
    _, meta = load(PD / "pf.addr.txt")                        # no event column
    assert "events" not in meta.extra


def test_two_events_two_threads():
    recs, meta = load(PD / "two.txt")
    lines = sample_lines("two.txt")
    assert len(recs) == len(lines) == 88
    pat = re.compile(r"^\s*(.*?) +(\d+)/(\d+) +\d+\.\d+: +([\w-]+): +([0-9a-f]+) .*? +([0-9a-f]+) \S")
    m = [pat.match(ln) for ln in lines]
    assert all(m)
    assert [int(a) for a in recs["addr"]] == [int(x.group(5), 16) for x in m]
    assert [int(s) for s in recs["site"]] == [int(x.group(6), 16) & M32 for x in m]
    assert meta.extra["events"] == ["page-faults", "minor-faults"]
    assert meta.extra["event_samples"] == {"page-faults": 44, "minor-faults": 44}
    tids = {x.group(3) for x in m}
    comms = {x.group(1) for x in m}
    assert len(tids) == 2 and {"touch main", "pf worker: 2"} <= comms   # comm with a space and a colon


def test_call_chains_site_from_first_frame():
    recs, meta = load(PD / "cg.txt")
    text = (PD / "cg.txt").read_text().splitlines()
    want_addr, want_site = [], []
    for i, ln in enumerate(text):
        if ln and not ln.startswith("\t"):
            want_addr.append(int(ln.split("page-faults:")[1].split()[0], 16))
            want_site.append(int(text[i + 1].split()[0], 16) & M32)
    assert len(recs) == 45 == len(want_addr)
    assert [int(a) for a in recs["addr"]] == want_addr
    assert [int(s) for s in recs["site"]] == want_site
    assert meta.ignored_lines == len(text) - 45                  # frames and blank separators
    assert int(recs["site"][0]) == 0x8175336A                    # elf_load in the kernel
    assert int(recs["site"][-1]) != 0


def test_period_is_the_weight():
    recs, _ = load(PD / "freq.txt")
    periods = [int(re.search(r"\d+\.\d+: +(\d+) ", ln).group(1)) for ln in sample_lines("freq.txt")]
    assert periods == [1, 1, 1, 2, 14, 190, 1, 1, 1, 2, 14]
    assert list(recs["weight"]) == periods


@pytest.mark.parametrize("name", ["ds.full.txt", "ds.no-weight.txt"])
def test_data_src_kinds_weights_and_ips(name):
    recs, _ = load(PD / name)
    assert len(recs) == len(DS) == 45
    assert [int(a) for a in recs["addr"]] == [a for a, _, _ in DS]
    assert [int(s) for s in recs["site"]] == [ip & M32 for _, ip, _ in DS]   # not the latency weight
    assert [int(k) for k in recs["kind"]] == [kind_of(d) for _, _, d in DS]
    assert {WRITE, PREFETCH, READ} <= set(int(k) for k in recs["kind"])
    assert int(recs["addr"][3]) == 0xFFFFFFFFB752B814           # a kernel data address
    assert (recs["weight"] == 1).all()                           # weight latency is not a period


def test_truncated_data_src_text_and_padding():
    # line 8 has the 99-character cut text '...|LCK No|BLK ' whose trailing blank is not padding
    lines = (PD / "ds.full.txt").read_text().splitlines()
    assert lines[7].split("|BLK")[1].split() == ["2107", "44451a", "__tunables_init", "44e971308", "N/A"]
    recs, _ = load(PD / "ds.full.txt")
    assert int(recs["site"][7]) == 0x44451A


@pytest.mark.parametrize("cut", [1, 3, 8, 20])
def test_cut_data_src_file_keeps_addresses_and_kinds(tmp_path, cut):
    lines = (PD / "ds.full.txt").read_text().splitlines(True)
    recs, _ = load(write(tmp_path, "".join(lines[cut:])))
    assert [int(a) for a in recs["addr"]] == [a for a, _, _ in DS[cut:]]
    assert [int(k) for k in recs["kind"]] == [kind_of(d) for _, _, d in DS[cut:]]
    if cut >= 7:                                                 # past the longest text: padding is known
        assert [int(s) for s in recs["site"]] == [ip & M32 for _, ip, _ in DS[cut:]]


ALL = ["pf.plus-addr.txt", "pf.fields.txt", "pf.ns-pid.txt", "pf.ip-addr.txt", "pf.addr.txt", "pf.header.txt",
       "two.txt", "cg.txt", "freq.txt", "ds.full.txt", "ds.no-weight.txt"]


@pytest.mark.parametrize("name", ALL)
def test_crlf_gz_and_tiny_blocks_change_nothing(tmp_path, monkeypatch, name):
    raw = (PD / name).read_bytes()
    want, wmeta = load(PD / name)
    got, meta = load(write(tmp_path, raw.replace(b"\n", b"\r\n")))
    assert (got == want).all() and meta.ignored_lines == wmeta.ignored_lines
    got, _ = load(write(tmp_path, gzip.compress(raw), "t.perf.gz"))
    assert (got == want).all()
    got, _ = load(write(tmp_path, raw.rstrip(b"\n")))             # no final newline
    assert (got == want).all()
    monkeypatch.setattr(perf, "blocks", lambda p: textio.blocks(p, 97))
    got, meta = load(PD / name)
    assert (got == want).all() and meta.extra == wmeta.extra and meta.ignored_lines == wmeta.ignored_lines


# ---- FORMATS.md 1.2 examples and synthetic corner cases ---------------------------------------------

FORMATS_EXAMPLES = [
    # -F comm,pid,tid,time,event,ip,sym,addr (addr comes before ip)
    ("        testprog 12345/12345   100.825036: page-faults:     7f0000001000 [unknown]     555555555194 main",
     0x7F0000001000, 0x55555194, 1),
    ("        testprog 12345/12345   100.824093: page-faults:     55555555802c _edata ffffffff8120028a elf_load",
     0x55555555802C, 0x8120028A, 1),
    ("    7f0000020000     555555555194", 0x7F0000020000, 0x55555194, 1),          # -F ip,addr
    ("    55555555802c ffffffff8120028a", 0x55555555802C, 0x8120028A, 1),
    ("    7f0000020000", 0x7F0000020000, 0, 1),                                     # -F addr
    ("        testprog 12345   100.825186:         38 page-faults:     7f0000020000 [unknown] (//anon)     "
     "555555555194 main (/path/to/testprog)", 0x7F0000020000, 0x55555194, 38),
    ("        testprog 12345/12345   100.825186178: page-faults:     7f0000020000 [unknown] (//anon)     "
     "555555555194 main+0x3b (/path/to/testprog)", 0x7F0000020000, 0x55555194, 1),
    ("          4b1270 ffffffff8120028a", 0x4B1270, 0x8120028A, 1),
    ("         python3 12466/12466   134.425666: major-faults:           a80278 [unknown] ffffffff8120028a elf_load",
     0xA80278, 0x8120028A, 1),
    ("            sort 12452/12454   129.717636: page-faults:     7f00dc47efd0 [unknown]     555555587c48 [unknown]",
     0x7F00DC47EFD0, 0x55587C48, 1),
]


@pytest.mark.parametrize("line,a,s,w", FORMATS_EXAMPLES)
def test_formats_md_examples(tmp_path, line, a, s, w):
    recs, _ = load(write(tmp_path, line + "\n"))
    assert [(int(r["addr"]), int(r["site"]), int(r["weight"])) for r in recs] == [(a, s, w)]


def synth(comm="prog", tid="123", time="5.000001", period=None, event="cycles", addr=None, addr_sym="",
          ds=None, weight=None, ip=None, ip_sym=" main", phys=None):
    """A perf script line assembled with perf's own printf formats."""
    out = ""
    if comm is not None:
        out += f"{comm:>16} "
    if tid is not None:
        out += f"{tid:>5} "
    if time is not None:
        out += f"{time:>12}: "
    if period is not None:
        out += f"{period:10d} "
    if event is not None:
        out += f"{event}: "
    if addr is not None:
        out += f"{addr:16x}{addr_sym}"
    if ds is not None:
        out += f"{ds[0]:16x} {ds[1]}"
    if weight is not None:
        out += f"{weight:16d}"
    if ip is not None:
        out += f" {ip:16x}{ip_sym}"
    if phys is not None:
        out += f"{phys:16x}"
    return out


DSTXT = "|OP STORE|LVL L1 hit|SNP N/A|TLB N/A|LCK N/A|BLK  N/A"


@pytest.mark.parametrize("kw,want", [
    (dict(addr=0xFFFFFFFFFFFFFFFF, ip=0xFFFFFFFF81000000), (0xFFFFFFFFFFFFFFFF, 0x81000000, 1, READ)),
    (dict(addr=0x0, ip=0x1), (0, 1, 1, READ)),
    (dict(period=4000000000, addr=0x1000, ip=0x2000), (0x1000, 0x2000, 4000000000, READ)),
    (dict(period=99999999999, addr=0x1000, ip=0x2000), (0x1000, 0x2000, M32, READ)),   # saturated
    (dict(addr=0x1000, ds=(0x5080144, DSTXT), weight=7, ip=0x401753), (0x1000, 0x401753, 1, WRITE)),
    (dict(addr=0x1000, ds=(0x5080144, DSTXT), weight=7, ip=0x2000, phys=0x44E96A308), (0x1000, 0x2000, 1, WRITE)),
    (dict(addr=0x1000, ds=(0x5080028, "|OP PFETCH|LVL N/A"), ip=0xABC), (0x1000, 0xABC, 1, PREFETCH)),
    (dict(addr=0x1000, ds=(0x5080144, DSTXT)), (0x1000, 0, 1, WRITE)),
    (dict(addr=0x1000, weight=12, ip=0x2000), (0x1000, 0x2000, 1, READ)),              # -F addr,weight,ip
    (dict(addr=0x1000, ip=0x2000, phys=0x3000), (0x1000, 0x2000, 1, READ)),            # phys after ip
    (dict(addr=0x1000, addr_sym=" std::vector<int, std::allocator<int> >::push_back(int const&) add 1f (/x y)",
          ip=0x2000, ip_sym=" operator new(unsigned long) 12 ab"), (0x1000, 0x2000, 1, READ)),
    (dict(comm="my cafe prog:", tid=None, time=None, addr=0xBEEF, ip=0xF00D), (0xBEEF, 0xF00D, 1, READ)),
    (dict(comm="cc1", tid="77", addr=0x1234, ip=0x5678), (0x1234, 0x5678, 1, READ)),  # hex comm, time present
    (dict(comm=None, tid=None, time=None, event=None, period=None, addr=0x10, ip=0x20), (0x10, 0x20, 1, READ)),
    (dict(event="cpu/mem-loads,ldlat=30/P", addr=0x10, ip=0x20), (0x10, 0x20, 1, READ)),
    (dict(event="page-faults:u", addr=0x10, ip=0x20), (0x10, 0x20, 1, READ)),
    (dict(time=None, period=3, addr=0x10, ip=0x20), (0x10, 0x20, 3, READ)),
    (dict(event=None, period=5, addr=0x10, ip=0x20), (0x10, 0x20, 5, READ)),
])
def test_synthetic_layouts(tmp_path, kw, want):
    line = synth(**kw)
    recs, meta = load(write(tmp_path, line + "\n"))
    assert [(int(r["addr"]), int(r["site"]), int(r["weight"]), int(r["kind"])) for r in recs] == [want], line
    assert meta.skipped_lines == 0


def test_data_src_padding_tracks_the_longest_text(tmp_path):
    long = "|OP LOAD|LVL Local RAM or RAM hit|SNP N/A|TLB L1 hit|LCK N/A|BLK  N/A"
    short = "|OP LOAD|LVL L1 hit|SNP N/A|TLB N/A|LCK N/A|BLK  N/A"
    rows = []
    maxlen = 0
    for i, (txt, w, ip) in enumerate([(short, 0, 0x12), (long, 180, 0x401679), (short, 7, 0x31), (short, None, 0x99)]):
        t = f"{0x1a29081042:16x} {txt}"
        maxlen = max(maxlen, len(t))
        line = synth(addr=0x1000 + i) + t.ljust(maxlen)
        line += (f"{w:16d}" if w is not None else "") + f" {ip:16x} f"
        rows.append(line)
    # a -F without weight on the last line is impossible in one perf run, but the IP stays an IP
    recs, _ = load(write(tmp_path, "\n".join(rows) + "\n"))
    assert [int(s) for s in recs["site"]] == [0x12, 0x401679, 0x31, 0x99]


# ---- missing addresses, bad lines, skip_bad ----------------------------------------------------------

def test_default_layout_without_addresses_is_a_clear_error():
    p = PD / "pf.default.txt"
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:1: ") and "\n" not in msg
    assert "no data address" in msg and "perf record -d" in msg and "-F +addr" in msg
    assert "-F comm,tid,time,event,addr,ip,sym" in msg
    with pytest.raises(TraceError, match=r"has no data addresses \(45 samples without one\).*-F \+addr"):
        load(p, skip_bad=True)


@pytest.mark.parametrize("line", [
    "     testprog 12345   100.824093:          1 page-faults:  ffffffff8120028a elf_load+0x28a ([kernel.kallsyms])",
    " ffffffff8120028a",                                               # -F ip
    "testprog 12354   104.383823:          1 page-faults: ",           # call chain sample without addr
    # perf-mem.txt's -F period,data_src,weight,ip,sym example, with perf's real widths
    f"{100000:10d} {0x629080842:16x} |OP LOAD|LVL L3 hit|SNP N/A|TLB L1 hit|LCK N/A|BLK  N/A{20:16d} "
    f"{0x7e69b93ca524:16x} strcmp",
])
def test_samples_without_address_name_the_fix(tmp_path, line):
    p = write(tmp_path, line + "\n")
    with pytest.raises(TraceError, match=r":1: bad perf script line .*no data address.*perf script -F \+addr"):
        load(p)


def test_header_without_addr_in_sample_type(tmp_path):
    head = (PD / "pf.header.txt").read_text().split("\n#\n")[0].replace("IP|TID|TIME|ADDR|DATA_SRC", "IP|TID|TIME")
    p = write(tmp_path, head + "\n#\n" + (PD / "pf.default.txt").read_text())
    with pytest.raises(TraceError, match=r"no data addresses \(--header: sample_type = IP\|TID\|TIME, no ADDR\)"):
        load(p)


GOOD = sample_lines("pf.fields.txt")[:3]


@pytest.mark.parametrize("bad", [
    "garbage", "hello world", "12345", "0x7f0000001000 0x1234", "           touch 1 2.5: page-faults: [unknown]",
    "7f00000010000000000 x", "zz  ", "\x00\x01", "é", "x|"])
def test_bad_lines_name_the_line_and_skip_bad_counts(tmp_path, bad):
    text = "\n".join([GOOD[0], GOOD[1], bad, GOOD[2]]) + "\n"
    p = write(tmp_path, text)
    recs, meta = load(p, skip_bad=True)
    assert [int(a) for a in recs["addr"]] == [a for a, _, _ in PF[:3]]
    assert meta.skipped_lines == 1 and list(recs["op"]) == [0, 1, 2]
    with pytest.raises(TraceError) as ei:
        load(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:3: bad perf script line ") and "\n" not in msg


def test_ignored_lines_are_counted(tmp_path):
    text = "\n".join(["# comment", "", GOOD[0], "   ", "\tffffffff8120028a elf_load ([kernel.kallsyms])", "",
                      "  perf-exec     0     0.000000: PERF_RECORD_COMM: perf-exec:1/1",
                      "PERF_RECORD_FINISHED_ROUND", GOOD[1], "  touch.cc:15", "  [kernel.kallsyms][ffffffff8175336a]",
                      "|15       p[i * 4096] = (T)i;", GOOD[2]]) + "\n"
    recs, meta = load(write(tmp_path, text))
    assert len(recs) == 3 and meta.ignored_lines == 10 and meta.skipped_lines == 0
    assert int(recs["site"][0]) == PF[0][1] & M32              # the frame does not override a printed ip


def test_srcline_continuation_only_after_a_sample(tmp_path):
    p = write(tmp_path, "  touch.cc:15\n" + GOOD[0] + "\n")
    with pytest.raises(TraceError, match=r":1: bad perf script line '  touch.cc:15': not a perf script sample line"):
        load(p)


def test_error_line_numbers_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(perf, "blocks", lambda p: textio.blocks(p, 61))
    lines = sample_lines("pf.fields.txt") * 4
    lines[150] = "nonsense"
    with pytest.raises(TraceError, match=r"t\.perf:151: bad perf script line 'nonsense'"):
        load(write(tmp_path, "\n".join(lines) + "\n"))


@pytest.mark.parametrize("content", [b"", b"\n\n", b"# only a header\n#\n"])
def test_empty_input_has_no_records(tmp_path, content):
    recs, meta = load(write(tmp_path, content))
    assert len(recs) == 0 and meta.skipped_lines == 0


def test_corrupt_gzip_is_a_trace_error(tmp_path):
    g = gzip.compress((PD / "pf.fields.txt").read_bytes())
    with pytest.raises(TraceError, match="corrupt"):
        load(write(tmp_path, g[:12] + b"\xff" * 20 + g[32:], "c.gz"))


@pytest.mark.parametrize("name", ["pf.srcline.txt", "pf.srccode.txt"])
def test_srcline_and_srccode_output_is_sniffed_and_read(name):
    """Real `perf script -F ...,srcline[,srccode]` output: a sample line, then indented source
    lines. --format auto must recognise it (it did not: the continuation lines looked like
    garbage to the sniffer), and every sample is read: 45, as perf report -D counted."""
    from cachesim.readers import open_trace, sniff_format
    path = PD / name
    assert perf.sniff(path.read_bytes()) and sniff_format(path) == "perf"
    samples = [ln for ln in path.read_text().splitlines() if " page-faults: " in ln]
    assert len(samples) == 45
    t = open_trace(path)
    recs = t.records
    assert len(recs) == 45 and t.meta.ignored_lines == len(path.read_text().splitlines()) - 45
    assert recs["addr"].tolist() == [int(ln.split("page-faults:")[1].split()[0], 16) for ln in samples]
    assert int(recs["addr"][5]) == 0x444F00 and int(recs["site"][5]) == 0x444F00   # _dl_aux_init


def test_sniff():
    for name in ALL + ["pf.default.txt"]:
        assert perf.sniff((PD / name).read_bytes()), name
    for name in ["pf.mem.txt", "pf.mem.csv", "ds.mem.txt", "ds.mem.semicolon.txt"]:
        assert not perf.sniff((PD / name).read_bytes()), name
    assert not perf.sniff(b"2 401000\n0 1ffefffd60\n")                  # din
    assert not perf.sniff(b"0 1ffefffd600000 8\n")                     # din, 16 columns
    assert not perf.sniff(b"I  00401000,3\n L 1ffefffd60,8\n")          # lackey
    assert not perf.sniff(b"r 1000 8\nw 2000 4\n")                      # xdin
    assert not perf.sniff(b"") and not perf.sniff(b"\x00" * 64)


# ---- fuzzing ---------------------------------------------------------------------------------------

REAL = sample_lines("pf.fields.txt") + sample_lines("ds.full.txt") + sample_lines("two.txt")
IGNORABLE = ["", "# x", "#", "\tffffffff8120028a elf_load", "   ", "PERF_RECORD_FINISHED_ROUND",
             "  touch 1  5.000001: PERF_RECORD_EXIT(1:1):(0:0)"]


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(REAL) - 1), st.lists(st.sampled_from(IGNORABLE), max_size=3)),
                min_size=1, max_size=15), st.booleans())
def test_ignorable_lines_do_not_change_samples(tmp_path, picks, crlf):
    eol = "\r\n" if crlf else "\n"
    plain = eol.join(REAL[i] for i, _ in picks) + eol
    mixed = "".join(REAL[i] + eol + "".join(x + eol for x in extra) for i, extra in picks)
    a, _ = load(write(tmp_path, plain, "a.perf"))
    b, mb = load(write(tmp_path, mixed, "b.perf"))
    assert (a == b).all()
    assert len(a) == len(picks) and mb.skipped_lines == 0


def mutate(line, pos, ch):
    pos %= len(line) + 1
    return line[:pos] + ch + line[pos:]


line_strat = st.one_of(
    st.sampled_from(REAL + IGNORABLE),
    st.builds(mutate, st.sampled_from(REAL), st.integers(0, 300), st.text("0123456789abcdef :|x#\t\r", max_size=3)),
    st.text(max_size=60).filter(lambda s: "\n" not in s),
    st.text(" 0123456789abcdef:.|/", max_size=60))


@FUZZ
@given(st.lists(line_strat, max_size=20), st.booleans())
@example(["    7f0000020000", "x" * 300], True)
def test_arbitrary_lines_parse_or_trace_error(tmp_path, lines, final_newline):
    text = "\n".join(lines) + ("\n" if final_newline else "")
    p = write(tmp_path, text)
    for skip in (False, True):
        try:
            recs, meta = load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
        else:
            assert len(recs) <= len(lines) and (recs["size"] == 8).all()
    perf.sniff(text.encode())


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_trace_error(tmp_path, data):
    p = write(tmp_path, data)
    for skip in (False, True):
        try:
            load(p, skip_bad=skip)
        except TraceError as e:
            assert "\n" not in str(e)
    perf.sniff(data)


def test_same_samples_as_perf_mem_dump():
    a, _ = load(PD / "pf.fields.txt")
    m = TraceMeta()
    b = np.concatenate(list(perf_mem.read(PD / "pf.mem.txt", m)))
    assert (a["addr"] == b["addr"]).all() and (a["site"] == b["site"]).all()
