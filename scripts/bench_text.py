#!/usr/bin/env python3
"""Tokenizer and sampler speed: tycho beside llama.cpp, in one run.

Usage:
    python3 scripts/bench_text.py [--models DIR] [--repeats 5] [--text FILE]

Tokenizing: a text file (default: 1 MiB built from the repository's docs and
sources, repeated) with each model's vocabulary, special tokens parsed, BOS as
the vocabulary says; tycho through `build/tycho scripts/bench_text.lua`,
llama.cpp through llama_tokenize. Both must give the same number of ids.
Sampling: Ollama's defaults (penalties over 64 tokens, top_k 40, top_p 0.9,
temperature 0.8, a seeded draw) over the model's real logits; llama.cpp's
chain is penalties, top_k, typical (1.0), top_p, min_p (0.0), temp, dist as
its common sampler builds it. Medians of the repeats; ratios are tycho over
llama.cpp throughput (above 1: tycho is faster).
"""

import argparse
import ctypes
import glob
import os
import statistics
import subprocess
import sys
import time

import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = [("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"), ("gemma3", "gemma-3-270m-q4_k_m.gguf")]


def corpus(path):
    if path:
        return open(path, "rb").read()
    parts = []
    for pat in ("README.md", "docs/*.md", "src/*/*.c", "lua/tycho/*.lua"):
        for f in sorted(glob.glob(os.path.join(ROOT, pat))):
            parts.append(open(f, "rb").read())
    text = b"\n".join(parts)
    return (text * (1 + (1 << 20) // len(text)))[: 1 << 20]


def tycho_runs(what, model, arg, repeats):
    out = subprocess.run([os.path.join(ROOT, "build/tycho"), os.path.join(ROOT, "scripts/bench_text.lua"),
                          what, model, arg, str(repeats)], check=True, capture_output=True, text=True)
    return [(int(a), float(b)) for a, b in (line.split() for line in out.stdout.split("\n") if line)]


def llama_tokenize(model_path, text, repeats):
    model = ref.load_model(model_path)
    vocab = llama_cpp.llama_model_get_vocab(model)
    add_bos = llama_cpp.llama_vocab_get_add_bos(vocab)
    buf = (llama_cpp.llama_token * (len(text) + 16))()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, len(buf), add_bos, True)
        runs.append((n, time.perf_counter() - t0))
    llama_cpp.llama_model_free(model)
    return runs


def llama_sample(model_path, repeats, n=2000):
    model = ref.load_model(model_path)
    vocab = llama_cpp.llama_model_get_vocab(model)
    ctx = ref.new_context(model, 2, n_ctx=256)
    ref.decode(ctx, ref.tokenize(vocab, "The history of the printing press begins in"))
    sp = llama_cpp.llama_sampler_chain_default_params()
    chain = llama_cpp.llama_sampler_chain_init(sp)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    try:
        pen = llama_cpp.llama_sampler_init_penalties(64, 1.1, 0.0, 0.0)
    except TypeError:  # older signature with n_vocab first
        pen = llama_cpp.llama_sampler_init_penalties(n_vocab, 64, 1.1, 0.0, 0.0)
    for s in (pen, llama_cpp.llama_sampler_init_top_k(40), llama_cpp.llama_sampler_init_typical(1.0, 1),
              llama_cpp.llama_sampler_init_top_p(0.9, 1), llama_cpp.llama_sampler_init_min_p(0.0, 1),
              llama_cpp.llama_sampler_init_temp(0.8), llama_cpp.llama_sampler_init_dist(1)):
        llama_cpp.llama_sampler_chain_add(chain, s)
    for i in range(64):
        llama_cpp.llama_sampler_accept(chain, 1000 + i + 1)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            llama_cpp.llama_sampler_sample(chain, ctx, -1)
        runs.append((n, time.perf_counter() - t0))
    llama_cpp.llama_sampler_free(chain)
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/tycho/models"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--text")
    args = ap.parse_args()
    ref.init_backend()
    text = corpus(args.text)
    tf = os.path.join(ROOT, "build", "bench_text.txt")
    open(tf, "wb").write(text)
    print("| model | what | llama.cpp (median) | tycho (median) | tycho/llama.cpp |")
    print("|---|---|---|---|---|")
    for stem, name in MODELS:
        path = os.path.join(args.models, name)
        ll = llama_tokenize(path, text, args.repeats)
        ty = tycho_runs("tok", path, tf, args.repeats)
        assert ll[0][0] == ty[0][0], "token counts differ: llama.cpp %d, tycho %d" % (ll[0][0], ty[0][0])
        lr = statistics.median(n / s for n, s in ll)
        tr = statistics.median(n / s for n, s in ty)
        print("| %s | tokenize %d KiB (%d ids) | %.3g M ids/s | %.3g M ids/s | %.2f |"
              % (stem, len(text) // 1024, ll[0][0], lr / 1e6, tr / 1e6, tr / lr))
        ll = llama_sample(path, args.repeats)
        ty = tycho_runs("sample", path, "-", args.repeats)
        lu = statistics.median(s / n * 1e6 for n, s in ll)
        tu = statistics.median(s / n * 1e6 for n, s in ty)
        print("| %s | sample (Ollama defaults) | %.1f µs | %.1f µs | %.2f |" % (stem, lu, tu, lu / tu))


if __name__ == "__main__":
    main()
