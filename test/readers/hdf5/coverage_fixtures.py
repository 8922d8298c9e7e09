"""Writes the fixtures of test/readers/hdf5/coverage.test.ts with h5py (Debian's /usr/bin/python3): compound
datasets, groups, unsupported types, label datasets and Caffe lists; and, computed by numpy from what was
written, the oracle the test compares the scan with (oracle.json).

usage: coverage_fixtures.py OUT_DIR
"""
import json
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(14)
oracle = {}
NUM_CLASSES = 5


def path(name):
    return os.path.join(out, name)


def bad_rows(arr):
    """Rows (first dimension) holding NaN, +Inf and -Inf, as numpy finds them."""
    axes = tuple(range(1, arr.ndim))
    any_ = (lambda m: m.any(axis=axes)) if axes else (lambda m: m)
    return {
        "nan": np.flatnonzero(any_(np.isnan(arr))).tolist(),
        "posinf": np.flatnonzero(any_(np.isposinf(arr))).tolist(),
        "neginf": np.flatnonzero(any_(np.isneginf(arr))).tolist(),
    }


# A compound with numeric fields (x f4, y big-endian f8, nested b f2), a fixed string, a vlen string and a bool
# (an HDF5 enum); NaN in x at row 7, +Inf in y at row 3, NaN in nest.b at row 11. And a compound with no numeric
# field at all.
meta_dt = np.dtype([("x", "<f4"), ("y", ">f8"), ("name", "S10"), ("note", h5py.string_dtype()),
                    ("nest", [("a", "u1"), ("b", "<f2")]), ("flag", "?")])
meta = np.zeros(20, dtype=meta_dt)
meta["x"] = rng.standard_normal(20)
meta["x"][7] = np.nan
meta["y"] = rng.standard_normal(20)
meta["y"][3] = np.inf
meta["name"] = [b"n%d" % i for i in range(20)]
meta["note"] = ["note %d" % i for i in range(20)]
meta["nest"]["a"] = np.arange(20)
meta["nest"]["b"] = rng.standard_normal(20)
meta["nest"]["b"][11] = np.nan
meta["flag"] = np.arange(20) % 2
words = np.zeros(20, dtype=[("w", "S5"), ("t", h5py.string_dtype())])
words["w"] = b"abc"
words["t"] = "text"
with h5py.File(path("compound.h5"), "w") as f:
    f["meta"] = meta
    f["words"] = words
with h5py.File(path("compound.h5"), "r") as f:
    back = f["meta"][()]
oracle["compound"] = {
    "fields": {name: bad_rows(back[p] if isinstance(p, str) else back[p[0]][p[1]])
               for name, p in [("meta.x", "x"), ("meta.y", "y"), ("meta.nest.a", ("nest", "a")), ("meta.nest.b", ("nest", "b"))]},
    "records": 20,
}

# Groups: train/ and val/ of different lengths (no finding), test/ whose label is one row short (a finding).
with h5py.File(path("groups.h5"), "w") as f:
    for g, n, nl in [("train", 50, 50), ("val", 20, 20), ("test", 10, 9)]:
        f[g + "/data"] = rng.standard_normal((n, 3)).astype("f4")
        f[g + "/label"] = (np.arange(nl) % 3).astype("i4")
oracle["groups"] = {"mismatch": {"group": "test", "rows": {"test/data": 10, "test/label": 9}}}

# No numeric content: a string dataset, a scalar and a zero-length one; beside them a group with clean data.
with h5py.File(path("unsupported.h5"), "w") as f:
    f["text"] = np.array(["a", "bb", "ccc"], dtype=h5py.string_dtype())
    f["scalar"] = np.float32(2.5)
    f["empty"] = np.zeros((0, 3), dtype="f4")
    f["g/data"] = rng.standard_normal((10, 3)).astype("f4")

# A label dataset with a negative label, one not below NUM_CLASSES and a 1.5 among integers.
labels = (np.arange(40) % NUM_CLASSES).astype("f4")
labels[3] = -1
labels[10] = NUM_CLASSES + 2
labels[20] = 1.5
data = rng.standard_normal((40, 2)).astype("f4")
with h5py.File(path("labels.h5"), "w") as f:
    f["data"] = data
    f["label"] = labels
with h5py.File(path("labels.h5"), "r") as f:
    lab = f["label"][()]
    dat = f["data"][()].astype("f8")
integer = lab == np.round(lab)
ints = lab[integer].astype(int)
oracle["labels"] = {
    "negative": np.flatnonzero(lab < 0).tolist(),
    "tooLarge": np.flatnonzero(integer & (lab >= NUM_CLASSES)).tolist(),
    "nonInteger": np.flatnonzero(~integer).tolist(),
    "histogram": {str(k): int(v) for k, v in zip(*np.unique(ints, return_counts=True))},
    "stats": {"values": int(dat.size), "min": float(dat.min()), "max": float(dat.max()), "mean": float(dat.mean())},
    "labelStats": {"values": int(lab.size), "min": float(lab.min()), "max": float(lab.max())},
}

# Two label names among siblings: `label` (first in the name order) holds the labels, `Y` is data.
with h5py.File(path("twolabels.h5"), "w") as f:
    f["data"] = rng.standard_normal((12, 2)).astype("f4")
    f["label"] = (np.arange(12) % 3).astype("i4")
    f["Y"] = rng.standard_normal(12) + 100

# A float regression target (mostly not integers, a few that are, one negative): no class analysis, no errors.
target = rng.standard_normal(30) * 3
target[[0, 5]] = [-2.0, 4.0]
with h5py.File(path("regression.h5"), "w") as f:
    f["data"] = rng.standard_normal((30, 2)).astype("f4")
    f["target"] = target
oracle["regression"] = {"nonInteger": int((target != np.round(target)).sum())}

# Caffe HDF5Data lists: (N,) against (N, 1) labels and float32 against float64 data read alike; 3x4x5 values a
# row against 3x4x4 do not.
with h5py.File(path("caffe1.h5"), "w") as f:
    f["data"] = rng.standard_normal((12, 3, 4, 4)).astype("f4")
    f["label"] = (np.arange(12) % 3).astype("i4")
with h5py.File(path("caffe2.h5"), "w") as f:
    f["data"] = rng.standard_normal((8, 3, 4, 4)).astype("f8")
    f["label"] = (np.arange(8) % 3).astype("f4").reshape(8, 1)
with h5py.File(path("caffe3.h5"), "w") as f:
    f["data"] = rng.standard_normal((8, 3, 4, 5)).astype("f4")
    f["label"] = (np.arange(8) % 3).astype("i4")
with open(path("same.txt"), "w") as fh:
    fh.write("caffe1.h5\ncaffe2.h5\n")
with open(path("differ.txt"), "w") as fh:
    fh.write("caffe1.h5\ncaffe3.h5\n")
oracle["caffe"] = {"values": {"caffe1.h5": 48, "caffe3.h5": 60}}

# Clean: data, labels and a compound of numeric fields, all 30 rows.
clean_meta = np.zeros(30, dtype=[("x", "<f4"), ("i", "<i8")])
clean_meta["x"] = rng.standard_normal(30)
clean_meta["i"] = np.arange(30)
with h5py.File(path("clean.h5"), "w") as f:
    f["data"] = rng.standard_normal((30, 4)).astype("f4")
    f["label"] = (np.arange(30) % 3).astype("i4")
    f["meta"] = clean_meta

with open(os.path.join(out, "oracle.json"), "w") as fh:
    json.dump(oracle, fh)
