"""``perf script`` text (FORMATS.md section 1.2), in any field layout.

perf prints the fields of a sample in a fixed order whatever order ``-F``
lists them in (builtin-script.c ``process_event()``)::

    [comm] [pid/tid] [cpu] [time:] [period] [event:] [ADDR [sym] [(dso)]]
    [DATA_SRC |OP ...|BLK ...] [WEIGHT] [' 'IP [sym] [(dso)]] [PHYS_ADDR] [page size]

so the reader does not use column numbers.  Each line is split into
tokens at blanks (any byte <= 0x20: space, TAB, CR) and anchored on the time token (``123.456789:``) and
the ``event:`` token (the first ``...:`` token after the time; without a
time, the first one before any address that is followed by an address).
After the anchor the numbers are recognised by perf's fixed-width printing:
ADDR, DATA_SRC, WEIGHT and PHYS_ADDR are ``%16lx``/``%16lu`` fields that
begin right after the previous field, the IP field is a blank plus ``%16lx``
(one column wider), and DATA_SRC is the number followed by `` |OP``.  A
bare hex token right-aligned in such a field is a number; anything else
(symbols, DSOs, comm, symbols with spaces, ``[unknown]``, the decoded
data_src text) is text.  The data_src text is left-justified to the longest
one printed so far, so the reader tracks that length to tell a WEIGHT
(16 columns) from an IP (17) after it.  The period is the ``%10lu`` number
just before the event (or just after the time when there is no event).

Each sample line becomes one record:

* ``addr``: the data address (``perf record -d`` + ``perf script -F +addr``),
  up to 16 hex digits, kernel addresses included;
* ``kind``: READ, or WRITE / PREFETCH when a printed data_src has the
  ``mem_op`` STORE (0x4) / PFETCH (0x8) bit (page-fault samples carry
  ``OP N/A`` and stay READ);
* ``weight``: the printed period (saturated at 2**32-1), else 1 (a printed
  ``weight`` field is a latency, not a period, and is not used);
* ``site``: the low 32 bits of the sample IP when printed; with call
  chains (``perf record -g``) the IP is not on the sample line, and the low
  32 bits of the first frame are used instead (perf 6.1 prints user-space
  frames DSO-relative, so the value differs from the flat layout);
* ``op``: the sample index (0, 1, 2, ...); ``size``: 8, a documented
  choice (perf samples carry no access size); ``tag`` 0 ("data").

Ignored (counted in ``meta.ignored_lines``): blank lines, ``#`` lines
(``--header``), side-band lines containing ``PERF_RECORD_``
(``--show-mmap-events`` ...), TAB-indented call-chain frame lines, and
continuation lines right after a sample that hold no number: ``srcline``
(indented) and ``srccode`` (``|LINE code``).  A sample
line without a data address is an error (or, with ``skip_bad``, skipped and
counted in ``meta.skipped_lines``; if no sample had one the file is still
rejected) that says how to record and print addresses.  When a
``--header`` is present its ``sample_type`` is checked for ADDR first.
``meta.sampled`` is True; ``meta.extra["events"]`` lists the event names,
``meta.extra["event_samples"]`` counts samples per event when the event
field is printed.

Known limits: a layout with neither time nor event in which the comm is a
word of hex digits (``cc1``), or whose pid/tid column is left-padded, is
read by position only and may be misread; a ``-F`` list that prints a
WEIGHT or PHYS_ADDR but no ADDR and no DATA_SRC makes that number look like
the address (a ``--header`` without ADDR in sample_type catches this).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from ..errors import TraceError
from ..trace import PREFETCH, READ, WRITE, TraceMeta, empty_fields
from .textio import blocks, line_text, peek
from .textparse import HEX

NAME = "perf"
TAGS = ["data"]
SIZE = 8
MAXTOK = 256          # tokens looked at per line (the rest of a very long line is text)
NEVENTS = 256         # distinct event names tracked
U32MAX = 0xFFFFFFFF

E_NOADDR, E_GARBAGE = 1, 2
# parser state carried across blocks
S_MAXLEN, S_PENDING, S_NEVENTS, S_PREV_SAMPLE = 0, 1, 2, 3

HOW = ("record with `perf record -d` and print them with `perf script -F +addr` "
       "(or -F comm,tid,time,event,addr,ip,sym)")
_REASONS = {
    E_NOADDR: "sample has no data address; " + HOW,
    E_GARBAGE: "not a perf script sample line; expected '[comm] [tid] [time:] [period] [event:] ADDR ... [IP ...]' "
               "with hex numbers without 0x",
}

# byte classes: 1 lowercase hex letter (perf prints lowercase), 3 decimal digit, 0 other
_CLS = np.zeros(256, np.uint8)
_CLS[np.frombuffer(b"abcdef", np.uint8)] = 1
_CLS[np.frombuffer(b"0123456789", np.uint8)] = 3
_PR = np.frombuffer(b"PERF_RECORD_", np.uint8).copy()


@njit(cache=True, inline="always")
def _is_hex(buf, s, e):
    if e - s > 16:
        return False
    for j in range(s, e):
        if _CLS[buf[j]] == 0:
            return False
    return True


@njit(cache=True, inline="always")
def _is_dec(buf, s, e):
    for j in range(s, e):
        if _CLS[buf[j]] != 3:
            return False
    return True


@njit(cache=True, inline="always")
def _is_time(buf, s, e):
    """digits '.' digits ':'"""
    if e - s < 4 or buf[e - 1] != 58:
        return False
    j = s
    while j < e - 1 and _CLS[buf[j]] == 3:
        j += 1
    if j == s or j >= e - 2 or buf[j] != 46:
        return False
    j += 1
    k = j
    while j < e - 1 and _CLS[buf[j]] == 3:
        j += 1
    return j == e - 1 and j > k


@njit(cache=True, inline="always")
def _hexval(buf, s, e):
    v = np.uint64(0)
    for j in range(s, e):
        v = (v << np.uint64(4)) | np.uint64(HEX[buf[j]])
    return v


@njit(cache=True, inline="always")
def _decval(buf, s, e):
    v = np.int64(0)
    for j in range(s, e):
        v = v * 10 + (buf[j] - 48)
        if v > U32MAX:
            return np.int64(U32MAX)
    return v


@njit(cache=True)
def _ds_len(buf, ds_start, ds_end):
    """Length of the printed "%16lx %s" data_src text.  perf cuts it at 99
    characters, which can leave trailing blanks (``|BLK `` lost its value)
    that look like padding: a text of 97+ characters without a value after
    ``|BLK`` was cut, so it is 99 long."""
    L = ds_end - ds_start
    if L >= 97 and L < 99:
        q = ds_end - 4
        while q > ds_start and not (buf[q] == 124 and buf[q + 1] == 66 and buf[q + 2] == 76 and buf[q + 3] == 75):
            q -= 1
        if q <= ds_start or q + 4 >= ds_end:
            return 99                                # no "|BLK value": cut
    return L


@njit(cache=True)
def _frame_ip(buf, i, stop):
    """The hex ip at the start of a call-chain frame line (after TABs/blanks): (ok, value)."""
    while i < stop and (buf[i] == 9 or buf[i] == 32):
        i += 1
    s = i
    while i < stop and _CLS[buf[i]] != 0:
        i += 1
    if i == s or i - s > 16 or (i < stop and buf[i] != 32):
        return False, np.uint64(0)
    return True, _hexval(buf, s, i)


@njit(cache=True)
def parse_block(buf, addr, size, kind, site, weight, op, op0, skip_bad, state,
                ev_hash, ev_count, ev_new_s, ev_new_e, ts, te):
    """Parse the lines of `buf` (which ends with a newline) into the output arrays.

    Returns (records, lines, bad_start, bad_end, err, ignored, skipped, op,
    noaddr, fix_prev, fix_site); bad_start >= 0 marks the first bad line
    (when not skipping); fix_prev says the last record of the previous block
    gets fix_site (its call chain started in this block)."""
    n = buf.shape[0]
    nrec = 0
    nlines = 0
    ignored = 0
    skipped = 0
    noaddr = 0
    cur_op = op0
    maxlen = state[S_MAXLEN]
    pending = state[S_PENDING]          # 1: the last record waits for its first frame
    prev_sample = state[S_PREV_SAMPLE]  # the previous line was a sample (srcline may follow)
    nev = state[S_NEVENTS]
    fix_prev = False
    fix_site = np.uint32(0)
    pos = 0
    while pos < n:                      # buf ends with a newline (read() makes sure)
        start = pos
        nlines += 1
        i = start
        while buf[i] == 32:
            i += 1
        c = buf[i]
        if c == 9 or c == 35 or c == 10 or (c == 13 and buf[i + 1] == 10):
            end = i
            while buf[end] != 10:
                end += 1
            pos = end + 1
            stop = end - 1 if end > start and buf[end - 1] == 13 else end
            ignored += 1
            if c == 9:                                   # call-chain frame (or brstackinsn) line
                if pending == 1:
                    ok, v = _frame_ip(buf, i, stop)
                    if ok:
                        sv = np.uint32(v & np.uint64(U32MAX))
                        if nrec > 0:
                            site[nrec - 1] = sv
                        else:
                            fix_prev = True
                            fix_site = sv
                    pending = 0
                continue
            pending = 0                                  # blank, '#' header/comment
            prev_sample = 0
            continue
        pending = 0
        was_sample = prev_sample
        prev_sample = 0
        # tokenize: runs of bytes > 32 (blanks, tabs, CR and controls separate)
        nt = 0
        side = False
        while True:
            s = i
            while buf[i] > 32:
                i += 1
            if nt < MAXTOK and i > s:
                ts[nt] = s
                te[nt] = i
                nt += 1
                if buf[s] == 80 and i - s >= 12:         # side-band PERF_RECORD_*
                    side = True
                    for m in range(12):
                        if buf[s + m] != _PR[m]:
                            side = False
                            break
            while buf[i] != 10 and buf[i] <= 32:
                i += 1
            if buf[i] == 10 or side:
                break
        end = i
        while buf[end] != 10:
            end += 1
        pos = end + 1
        stop = end - 1 if end > start and buf[end - 1] == 13 else end
        if side:
            ignored += 1
            continue
        # pass 1: anchor on the time token, then the event token
        T = -1
        for k in range(nt):
            if _is_time(buf, ts[k], te[k]):
                T = k
                break
        E = -1
        for k in range(T + 1, nt):
            s = ts[k]
            e = te[k]
            if buf[e - 1] == 58 and e - s >= 2:
                E = k
                break
            if k > 0 and _is_hex(buf, s, e) and s - te[k - 1] >= 17 - (e - s):
                break                                    # numbers begin: no event field
        if E >= 0 and T < 0:                             # a number must follow
            found = False
            for k in range(E + 1, nt):
                if _is_hex(buf, ts[k], te[k]) and ts[k] - te[k - 1] >= 16 - (te[k] - ts[k]):
                    found = True
                    break
            if not found:
                E = -1
        # the period: %10lu just before the event, or just after the time
        P = -1
        if E >= 0:
            k = E - 1
        elif T >= 0:
            k = T + 1
        else:
            k = -1
        if k >= 0 and k < nt and k > T and _is_dec(buf, ts[k], te[k]):
            ln = te[k] - ts[k]
            if k == 0:
                if ts[k] - start == max(0, 10 - ln):
                    P = k
            elif ts[k] - te[k - 1] == 1 + max(0, 10 - ln):
                P = k
        kf = max(max(T, E), P) + 1
        # pass 2: the numbers, by field width and order
        sep = 1 if kf > 0 else 0
        prev_end = te[kf - 1] if kf > 0 else start
        nfields = 0
        have_addr = False
        have_ip = False
        have_ds = False
        have_w = False
        in_ds = False
        ds_start = np.int64(0)           # not literal 0: one compiled _ds_len
        ds_end = np.int64(0)
        a = np.uint64(0)
        ipv = np.uint64(0)
        dsv = np.uint64(0)
        for k in range(kf, nt):
            if have_ip:
                break                                    # nothing after the IP is needed
            s = ts[k]
            e = te[k]
            ln = e - s
            gap = s - prev_end
            hexy = _is_hex(buf, s, e)
            w = 0
            if in_ds:
                if not hexy:                             # decoded data_src text
                    ds_end = e
                    prev_end = e
                    continue
                L = _ds_len(buf, ds_start, ds_end)
                if L > maxlen:
                    maxlen = L
                in_ds = False
                g = s - (ds_start + maxlen)              # the next field starts after the padding
                if g == 16 - ln:
                    w = 16
                elif g == 17 - ln:
                    w = 17
                elif gap >= 16 - ln:                     # padding not as expected (a cut file)
                    w = 16 if _is_dec(buf, s, e) else 17
            elif hexy:
                pad = gap - sep
                if pad == 16 - ln:
                    w = 16
                elif pad == 17 - ln:
                    w = 17
                elif pad > 17 - ln and nfields == 0 and kf == 0 and k > 0:
                    w = 16                               # after a left-justified tid
            if w == 0:
                sep = 1 if nfields == 0 else 0           # comm/tid before numbers; sym/dso after
                prev_end = e
                continue
            nfields += 1
            sep = 0
            prev_end = e
            if w == 16:
                if (not have_ds and e + 1 < stop and buf[e] == 32 and buf[e + 1] == 124):
                    have_ds = True
                    dsv = _hexval(buf, s, e)
                    in_ds = True
                    ds_start = e - 16
                    ds_end = e
                elif not have_addr and not have_ds and not have_w:
                    have_addr = True
                    a = _hexval(buf, s, e)
                else:
                    have_w = True                        # weight / ins_lat
            else:
                have_ip = True
                ipv = _hexval(buf, s, e)
        if in_ds:
            L = _ds_len(buf, ds_start, ds_end)
            if L > maxlen:
                maxlen = L
        if not have_addr:
            if nfields == 0 and T < 0 and E < 0:
                if was_sample == 1 and (buf[start] == 32 or buf[start] == 124):   # srcline / srccode
                    ignored += 1
                    prev_sample = 1
                    continue
                err = E_GARBAGE
            else:
                err = E_NOADDR
                noaddr += 1
            if skip_bad:
                skipped += 1
                continue
            state[S_MAXLEN] = maxlen
            state[S_PENDING] = 0
            state[S_NEVENTS] = nev
            state[S_PREV_SAMPLE] = 0
            return nrec, nlines, start, stop, err, ignored, skipped, cur_op, noaddr, fix_prev, fix_site
        # a sample
        prev_sample = 1
        if E >= 0:
            h = np.uint64(14695981039346656037)
            for j in range(ts[E], te[E] - 1):
                h = (h ^ np.uint64(buf[j])) * np.uint64(1099511628211)
            slot = -1
            for j in range(nev):
                if ev_hash[j] == h:
                    slot = j
                    break
            if slot < 0 and nev < ev_hash.shape[0]:
                slot = nev
                nev += 1
                ev_hash[slot] = h
                ev_new_s[slot] = ts[E]
                ev_new_e[slot] = te[E] - 1
            if slot >= 0:
                ev_count[slot] += 1
        kd = READ
        if have_ds:
            mop = dsv & np.uint64(0x1F)
            if mop & np.uint64(0x4):
                kd = WRITE
            elif mop & np.uint64(0x8):
                kd = PREFETCH
        addr[nrec] = a
        size[nrec] = SIZE
        kind[nrec] = kd
        if have_ip:
            site[nrec] = np.uint32(ipv & np.uint64(U32MAX))
        else:
            pending = 1
        weight[nrec] = np.uint32(_decval(buf, ts[P], te[P])) if P >= 0 else np.uint32(1)
        op[nrec] = cur_op
        cur_op += 1
        nrec += 1
    state[S_MAXLEN] = maxlen
    state[S_PENDING] = pending
    state[S_NEVENTS] = nev
    state[S_PREV_SAMPLE] = prev_sample
    return nrec, nlines, -1, -1, 0, ignored, skipped, cur_op, noaddr, fix_prev, fix_site



_HDR_EVENT = re.compile(r"^# event : name = ([^,]*),.*?\bsample_type = ([A-Z_|]+)", re.M)
_HDR_CMD = re.compile(r"^# cmdline : (.*?)\s*$", re.M)


def _header(path, meta: TraceMeta) -> None:
    """Use a ``perf script --header`` block at the top of the file, if any."""
    head = peek(path).decode("utf-8", "replace")
    if not head.lstrip(" \r\n").startswith("#"):
        return
    events = [(m.group(1).strip(), m.group(2).split("|")) for m in _HDR_EVENT.finditer(head)]
    cmd = _HDR_CMD.search(head)
    if cmd:
        meta.extra["perf_cmdline"] = cmd.group(1)
    if events:
        meta.extra["header_events"] = [name for name, _ in events]
        if not any("ADDR" in st for _, st in events):
            st = "|".join(events[0][1])
            raise TraceError(f"{path}: perf recording has no data addresses (--header: sample_type = {st}, "
                             f"no ADDR): {HOW}")


def read(path: str | Path, meta: TraceMeta, skip_bad: bool = False) -> Iterator[np.ndarray]:
    """Yield record chunks; updates meta's counters as it goes."""
    meta.tags = list(TAGS)
    meta.format = NAME
    meta.sampled = True
    _header(path, meta)
    state = np.zeros(4, np.int64)
    ev_hash = np.zeros(NEVENTS, np.uint64)
    ev_count = np.zeros(NEVENTS, np.int64)
    ev_new_s = np.full(NEVENTS, -1, np.int64)
    ev_new_e = np.full(NEVENTS, -1, np.int64)
    ts = np.zeros(MAXTOK, np.int64)
    te = np.zeros(MAXTOK, np.int64)
    names: list[str] = []
    line0 = 0
    cur_op = 0
    total = 0
    noaddr = 0
    prev = None                          # held back one block: its last site may come from a frame
    for buf, _last in blocks(path):
        if len(buf) and buf[-1] != 10:
            buf = np.append(buf, np.uint8(10))          # a last line without a newline
            buf.flags.writeable = False                 # as blocks() gives them: one compiled parse_block
        out = empty_fields(int(np.count_nonzero(buf == 10)))
        nrec, nlines, bs, be, err, ign, skp, cur_op, nad, fix, fsite = parse_block(
            buf, out["addr"], out["size"], out["kind"], out["site"], out["weight"], out["op"], cur_op, skip_bad,
            state, ev_hash, ev_count, ev_new_s, ev_new_e, ts, te)
        for j in np.flatnonzero(ev_new_s >= 0):
            names.append(bytes(buf[ev_new_s[j]:ev_new_e[j]]).decode("utf-8", "replace"))
            ev_new_s[j] = -1
        meta.ignored_lines += ign
        meta.skipped_lines += skp
        noaddr += nad
        if bs >= 0:
            raise TraceError(f"{path}:{line0 + nlines}: bad perf script line {line_text(buf, bs, be)!r}: "
                             f"{_REASONS[err]}")
        line0 += nlines
        if fix and prev is not None:
            prev["site"][-1] = fsite
        if prev is not None:
            yield prev
            prev = None
        if nrec:
            prev = out[:nrec]
            total += nrec
    if noaddr and not total:
        raise TraceError(f"{path}: perf script text has no data addresses ({noaddr} samples without one): {HOW}")
    if names:
        meta.extra["events"] = names
        meta.extra["event_samples"] = {nm: int(c) for nm, c in zip(names, ev_count[:len(names)])}
    elif "header_events" in meta.extra:
        meta.extra["events"] = list(meta.extra["header_events"])
    if prev is not None:
        yield prev


_TIME_EVENT = re.compile(rb"\s\d+\.\d+: +(?:\d+ +)?\S+: ")
_HEXDIGITS = frozenset(b"0123456789abcdef")


def _numbers_first(ln: bytes) -> bool:
    """The line starts with a hex number right-aligned in 16 columns (perf's %16lx)."""
    f = ln[:16].lstrip(b" ")
    return bool(f) and len(ln) >= 16 and all(c in _HEXDIGITS for c in f) and (len(ln) == 16 or ln[16:17] == b" ")


def sniff(head: bytes) -> bool:
    """Most sample lines of the head have perf's time and event tokens, or
    start with a 16-column right-aligned hex number (-F addr,ip layouts)."""
    if b"\x00" in head:
        return False
    lines = head.split(b"\n")
    if len(head) >= 65536:
        lines = lines[:-1]
    seen = good = 0
    after_sample = False
    for ln in lines:
        ln = ln.rstrip(b"\r")
        if not ln.strip() or ln.startswith(b"\t") or ln.lstrip().startswith(b"#") or b"PERF_RECORD_" in ln:
            after_sample = False
            continue
        sample = bool(_TIME_EVENT.search(ln) or _numbers_first(ln))
        if not sample and after_sample and ln.startswith((b" ", b"|")):
            continue          # srcline / srccode under a sample (-F +srcline,+srccode), as read() skips them
        after_sample = sample
        seen += 1
        good += sample
        if seen >= 64:
            break
    return seen > 0 and good * 10 >= seen * 9
