#!/usr/bin/env python3
"""
gen_sampler_fixtures.py: reference outputs for tycho's sampler, computed by
llama.cpp's own samplers (llama-cpp-python's low-level API), written to
tests/fixtures/sampler/*.txt for tests/c/test_sampler.c.

For each logit vector and parameter setting the chain Ollama's llama runner
builds (penalties, top_k, typical, top_p, min_p, temperature, dist) is run one
llama.cpp sampler at a time, and the candidates after every stage are
recorded, then the final probabilities that llama.cpp's dist sampler draws
from (chain.txt). draws.txt holds the ids tycho's documented draw must pick
for a few seeds, from an independent Python xoshiro256**.

Usage: python3 scripts/gen_sampler_fixtures.py [outdir]
"""
import ctypes
import math
import os
import sys

import numpy as np
import llama_cpp.llama_cpp as L

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "sampler")

# llama-cpp-python 0.3.36 declares llama_sampler_init_penalties with the
# older five-argument signature (n_vocab first); the bundled libllama agrees
# (checked: a 4-argument call leaves logits untouched, this one penalizes).
PENALTIES = L._lib.llama_sampler_init_penalties
PENALTIES.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_float, ctypes.c_float, ctypes.c_float]
PENALTIES.restype = L.llama_sampler_p_ctypes

STAGES = ["penalties", "top_k", "typical", "top_p", "min_p", "temp"]
# stages after which llama.cpp leaves a fresh softmax in p (the others keep stale p)
P_VALID = {"typical", "top_p"}


def f32(x):
    return float(np.float32(x))


def fmt(x):
    x = float(np.float32(x))
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    return "%.9g" % x


class Cands:
    """A llama_token_data_array owning its storage."""

    def __init__(self, items, sorted_=False):
        n = len(items)
        self.buf = (L.llama_token_data * max(n, 1))()
        for i, (tid, logit, p) in enumerate(items):
            self.buf[i].id = tid
            self.buf[i].logit = logit
            self.buf[i].p = p
        self.arr = L.llama_token_data_array(
            data=ctypes.cast(self.buf, ctypes.POINTER(L.llama_token_data)),
            size=n, selected=-1, sorted=sorted_)

    def items(self):
        return [(self.buf[i].id, self.buf[i].logit, self.buf[i].p) for i in range(self.arr.size)]


def make_stage(name, prm, history):
    if name == "penalties":
        last_n = prm["repeat_last_n"]
        if last_n == -1:
            last_n = prm["n_ctx"]   # common_params' rule: -1 means the context size
        s = PENALTIES(prm["n_vocab"], last_n, prm["repeat_penalty"],
                      prm["frequency_penalty"], prm["presence_penalty"])
        for t in history:
            L.llama_sampler_accept(s, t)
        return s
    if name == "top_k":
        return L.llama_sampler_init_top_k(prm["top_k"])
    if name == "typical":
        return L.llama_sampler_init_typical(prm["typical_p"], 1)
    if name == "top_p":
        return L.llama_sampler_init_top_p(prm["top_p"], 1)
    if name == "min_p":
        return L.llama_sampler_init_min_p(prm["min_p"], 1)
    if name == "temp":
        return L.llama_sampler_init_temp(prm["temperature"])
    raise ValueError(name)


def encode(before, items):
    """One line of 'id logit p' triples; when the stage kept every candidate
    in place, 'delta' and only the changed ones, to keep the fixture small."""
    if len(items) == len(before) and all(a[0] == b[0] for a, b in zip(before, items)):
        ch = [c for b, c in zip(before, items)
              if fmt(b[1]) != fmt(c[1]) or fmt(b[2]) != fmt(c[2])]
        return "delta " + " ".join("%d %s %s" % (i, fmt(l), fmt(p)) for i, l, p in ch)
    return "list " + " ".join("%d %s %s" % (i, fmt(l), fmt(p)) for i, l, p in items)


def tie_at_cut(before, after):
    """True when a dropped candidate has the same logit as a kept one: which of
    the tied ids survives is then up to std::partial_sort, not the algorithm."""
    kept = {c[0] for c in after}
    kept_logits = {c[1] for c in after}
    return any(c[0] not in kept and c[1] in kept_logits for c in before)


def run_case(out, name, lname, logits, prm, history):
    n = len(logits)
    prm = dict(prm, n_vocab=n)
    start = len(out)
    out.append("case %s %s" % (name, lname))
    out.append("hist %d %s" % (len(history), " ".join(str(t) for t in history)))
    out.append("params %s %d %s %s %s %s %d %s %s %d" % (
        fmt(prm["temperature"]), prm["top_k"], fmt(prm["top_p"]), fmt(prm["min_p"]),
        fmt(prm["typical_p"]), fmt(prm["repeat_penalty"]), prm["repeat_last_n"],
        fmt(prm["presence_penalty"]), fmt(prm["frequency_penalty"]), prm["n_ctx"]))
    cur = Cands([(i, f32(v), 0.0) for i, v in enumerate(logits)])
    before = cur.items()
    for st in STAGES:
        if st == "typical" and prm["typical_p"] < 1.0:
            ls = np.array([c[1] for c in before], dtype=np.float32)
            if np.any(np.exp(ls - ls.max()) == 0):
                # llama.cpp's entropy is then -0 * log(0) = NaN and its sort
                # order undefined; tycho counts 0 log 0 as 0. Not comparable.
                del out[start:]
                print("skipped %s: a probability underflows to 0 before typical" % name)
                return
        smpl = make_stage(st, prm, history)
        L.llama_sampler_apply(smpl, ctypes.byref(cur.arr))
        L.llama_sampler_free(smpl)
        items = cur.items()
        if len(items) == 0:
            raise SystemExit("%s: stage %s emptied the candidates" % (name, st))
        flags = []
        if st in P_VALID:
            flags.append("p")
        if tie_at_cut(before, items):
            flags.append("tie")
        out.append("stage %s %d %s" % (st, len(items), ",".join(flags) or "-"))
        out.append(encode(before, items))
        before = items
        # carry on from a fresh array holding exactly what the stage left,
        # as the C test does
        cur = Cands(items, bool(cur.arr.sorted))
    dist = L.llama_sampler_init_dist(1234)
    L.llama_sampler_apply(dist, ctypes.byref(cur.arr))
    L.llama_sampler_free(dist)
    items = cur.items()
    # the greedy case: llama.cpp keeps every candidate but leaves only the
    # maximum finite; a tie there is resolved by array order
    flags = []
    if prm["temperature"] <= 0:
        mx = max(l for _, l, _ in items)
        if sum(1 for _, l, _ in before if l == mx) > 1:
            flags.append("tie")
    elif any(fl == "tie" for fl in out[-2].split()[3].split(",")):
        flags.append("tie")
    out.append("final %d %s" % (len(items), ",".join(flags) or "-"))
    # candidates left with p == 0 (masked, or beaten in the greedy case) are
    # not drawable; leave them out
    items = [c for c in items if c[2] > 0]
    out.append("list " + " ".join("%d %s %s" % (i, fmt(l), fmt(p)) for i, l, p in items))
    out.append("end")


def hash_logits(seed, n):
    """Logits C can rebuild bit for bit: an integer hash scaled in float32."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761) + np.uint64(seed) * np.uint64(40503)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    v = (h % np.uint64(2000001)).astype(np.int64) - 1000000
    return (v.astype(np.float32) / np.float32(100000.0)).astype(np.float32)


DEFAULTS = dict(temperature=0.8, top_k=40, top_p=0.9, min_p=0.0, typical_p=1.0,
                repeat_penalty=1.1, repeat_last_n=64, presence_penalty=0.0,
                frequency_penalty=0.0, n_ctx=2048)


def P(**kw):
    return dict(DEFAULTS, **kw)


SETTINGS = [
    ("defaults", P()),
    ("all_on", P(temperature=1.5, top_k=50, typical_p=0.95, top_p=0.8, min_p=0.05,
                 repeat_penalty=1.3, presence_penalty=0.5, frequency_penalty=0.2)),
    ("k0_p05_minp", P(top_k=0, top_p=0.5, min_p=0.1, temperature=0.7)),
    ("typical_only", P(top_k=0, top_p=1.0, typical_p=0.5, repeat_penalty=1.0, temperature=1.0)),
    ("greedy_pen", P(temperature=0.0, repeat_penalty=2.0, frequency_penalty=0.3)),
    ("all_off", P(top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0, temperature=1.0)),
    ("lastn_off", P(repeat_last_n=0, repeat_penalty=1.5, presence_penalty=1.0)),
    ("lastn_ctx", P(repeat_last_n=-1, n_ctx=16, repeat_penalty=1.2, presence_penalty=0.7,
                    frequency_penalty=0.4)),
    ("k1", P(top_k=1)),
    ("minp_1", P(top_k=0, top_p=1.0, min_p=1.0)),
    ("topp_0", P(top_k=0, top_p=0.0)),
    ("neg_pen", P(repeat_penalty=0.8, presence_penalty=-0.5, frequency_penalty=-0.1)),
    ("greedy_typical", P(temperature=0.0, typical_p=0.7)),
]
# the full-vocabulary path on the large vocabulary: top_p's partial sort must
# grow past its first 256 candidates, min_p then cuts further
BIG_K0 = ("k0_p01_minp", P(top_k=0, top_p=0.1, min_p=0.95, temperature=0.9))


M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


class Xoshiro256ss:
    """xoshiro256** (Blackman and Vigna), seeded by four splitmix64 outputs:
    tycho's documented generator, written again here from the paper."""

    def __init__(self, seed):
        x, self.s = seed & M64, []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        r = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return r

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def draws(out):
    """Expected ids for a seed, from tycho's documented draw: p = softmax in
    float32, u from the top 53 bits, the first id whose running sum of p
    exceeds u. With every filter off the chain is just that softmax."""
    logits = [f32(x) for x in (1.5, -0.25, 0.75, 3.0, 2.25, -1.0, 0.0, 2.9)]
    mx = max(logits)
    w = [f32(math.exp(l - mx)) for l in logits]
    tot = sum(w)
    p = [f32(x / tot) for x in w]
    for seed in (0, 42, 12345, 2**62 + 7):
        g = Xoshiro256ss(seed)
        ids = []
        for _ in range(300):
            u, acc, pick = g.uniform(), 0.0, None
            for i, pi in enumerate(p):
                acc += pi
                if u < acc:
                    pick = i
                    break
            if pick is None:
                pick = max(i for i, pi in enumerate(p) if pi > 0)
            ids.append(pick)
        out.append("draws %d %s" % (seed, " ".join(fmt(l) for l in logits)))
        out.append(" ".join(str(i) for i in ids))


def main():
    rng = np.random.default_rng(20261126)
    vecs = []
    vecs.append(("v1", np.array([0.5], dtype=np.float32)))
    vecs.append(("v3", np.array([2.0, 2.0, -1.0], dtype=np.float32)))
    vecs.append(("v3b", np.array([-3.0, 1e-30, 7.5], dtype=np.float32)))
    a = rng.normal(0.0, 3.0, 1000).astype(np.float32)
    a[rng.integers(0, 1000, 30)] = -np.inf          # masked tokens
    a[[10, 11, 12]] = a[500]                          # ties in the middle
    a[[20, 21]] = np.float32(9.5)                     # a tie near the top
    vecs.append(("r1000", a))
    b = rng.normal(0.0, 1.0, 1000).astype(np.float32) * np.float32(40.0)
    b[[5, 6]] = [np.float32(1e4), np.float32(-1e30)]  # huge and tiny values
    b[7] = np.float32(1e-30)
    vecs.append(("wide1000", b))
    c = rng.normal(0.0, 0.05, 1000).astype(np.float32)  # nearly flat
    vecs.append(("flat1000", c))

    out = ["# generated by scripts/gen_sampler_fixtures.py with llama-cpp-python %s; do not edit"
           % getattr(sys.modules["llama_cpp"], "__version__", "?")]
    for lname, v in vecs:
        out.append("logits %s %d" % (lname, len(v)))
        out.append(" ".join(fmt(x) for x in v))
    for lname, v in vecs:
        n = len(v)
        for sname, prm in SETTINGS:
            hist = [int(t) for t in rng.integers(0, n, 40)]
            if n >= 3:
                hist += [int(np.argmax(np.where(np.isfinite(v), v, -1e38)))] * 3  # penalize the top token
            run_case(out, "%s_%s" % (lname, sname), lname, v, prm, hist)
    # a large vocabulary built from a hash, so the file stays small and the C
    # test exercises the partial selection on 65536 logits
    big = hash_logits(7, 65536)
    out.append("logits big65536 65536 hash 7")
    for sname, prm in [SETTINGS[0], SETTINGS[1], SETTINGS[4], SETTINGS[7], SETTINGS[11], BIG_K0]:
        hist = [int(t) for t in rng.integers(0, 65536, 60)] + [int(np.argmax(big))] * 2
        run_case(out, "big65536_%s" % sname, "big65536", big, prm, hist)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "chain.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    out = ["# generated by scripts/gen_sampler_fixtures.py: xoshiro256** draws; do not edit"]
    draws(out)
    path = os.path.join(OUT, "draws.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
