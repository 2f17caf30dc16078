"""Rewrite sample fields of a perf.data file in place, so that the real perf 6.1
renders values a page-fault recording cannot produce (no PMU in the VM):
data_src values of PEBS loads/stores/prefetches (FORMATS.md 1.3), latency
weights, physical addresses and one kernel data address.

usage: python3 patch_samples.py FILE.data
"""
import struct
import sys

# PERF_SAMPLE_* bits in the order the fields appear in a PERF_RECORD_SAMPLE
ORDER = [(1 << 16, "IDENTIFIER", 8), (1 << 0, "IP", 8), (1 << 1, "TID", 8), (1 << 2, "TIME", 8),
         (1 << 3, "ADDR", 8), (1 << 6, "ID", 8), (1 << 9, "STREAM_ID", 8), (1 << 7, "CPU", 8),
         (1 << 8, "PERIOD", 8), (1 << 14, "WEIGHT", 8), (1 << 24, "WEIGHT_STRUCT", 8),
         (1 << 15, "DATA_SRC", 8), (1 << 17, "TRANSACTION", 8), (1 << 19, "PHYS_ADDR", 8),
         (1 << 22, "DATA_PAGE_SIZE", 8)]
KNOWN = sum(bit for bit, _, _ in ORDER)
DSRC = [0x68100142, 0x68100442, 0x629080842, 0x1a29081042, 0x68100242, 0x68800842, 0x90401042,
        0x2068808042, 0x5080144, 0x5080184, 0x6a100142, 0x68140042, 0x81600000002, 0x60005080022,
        0x5080028, 0x0]
WEIGHTS = [31, 12, 45, 180, 9, 0, 0, 2107]


def main(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        magic, size, attr_size, attrs_off, attrs_size, data_off, data_size = struct.unpack_from("<8sQQQQQQ", data, 0)
        assert magic == b"PERFILE2", magic
        sample_type = struct.unpack_from("<Q", data, attrs_off + 24)[0]
        assert sample_type & ~KNOWN == 0, hex(sample_type)
        pos, end, n = data_off, data_off + data_size, 0
        while pos < end:
            rtype, misc, rsize = struct.unpack_from("<IHH", data, pos)
            if rtype == 9:                       # PERF_RECORD_SAMPLE
                off = pos + 8
                for bit, name, width in ORDER:
                    if not sample_type & bit:
                        continue
                    if name == "DATA_SRC":
                        struct.pack_into("<Q", data, off, DSRC[n % len(DSRC)])
                    elif name in ("WEIGHT", "WEIGHT_STRUCT"):   # var1_dw is the low 32 bits
                        struct.pack_into("<Q", data, off, WEIGHTS[n % len(WEIGHTS)])
                    elif name == "PHYS_ADDR":
                        struct.pack_into("<Q", data, off, 0x44e96a000 + 0x1000 * n + 0x308)
                    elif name == "ADDR" and n == 3:
                        struct.pack_into("<Q", data, off, 0xffffffffb752b814)
                    off += width
                n += 1
            pos += rsize
        f.seek(0)
        f.write(data)
    print(f"{path}: patched {n} samples")


if __name__ == "__main__":
    main(sys.argv[1])
