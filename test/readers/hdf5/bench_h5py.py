"""HDF5 benchmark helper (Debian's /usr/bin/python3 with h5py).

usage: bench_h5py.py write DIR ROWS   -- writes DIR/contig.h5 and DIR/chunked.h5: float32 (ROWS, 3, 32, 32)
       bench_h5py.py read FILE [SLAB [REPEATS]] -- h5py read_direct in SLAB-row slabs (default 1024) into one
                                         reused buffer, touching one value per 4 KiB page; prints the median GB/s
"""
import os
import sys
import time

import h5py
import numpy as np

SHAPE = (3, 32, 32)
BLOCK = 8192

if sys.argv[1] == "write":
    out, rows = sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    base = np.random.default_rng(0).standard_normal((BLOCK,) + SHAPE).astype("f4")
    for name, kw in [("contig.h5", {}), ("chunked.h5", {"chunks": (64,) + SHAPE})]:
        with h5py.File(os.path.join(out, name), "w") as f:
            d = f.create_dataset("data", shape=(rows,) + SHAPE, dtype="f4", **kw)
            f.create_dataset("label", data=(np.arange(rows) % 10).astype("i4"))
            for s in range(0, rows, BLOCK):
                e = min(rows, s + BLOCK)
                d[s:e] = base[: e - s] + s
elif sys.argv[1] == "read":
    path = sys.argv[2]
    slab = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    rates = []
    with h5py.File(path, "r") as f:
        d = f["data"]
        n = d.shape[0]
        buf = np.empty((slab,) + d.shape[1:], dtype=d.dtype)
        for _ in range(repeats):
            acc = 0.0
            t0 = time.perf_counter()
            for s in range(0, n, slab):
                e = min(n, s + slab)
                view = buf[: e - s]
                d.read_direct(view, np.s_[s:e], np.s_[0 : e - s])
                acc += float(view.reshape(-1)[::1024].sum())
            rates.append(d.size * d.dtype.itemsize / (time.perf_counter() - t0) / 1e9)
    print("%s: h5py read_direct %d rows: %.2f GB/s [%s]" % (os.path.basename(path), slab, sorted(rates)[len(rates) // 2],
                                                           " ".join("%.2f" % r for r in rates)))
