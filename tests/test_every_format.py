"""Every trace format converts and replays, end to end through the command line.

Inputs are real: the valgrind lackey log of tests/data/cachegrind/prog.c
(its first LINES lines), the perf recordings in tests/data/perf, and, where
perf can record here, a fresh `perf record -e page-faults -d` of a program
built with gcc. DineroIV, ChampSim and gem5 are not installed, so their
inputs are the same lackey accesses written out in each format by the small
writers below, following FORMATS.md. Each writer counts what it wrote
(instruction fetches, reads, writes): the truth the replays are checked
against, on the Cachegrind-compatible machine, whose I1/D1 counters count
each access once (FORMATS.md 2.3).

For each format: `cachesim convert` (explicit format and --format auto)
writes exactly the records of the input, and `cachesim run --trace` on the
input (explicit and auto) and on the converted .npy give the counters."""
import gzip
import json
import re
import shutil
import struct
import subprocess
from collections import Counter

import numpy as np
import pytest

from cachesim.cli import main
from conftest import DATA, ROOT
from test_reader_gem5 import packet, trace as gem5_trace

CONFIG = ROOT / "configs" / "cachegrind.toml"
LINES = 20000
_REC = re.compile(r"^(I  | [LSM] )([0-9a-f]+),([0-9]+)$")
INST_FETCH = 0x100                                        # gem5 Request::INST_FETCH
CHAMPSIM = struct.Struct("<QBB2B4B2Q4Q")                  # input_instr, 64 bytes
CLOUDSUITE = struct.Struct("<QBB4B4B6x4Q4Q2B6x")          # cloudsuite_instr, 96 bytes


def lackey_accesses():
    """(kind, addr, size) of the first LINES lines of the real lackey log; kind in I, L, S, M."""
    out = []
    with gzip.open(DATA / "cachegrind" / "prog.lackey.gz", "rt") as f:
        head = [next(f) for _ in range(LINES)]
    for ln in head:
        m = _REC.match(ln.rstrip("\n"))
        if m:
            out.append((m.group(1).strip(), int(m.group(2), 16), int(m.group(3))))
    return head, out


def truth(records, ifetch, reads, writes):
    return {"records": records, "Ir": ifetch, "Dr": reads, "Dw": writes}


def write_lackey(d, head, acc):
    p = d / "prog.lackey"
    p.write_text("".join(head))
    c = Counter(k for k, _, _ in acc)
    return p, truth(len(acc), c["I"], c["L"] + c["M"], c["S"])       # a modify is one read for Cachegrind


def _split(acc):
    """Label sequence with a modify as a read then a write (Dinero has no modify)."""
    for k, a, s in acc:
        if k == "M":
            yield "L", a, s
            yield "S", a, s
        else:
            yield k, a, s


def write_din(d, acc):
    label = {"I": 2, "L": 0, "S": 1}
    rows = [(label[k], a) for k, a, _ in _split(acc)]
    p = d / "prog.din"
    p.write_text("".join(f"{lab} {a:x}\n" for lab, a in rows))
    c = Counter(lab for lab, _ in rows)
    return p, truth(len(rows), c[2], c[0], c[1])


def write_xdin(d, acc):
    label = {"I": "i", "L": "r", "S": "w"}
    rows = [(label[k], a, s) for k, a, s in _split(acc)]
    p = d / "prog.xdin"
    p.write_text("".join(f"{lab} {a:x} {s:x}\n" for lab, a, s in rows))
    c = Counter(lab for lab, _, _ in rows)
    return p, truth(len(rows), c["i"], c["r"], c["w"])


def _instructions(acc, nsrc, ndst):
    """(ip, loads, stores) per instruction; a modify is in both lists (FORMATS.md 4). Instructions
    whose operands do not fit, or whose load and store addresses meet other than by a modify, are
    left out so every written operand is one access."""
    cur = None
    for k, a, _ in acc + [("I", 0, 0)]:
        if k == "I":
            if cur is not None:
                ip, loads, stores, mods = cur
                ok = len(loads) + len(mods) <= nsrc and len(stores) + len(mods) <= ndst \
                    and len(set(loads) | set(mods)) == len(loads) + len(mods) \
                    and len(set(stores) | set(mods)) == len(stores) + len(mods) \
                    and not set(loads) & set(stores)
                if ok:
                    yield ip, loads + mods, stores + mods, len(mods)
            cur = (a, [], [], [])
        elif cur is not None:
            cur[{"L": 1, "S": 2, "M": 3}[k]].append(a)


def _write_champsim(d, acc, name, rec, nsrc, ndst, pack):
    data, n, reads, writes = [], 0, 0, 0
    for ip, src, dst, mods in _instructions(acc, nsrc, ndst):
        data.append(pack(ip, src + [0] * (nsrc - len(src)), dst + [0] * (ndst - len(dst))))
        n += 1 + len(src) + len(dst) - mods
        reads += len(src)
        writes += len(dst) - mods
    p = d / name
    p.write_bytes(b"".join(data))
    assert len(p.read_bytes()) == rec.size * len(data)
    return p, truth(n, len(data), reads, writes)


def write_champsim(d, acc):
    return _write_champsim(d, acc, "prog.champsimtrace", CHAMPSIM, 4, 2,
                           lambda ip, src, dst: CHAMPSIM.pack(ip, 0, 0, 0, 0, 0, 0, 0, 0, *dst, *src))


def write_cloudsuite(d, acc):
    return _write_champsim(d, acc, "prog.cloudsuite.champsimtrace", CLOUDSUITE, 4, 4,
                           lambda ip, src, dst: CLOUDSUITE.pack(ip, 0, 0, *[0] * 8, *dst, *src, 0, 0))


def write_gem5(d, acc):
    pk, c = [], Counter()
    for tick, (k, a, s) in enumerate(_split(acc)):
        cmd = 4 if k == "S" else 1
        flags = INST_FETCH if k == "I" else 0
        pk.append(packet(tick * 500, cmd, a, s, flags=flags, pkt_id=1 if k == "I" else 2))
        c["I" if k == "I" else k] += 1
    p = d / "prog.trc"
    p.write_bytes(gem5_trace(*pk))
    return p, truth(len(pk), c["I"], c["L"], c["S"])


def write_npy(d, acc):
    addrs = np.array([a for k, a, _ in acc if k != "I"], np.uint64)   # a plain address array: 8-byte loads
    p = d / "addrs.npy"
    np.save(p, addrs)
    return p, truth(len(addrs), 0, len(addrs), 0)


def perf_files(d):
    """The checked-in recording: 45 page-fault samples, one per line of perf script output and one per
    row after the header of perf mem report -D."""
    script = (DATA / "perf" / "pf.fields.txt").read_text().splitlines()
    mem = (DATA / "perf" / "pf.mem.txt").read_text().splitlines()
    assert mem[0].startswith("#")
    return {"perf": (DATA / "perf" / "pf.fields.txt", truth(len(script), 0, len(script), 0)),
            "perf-mem": (DATA / "perf" / "pf.mem.txt", truth(len(mem) - 1, 0, len(mem) - 1, 0))}


def fresh_perf(d):
    """A new recording on this machine; the truth is perf's own raw dump (PERF_RECORD_SAMPLE count)."""
    if shutil.which("perf") is None or shutil.which("gcc") is None:
        return {}
    src = d / "touch.c"
    src.write_text("#include <stdlib.h>\nint main(void){char *p = malloc(64 << 12);"
                   "for (int i = 0; i < 64; i++) p[i << 12] = 1; return p[4096] - 1;}\n")
    subprocess.run(["gcc", "-O1", "-o", d / "touch", src], check=True)
    rec = subprocess.run(["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-d", "-o", d / "pf.data",
                          "--", d / "touch"], capture_output=True)
    if rec.returncode != 0:
        return {}
    dump = subprocess.run(["perf", "report", "-D", "-i", d / "pf.data"], capture_output=True, text=True).stdout
    n = dump.count("PERF_RECORD_SAMPLE")
    script = subprocess.run(["perf", "script", "-i", d / "pf.data", "-F", "comm,tid,time,event,addr,ip,sym"],
                            capture_output=True, text=True, check=True).stdout
    mem = subprocess.run(["perf", "mem", "report", "-D", "-i", d / "pf.data"],
                         capture_output=True, text=True, check=True).stdout
    (d / "fresh.perf").write_text(script)
    (d / "fresh.mem.txt").write_text(mem)
    return {"perf (fresh)": (d / "fresh.perf", truth(n, 0, n, 0)),
            "perf-mem (fresh)": (d / "fresh.mem.txt", truth(n, 0, n, 0))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    head, acc = lackey_accesses()
    made = {"lackey": write_lackey(d, head, acc), "din": write_din(d, acc), "xdin": write_xdin(d, acc),
            "champsim": write_champsim(d, acc), "champsim-cloudsuite": write_cloudsuite(d, acc),
            "gem5": write_gem5(d, acc), "npy": write_npy(d, acc)}
    made.update(perf_files(d))
    made.update(fresh_perf(d))
    return d, made


FORMATS = ["npy", "perf", "perf-mem", "lackey", "din", "xdin", "champsim", "champsim-cloudsuite", "gem5",
           "perf (fresh)", "perf-mem (fresh)"]
# ChampSim files have no magic: auto-detection takes the 64-byte layout; the 96-byte one is named explicitly
NOT_SNIFFED = {"champsim-cloudsuite"}


def cli(*args):
    return main([str(a) for a in args])


def replay(capsys, tmp_path, path, fmt):
    out = tmp_path / f"r-{fmt}.json"
    rc = cli("run", CONFIG, "--trace", path, "--format", fmt, "--json", out, "--quiet")
    err = capsys.readouterr().err
    assert rc == 0, err
    run = json.loads(out.read_text())["runs"][0]
    cg = run["cachegrind"]
    return {"records": run["accesses"], "Ir": cg["Ir"], "Dr": cg["Dr"], "Dw": cg["Dw"]}


def test_the_readers_are_all_covered():
    from cachesim.readers import FORMATS as ALL
    assert set(ALL) - {"auto"} <= {f.split(" ")[0] for f in FORMATS}


@pytest.mark.parametrize("name", FORMATS)
def test_converts_and_replays(inputs, name, tmp_path, capsys):
    d, made = inputs
    if name not in made:
        pytest.skip("perf cannot record here (not installed, or perf_event_paranoid forbids it)")
    path, want = made[name]
    fmt = name.split(" ")[0]
    assert want["records"] > 40
    formats = [fmt] if fmt in NOT_SNIFFED else [fmt, "auto"]
    for f in formats:
        npy = tmp_path / f"{f}.npy"
        assert cli("convert", path, "-o", npy, "--format", f) == 0, capsys.readouterr().err
        assert capsys.readouterr().out.strip().startswith(f"{npy}: {want['records']} records")
        assert replay(capsys, tmp_path, path, f) == want
    assert replay(capsys, tmp_path, npy, "npy") == want      # the converted trace replays the same
    meta = json.loads((tmp_path / f"{formats[-1]}.meta.json").read_text())
    assert meta["format"] == fmt
    assert meta["sampled"] == fmt.startswith("perf")
