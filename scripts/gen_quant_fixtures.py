#!/usr/bin/env python3
"""gen_quant_fixtures.py: writes tests/fixtures/quants/<type>.txt, the golden
data test_tensor.c checks the tensor module against, from independent
references: the `gguf` package's gguf.quants (numpy), plus, if --ggml names
a directory holding llama.cpp's libggml-base.so, ggml's own quantize_row_*_ref
for the formats gguf.quants cannot quantize (q8_1 and the K formats).

Run:  PYTHONPATH=/path/to/gguf:/path/to/numpy python3 scripts/gen_quant_fixtures.py \
          [--ggml /dir/with/libggml-base.so] [--models ~/.cache/tycho/models]

Each line of a fixture file is one record, fields separated by one space:
  dequant <source> <count> <block bytes, hex> <count floats, 8 hex digits of IEEE bits each, concatenated>
  quant   <source> <count> <count floats, as above> <expected bytes, hex>
where <count> is the number of elements (a whole number of blocks) and
<source> says where the bytes came from (a model tensor name, or 'random').
Lines starting with '#' are comments.
"""
import argparse
import ctypes
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

SIZES = dict(gguf.GGML_QUANT_SIZES)
SIZES[Q.Q8_1] = (32, 36)   # gguf still lists the old float-d layout; ggml's is {f16 d, s; i8 qs[32]}

# name as GGML spells it -> (type, offsets of f16 fields in a block, offset of an f32 field)
TYPES = {
    "f32": (Q.F32, [], None),
    "f16": (Q.F16, [], None),
    "bf16": (Q.BF16, [], None),
    "q4_0": (Q.Q4_0, [0], None),
    "q4_1": (Q.Q4_1, [0, 2], None),
    "q5_0": (Q.Q5_0, [0], None),
    "q5_1": (Q.Q5_1, [0, 2], None),
    "q8_0": (Q.Q8_0, [0], None),
    "q8_1": (Q.Q8_1, [0, 2], None),
    "q2_K": (Q.Q2_K, [80, 82], None),
    "q3_K": (Q.Q3_K, [108], None),
    "q4_K": (Q.Q4_K, [0, 2], None),
    "q5_K": (Q.Q5_K, [0, 2], None),
    "q6_K": (Q.Q6_K, [208], None),
    "q8_K": (Q.Q8_K, [], 0),
}

# real blocks: model file -> [(type name, tensor name)]
REAL = {
    "SmolLM2-135M-Instruct.Q4_1.gguf": [("q4_1", "blk.0.ffn_down.weight"), ("q4_1", "blk.5.attn_q.weight"),
                                        ("q8_0", "token_embd.weight")],
    "gemma-3-270m-q4_k_m.gguf": [("q5_0", "blk.0.attn_q.weight"), ("q4_K", "blk.0.attn_output.weight"),
                                 ("q6_K", "blk.0.ffn_down.weight"), ("q8_0", "blk.0.attn_v.weight")],
}


def fbits(a):
    return "".join("%08x" % v for v in np.ascontiguousarray(a, dtype=np.float32).view(np.uint32))


def hexb(b):
    return np.ascontiguousarray(b, dtype=np.uint8).tobytes().hex()


def ref_dequant(qt, raw):
    """Reference floats for raw bytes: gguf.quants, or numpy for the two
    activation formats gguf does not know (q8_1: d * qs, q8_K: d * qs)."""
    if qt == Q.Q8_1:
        b = raw.reshape(-1, 36)
        d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
        return (b[:, 4:].view(np.int8).astype(np.float32) * d).reshape(-1)
    if qt == Q.Q8_K:
        b = raw.reshape(-1, 292)
        d = b[:, 0:4].copy().view(np.float32)
        return (d * b[:, 4:260].view(np.int8).astype(np.float32)).reshape(-1)
    return np.asarray(dequantize(raw, qt), dtype=np.float32).reshape(-1)


def random_blocks(rng, name, nblocks):
    """Random bytes with every scale field set to a sane finite value."""
    qt, f16_offs, f32_off = TYPES[name]
    blck, size = SIZES[qt]
    if qt == Q.F32:
        return rng.normal(0, 1, blck * nblocks).astype(np.float32).view(np.uint8)
    if qt == Q.F16:
        return rng.normal(0, 1, blck * nblocks).astype(np.float16).view(np.uint8)
    if qt == Q.BF16:
        v = rng.normal(0, 1, blck * nblocks).astype(np.float32).view(np.uint32) >> 16
        return v.astype(np.uint16).view(np.uint8)
    raw = rng.integers(0, 256, size * nblocks, dtype=np.uint8).reshape(nblocks, size)
    for off in f16_offs:
        s = (rng.uniform(1e-3, 5e-2, nblocks) * rng.choice([-1, 1], nblocks)).astype(np.float16)
        raw[:, off:off + 2] = s.view(np.uint8).reshape(nblocks, 2)
    if f32_off is not None:
        raw[:, f32_off:f32_off + 4] = rng.uniform(1e-3, 5e-2, nblocks).astype(np.float32).view(np.uint8).reshape(nblocks, 4)
    if qt == Q.Q8_K:   # bsums must match qs
        qs = raw[:, 4:260].view(np.int8).astype(np.int32).reshape(nblocks, 16, 16).sum(axis=2).astype(np.int16)
        raw[:, 260:292] = qs.view(np.uint8).reshape(nblocks, 32)
    return raw.reshape(-1)


def inputs_for(rng, blck):
    """Float rows to quantize: a few distributions, one row per record."""
    rows = [
        ("gauss", rng.normal(0, 1, blck)),
        ("weights", rng.normal(0, 0.02, blck)),
        ("offset", rng.uniform(-0.3, 1.7, blck)),
        ("outlier", np.where(np.arange(blck) == 5, 40.0, rng.normal(0, 0.5, blck))),
        ("ties", np.round(rng.normal(0, 4, blck)) / 2),
        ("zeros", np.zeros(blck)),
    ]
    return [(s, r.astype(np.float32)) for s, r in rows]


class Ggml:
    """ctypes access to libggml-base's reference quantizers."""

    def __init__(self, libdir):
        self.lib = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"))

    def quant(self, name, x):
        qt = TYPES[name][0]
        blck, size = SIZES[qt]
        fn = getattr(self.lib, "quantize_row_%s_ref" % name)
        out = np.zeros(len(x) // blck * size, dtype=np.uint8)
        xs = np.ascontiguousarray(x, dtype=np.float32)
        fn(xs.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(len(x)))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ggml", help="directory with llama.cpp's libggml-base.so (K-format quantizers)")
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/tycho/models"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "quants"))
    args = ap.parse_args()
    ggml = Ggml(args.ggml) if args.ggml else None
    rng = np.random.default_rng(20240611)
    os.makedirs(args.out, exist_ok=True)
    lines = {n: ["# %s fixtures from scripts/gen_quant_fixtures.py (gguf %s)" % (n, getattr(gguf, "__version__", "?"))]
             for n in TYPES}

    # real blocks from the models, when present
    for fname, picks in REAL.items():
        path = os.path.join(args.models, fname)
        if not os.path.exists(path):
            print("skip %s (not found)" % path, file=sys.stderr)
            continue
        reader = gguf.GGUFReader(path)
        by_name = {t.name: t for t in reader.tensors}
        for name, tname in picks:
            qt = TYPES[name][0]
            t = by_name[tname]
            assert t.tensor_type == qt, (tname, t.tensor_type)
            blck, size = SIZES[qt]
            data = np.asarray(t.data).reshape(-1).view(np.uint8)
            nblocks_total = len(data) // size
            for bi in [0, 1, nblocks_total // 3, nblocks_total - 1]:
                raw = data[bi * size:(bi + 1) * size].copy()
                lines[name].append("dequant %s@%d %d %s %s" % (tname, bi, blck, hexb(raw), fbits(ref_dequant(qt, raw))))

    # random valid blocks for every type; several blocks in one record too
    for name, (qt, _, _) in TYPES.items():
        blck, size = SIZES[qt]
        per = max(1, 32 // blck)
        for k in range(4):
            nb = per * (2 if k == 3 else 1)
            raw = random_blocks(rng, name, nb)
            lines[name].append("dequant random %d %s %s" % (nb * blck, hexb(raw), fbits(ref_dequant(qt, raw))))

    # quantization: gguf.quants where it can, ggml's *_ref otherwise
    for name, (qt, _, _) in TYPES.items():
        blck, size = SIZES[qt]
        n = max(blck, 32)
        for src, x in inputs_for(rng, n):
            if name == "q8_K" and src == "zeros":
                continue   # ggml leaves bsums of an all-zero q8_K block unset
            try:
                if qt == Q.F32:
                    continue
                q = np.asarray(quantize(x, qt)).view(np.uint8).reshape(-1)
                who = "gguf"
            except NotImplementedError:
                if ggml is None:
                    continue
                q = ggml.quant(name, x)
                who = "ggml"
            lines[name].append("quant %s/%s %d %s %s" % (who, src, n, fbits(x), hexb(q)))

    total = 0
    for name, ls in lines.items():
        p = os.path.join(args.out, "%s.txt" % name)
        with open(p, "w") as f:
            f.write("\n".join(ls) + "\n")
        total += os.path.getsize(p)
        print("%-5s %3d records" % (name, len(ls) - 1))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
