"""Writes the HDF5 reader's test fixtures with h5py (Debian's /usr/bin/python3), plus the oracle: every numeric
dataset dumped as little-endian raw bytes (float16 widened to float32, as the reader yields it) and a manifest.

usage: fixtures.py OUT_DIR
"""
import json
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(os.path.join(out, "sub"), exist_ok=True)
oracle_dir = os.path.join(out, "..", os.path.basename(out) + "-oracle")
os.makedirs(oracle_dir, exist_ok=True)
rng = np.random.default_rng(1234)
manifest = {}


def caffe(name, n, chw, label_dtype="i4", label_shape=None, data_dtype="f4", **kw):
    """Caffe HDF5Data style: data N x C x H x W and label N (or N x 1)."""
    data = rng.standard_normal((n,) + chw).astype(data_dtype)
    label = (np.arange(n) % 10).astype(label_dtype)
    if label_shape is not None:
        label = label.reshape(label_shape)
    with h5py.File(os.path.join(out, name), "w") as f:
        f.create_dataset("data", data=data, **kw)
        f.create_dataset("label", data=label)
    return data


a = caffe("a.h5", 300, (3, 8, 8))  # contiguous
a[5, 0, 0, 0] = np.nan
a[17, 2, 7, 7] = np.nan
a[42, 1, 3, 3] = np.inf
with h5py.File(os.path.join(out, "a.h5"), "r+") as f:
    f["data"][...] = a
caffe("b.h5", 200, (3, 8, 8), chunks=(32, 3, 8, 8), compression="gzip", shuffle=True)
caffe("sub/c.h5", 100, (3, 16, 16), label_dtype="f4", label_shape=(100, 1))
caffe("d64.h5", 120, (10,), label_dtype="f8", label_shape=(120, 1), data_dtype="f8", chunks=(50, 10))

with h5py.File(os.path.join(out, "types.h5"), "w") as f:
    f["f16"] = np.array(
        [[np.nan, np.inf, -np.inf, 65504, -65504], [6e-8, -6e-8, 1e-5, 0.0, -0.0]] * 30, dtype="f2"
    )
    for t in ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"]:
        info = np.iinfo(t)
        lo, hi = int(info.min), int(info.max)
        vals = [lo, hi] + [lo + (hi - lo) * k // 57 for k in range(58)]
        f[t] = np.array(vals, dtype=t).reshape(30, 2)
    f.create_dataset("gz", data=rng.standard_normal((1000, 16)).astype("f4"), chunks=(100, 16),
                     compression="gzip", compression_opts=6, shuffle=True)
    f["g1/g2/deep"] = rng.standard_normal((40, 2, 2)).astype("f4")
    f["names"] = np.array(["x%d" % i for i in range(30)], dtype=h5py.string_dtype())
    comp = np.zeros(30, dtype=[("a", "i4"), ("b", "f8")])
    comp["a"] = np.arange(30) - 7
    comp["b"] = rng.standard_normal(30)
    f["comp"] = comp
    f["scalar"] = np.float32(3.5)
    f["one_d"] = rng.standard_normal(77).astype("f4")
    f["empty"] = np.zeros((0, 4), dtype="f4")
    f["be"] = rng.standard_normal((20, 3)).astype(">f4")
    f["zero_width"] = np.zeros((10, 0), dtype="f4")
    f["link"] = h5py.SoftLink("/one_d")

# Compounds as h5py packs them (members at any offset): big-endian, nested, array, string, vlen-string and enum
# members, 2-D (rows of 3 elements), chunked and compressed; only the numeric fields are read.
rich_dt = np.dtype([("x", "<f4"), ("y", ">f8"), ("name", "S10"), ("v", h5py.string_dtype()), ("arr", ">i2", (2, 3)),
                    ("nest", [("a", "u1"), ("b", "<f2"), ("deeper", [("c", ">u4")])]), ("flag", "?")])
with h5py.File(os.path.join(out, "compound.h5"), "w") as f:
    rich = np.zeros((70, 3), dtype=rich_dt)
    rich["x"] = rng.standard_normal((70, 3))
    rich["x"][7, 1] = np.nan
    rich["y"] = rng.standard_normal((70, 3)) * 1e6
    rich["name"] = b"abc"
    rich["v"] = "some text"
    rich["arr"] = rng.integers(-30000, 30000, (70, 3, 2, 3))
    rich["nest"]["a"] = rng.integers(0, 256, (70, 3))
    rich["nest"]["b"] = rng.standard_normal((70, 3))
    rich["nest"]["deeper"]["c"] = rng.integers(0, 2**32, (70, 3))
    rich["flag"] = rng.integers(0, 2, (70, 3))
    f.create_dataset("rich", data=rich, chunks=(16, 3), compression="gzip")
    f["flat"] = rich[:, 0]

with h5py.File(os.path.join(out, "ub.h5"), "w", userblock_size=512) as f:
    f["x"] = np.arange(20, dtype="f4").reshape(10, 2)

# The newest file format (v2 object headers with checksums, layout v4 chunk indexes), for direct reads.
with h5py.File(os.path.join(out, "latest.h5"), "w", libver="latest") as f:
    f["contig"] = rng.standard_normal((200, 4)).astype("f4")
    fa = f.create_dataset("fa", data=rng.standard_normal((300, 3, 4)).astype("f4"), chunks=(32, 3, 4))  # fixed array
    for k in range(6):  # added after the fact: the header grows a continuation block
        fa.attrs["note%d" % k] = "x" * 300
    f.create_dataset("fa_paged", data=rng.standard_normal((2100, 4)).astype("f4"), chunks=(1, 4))  # paged fixed array
    f.create_dataset("single", data=rng.standard_normal((50, 6)).astype("f8"), chunks=(50, 6))  # single chunk
    f.create_dataset("ea", data=rng.standard_normal((100, 4)).astype("f4"), chunks=(10, 4), maxshape=(None, 4))
    f.create_dataset("bt2", data=rng.standard_normal((60, 4)).astype("f4"), chunks=(10, 2), maxshape=(None, None))
    part = f.create_dataset("partial", shape=(100, 4), dtype="f4", chunks=(10, 4))
    part[:30] = rng.standard_normal((30, 4)).astype("f4")  # chunks 3..9 never written: fill value
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((16, 5))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # with fixed dims: the implicit index
    space = h5py.h5s.create_simple((70, 5))
    h5py.h5d.create(f.id, b"implicit", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    f["implicit"][...] = rng.standard_normal((70, 5)).astype("f4")

# The default format with a deep chunk B-tree, a header continued by attributes, a shrunk dataset, sub-row chunks.
with h5py.File(os.path.join(out, "btree.h5"), "w") as f:
    many = f.create_dataset("many", data=rng.standard_normal((3000, 2)).astype("f4"), chunks=(1, 2))
    for k in range(12):
        many.attrs["note%d" % k] = "y" * 200
    shrunk = f.create_dataset("shrunk", data=rng.standard_normal((100, 4)).astype("i2"), chunks=(10, 4), maxshape=(None, 4))
    shrunk.resize((55, 4))
    f.create_dataset("subrow", data=rng.standard_normal((40, 3, 4)).astype("f4"), chunks=(8, 1, 4))

# Rows of their own direct read each (3x128x128 float32 = 192 KiB; 3x224x224 uint8 = 147 KiB), and rows bigger
# than the scan kernel's 256 KiB arena (80,000 float32 = 312.5 KiB), read into a buffer of their own and scanned
# in pieces.
with h5py.File(os.path.join(out, "big.h5"), "w") as f:
    big = rng.standard_normal((6, 3, 128, 128)).astype("f4")
    big[1, 2, 100, 5] = np.nan  # element 45,061
    big[1, 0, 0, 3] = np.nan
    big[3] = 0.25  # a constant row
    big[4, 1, 64, 64] = -np.inf
    f.create_dataset("data", data=big, chunks=(2, 3, 128, 128))
    px = rng.integers(0, 256, (4, 3, 224, 224), dtype=np.uint8)
    px[2] = 7
    f["pixels"] = px
    f["wide64"] = rng.standard_normal((3, 20000)).astype("f8")  # 160,000 bytes a row
    wide = rng.standard_normal((2, 80000)).astype("f4")
    wide[1, 70000] = np.inf  # byte 280,000 of its row: in the second piece the kernel scans
    f["wide"] = wide
    f["label"] = np.arange(6, dtype="i4")

# Raw data in an external file that is then deleted: contiguous data HDF5 cannot read.
ext_bin = os.path.join(out, "ext.bin")
with h5py.File(os.path.join(out, "ext.h5"), "w") as f:
    f.create_dataset("data", shape=(100, 4), dtype="f4", external=[(ext_bin, 0, 100 * 16)])
    f["data"][...] = rng.standard_normal((100, 4)).astype("f4")
    f["label"] = np.arange(100).astype("i4")

# A chunk whose deflate stream is damaged: rows 64..95 of `data` cannot be read, the rest can.
bad = caffe("badchunk.h5", 200, (3, 8, 8), chunks=(32, 3, 8, 8), compression="gzip", shuffle=True)
with h5py.File(os.path.join(out, "badchunk.h5"), "r") as f:
    info = f["data"].id.get_chunk_info(2)
    assert info.chunk_offset[0] == 64, info
    offset = info.byte_offset


def numeric_fields(prefix, dt):
    """(name, path of field names) of every numeric field of a compound dtype, nested compounds flattened as the
    reader names them (`meta.a.b`); numeric sub-array fields included."""
    out = []
    for fname in dt.names:
        sub = dt.fields[fname][0]
        name = prefix + "." + fname
        base = sub.subdtype[0] if sub.subdtype is not None else sub
        if sub.names is not None:
            out += [(n, (fname,) + p) for n, p in numeric_fields(name, sub)]
        elif base.kind in "iuf":
            out.append((name, (fname,)))
    return out


def dump(fname, skip=()):
    entry = {}
    with h5py.File(os.path.join(out, fname), "r") as f:
        def put(name, arr):
            dt = arr.dtype
            if dt.kind == "f" and dt.itemsize == 2:
                arr = arr.astype("<f4")
            else:
                arr = arr.astype(dt.newbyteorder("<"))
            binname = fname.replace("/", "_") + "__" + name.replace("/", "_") + ".bin"
            with open(os.path.join(oracle_dir, binname), "wb") as fh:
                fh.write(np.ascontiguousarray(arr).tobytes())
            entry[name] = {"dtype": dt.kind + str(dt.itemsize), "shape": list(arr.shape), "bin": binname}

        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset) or name in skip:
                return
            if f.get(name, getlink=True).__class__ is not h5py.HardLink:
                return
            if obj.ndim == 0:
                return
            if obj.dtype.names is not None:
                whole = obj[()]
                for fname_, path in numeric_fields(name, obj.dtype):
                    arr = whole
                    for p in path:
                        arr = arr[p]
                    put(fname_, arr)
                return
            if obj.dtype.kind not in "iuf":
                return
            put(name, obj[()])
        f.visititems(visit)
    manifest[fname] = entry


for fname in ["a.h5", "b.h5", "sub/c.h5", "d64.h5", "types.h5", "compound.h5", "ub.h5", "badchunk.h5", "ext.h5", "latest.h5", "btree.h5", "big.h5"]:
    dump(fname)
os.remove(ext_bin)

# Damage after dumping: the oracle holds what was written.
with open(os.path.join(out, "badchunk.h5"), "r+b") as fh:
    fh.seek(offset)
    fh.write(b"\xde\xad\xbe\xef" * 4)

raw = open(os.path.join(out, "a.h5"), "rb").read()
with open(os.path.join(out, "trunc.h5"), "wb") as fh:
    fh.write(raw[: len(raw) // 2])
raw = bytearray(open(os.path.join(out, "b.h5"), "rb").read())
raw[:1024] = rng.integers(0, 256, 1024, dtype=np.uint8).tobytes()
with open(os.path.join(out, "garbage.h5"), "wb") as fh:
    fh.write(raw)
with open(os.path.join(out, "empty.h5"), "wb") as fh:
    pass

with open(os.path.join(out, "clean.txt"), "w") as fh:
    fh.write("# Caffe HDF5Data source\na.h5\n\n%s\n" % os.path.join(out, "b.h5"))
with open(os.path.join(out, "mixed.txt"), "w") as fh:
    fh.write("a.h5\nmissing.h5\nsub/c.h5\n")
with open(os.path.join(out, "damaged.txt"), "w") as fh:
    fh.write("a.h5\ntrunc.h5\ngarbage.h5\nb.h5\n")
with open(os.path.join(out, "images.txt"), "w") as fh:
    fh.write("img1.jpg 3\nimg2.jpg 4\n")
with open(os.path.join(oracle_dir, "manifest.json"), "w") as fh:
    json.dump(manifest, fh)
print(oracle_dir)
