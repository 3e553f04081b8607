#!/usr/bin/env python3
"""Benchmark tycho against llama.cpp (a benchmark, not a test).

Usage:
    python3 scripts/bench.py [--model PATH ...] [--threads 1,2] [--pp 128] [--tg 64]
                             [--depth 8] [--repeats 3] [--tycho build/tycho-bench]

Default models: ~/.cache/tycho/models/SmolLM2-135M-Instruct.Q4_1.gguf and
gemma-3-270m-q4_k_m.gguf. A model may be synth:FAMILY:SIZE:QUANT (e.g.
synth:llama:8B:Q4_K_M): tycho-bench writes that synthetic GGUF once to $TMPDIR
and llama.cpp loads the same file. Needs llama-cpp-python and numpy.

Roofline: each tycho-bench run also measures, right after its tg, the read
bandwidth of its thread count (a sum over a buffer the size of one decode
step's bytes, best of 10 passes, half of them prefetching 2 KiB ahead, so a
model that fits in the last-level cache is held to that cache's rate; the
same over 1 GiB is printed as DRAM's) and the bytes one decode step reads
(every layer's tensors, the output layer, one embedding row, the f16 K and V
rows attended at the average position), so roofline t/s = bandwidth / bytes;
the table gives each engine's tg as a fraction of it (pp is compute-bound: -):
the median over the rounds of each round's tg against that round's roofline
(tycho's with its min-max), since the host's bandwidth drifts between rounds.

For each model and thread count, llama.cpp (same settings as llama_ref.py:
f16 KV cache, flash attention off, CPU only) measures
  pp: one batch of --pp prompt tokens into an empty KV cache (logits only for
      the last position), in tokens/s;
  tg: after an untimed prompt of --depth tokens (8 unless told; a longer one
      measures decode in a long context: the table's test reads tg64@d1024),
      --tg tokens decoded one at a
      time, each fed back as the argmax of the previous logits, in tokens/s.
One untimed warm-up of each phase, then --repeats rounds in which the two
engines take turns (llama.cpp pp and tg, then one tycho-bench run with its own
warm-up), so that drift on a shared host lands on both; the table shows the
median and min-max over the rounds.

Then the tycho binary is run with the same settings:
    build/tycho-bench MODEL --threads N --pp 128 --tg 64 --repeats R
and must print one JSON line per phase on stdout, e.g.
    {"phase":"pp","tokens":128,"tps_median":...,"tps_min":...,"tps_max":...}
If it is missing or fails, "tycho: n/a" is printed and the table says n/a.

Prompt tokens, so both engines do identical work (tycho-bench should use the
same rule): a 64-bit LCG with
    state = 0x853c49e6748fea9b
    state = state * 6364136223846793005 + 1442695040888963407  (mod 2^64)
    id    = 1000 + ((state >> 33) % 20000)
drawn max(--pp, --depth) times (pp prompt = the first --pp; tg prompt = the
first --depth).
Ids 1000..20999 are plain (non-special) tokens in both default vocabularies;
the script checks that with llama.cpp's token attributes.
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
import json

import numpy as np
import llama_cpp

# Reuse the C-API helpers from the fixture generator (same directory).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import init_backend, load_model, new_context, clear_kv, decode, last_logits  # noqa: E402

MODEL_DIR = os.path.expanduser("~/.cache/tycho/models")
DEFAULT_MODELS = [os.path.join(MODEL_DIR, "SmolLM2-135M-Instruct.Q4_1.gguf"),
                  os.path.join(MODEL_DIR, "gemma-3-270m-q4_k_m.gguf")]


def bench_ids(n):
    """The fixed pseudo-random prompt ids (see the docstring)."""
    mask = (1 << 64) - 1
    state = 0x853c49e6748fea9b
    ids = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        ids.append(1000 + ((state >> 33) % 20000))
    return ids


def check_plain(vocab, ids):
    for t in set(ids):
        attr = llama_cpp.llama_vocab_get_attr(vocab, t)
        if attr & llama_cpp.LLAMA_TOKEN_ATTR_NORMAL == 0 or attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
            sys.exit("bench id %d is not a plain token (attr %d)" % (t, attr))


def run_pp(ctx, ids):
    clear_kv(ctx)
    t0 = time.perf_counter()
    decode(ctx, ids)
    llama_cpp.llama_synchronize(ctx)
    return len(ids) / (time.perf_counter() - t0)


def run_tg(ctx, prompt, n_vocab, tg):
    clear_kv(ctx)
    for i in range(0, len(prompt), 512):   # the context's n_batch
        decode(ctx, prompt[i:i + 512])
    tok = int(np.argmax(last_logits(ctx, n_vocab)))
    t0 = time.perf_counter()
    for _ in range(tg):
        decode(ctx, [tok])
        tok = int(np.argmax(last_logits(ctx, n_vocab)))
    return tg / (time.perf_counter() - t0)


def summary(values):
    return statistics.median(values), min(values), max(values)


def synth_path(model):
    """The file tycho-bench writes for synth:FAMILY:SIZE:QUANT (bench.c)."""
    fam, size, quant = model[len("synth:"):].split(":")
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), "tycho-synth-%s-%s-%s.gguf" % (fam, size, quant))


def run_tycho(binary, model, threads, args, repeats):
    """Return {phase: (median, min, max)} from tycho-bench, plus "roofline":
    its JSON line, or None."""
    if not os.path.exists(binary):
        return None
    cmd = [binary, model, "--threads", str(threads), "--pp", str(args.pp),
           "--tg", str(args.tg), "--depth", str(args.depth), "--repeats", str(repeats),
           "--roofline"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("tycho: %s" % e, file=sys.stderr)
        return None
    if out.returncode != 0:
        print("tycho: exit %d: %s" % (out.returncode, out.stderr.strip()[-500:]), file=sys.stderr)
        return None
    res = {}
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
                if d["phase"] == "roofline":
                    res["roofline"] = d
                else:
                    res[d["phase"]] = (d["tps_median"], d["tps_min"], d["tps_max"])
            except (ValueError, KeyError):
                pass
    return res or None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def fmt(s):
    return "%.1f (%.1f-%.1f)" % s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="GGUF file (repeatable)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--pp", type=int, default=128)
    ap.add_argument("--tg", type=int, default=64)
    ap.add_argument("--depth", type=int, default=8, help="untimed prompt tokens before tg")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tycho", default="build/tycho-bench")
    args = ap.parse_args()
    models = args.model or DEFAULT_MODELS
    threads = [int(t) for t in args.threads.split(",")]

    init_backend()
    load_before = loadavg()  # other work on the machine skews the figures
    ids = bench_ids(max(args.pp, args.depth))
    rows = []
    tycho_seen = False
    roof = {}   # (name, threads) -> [roofline t/s of each tycho run]
    for spec in models:
        path = spec
        if spec.startswith("synth:"):
            path = synth_path(spec)
            if not os.path.exists(path):   # tycho-bench writes it
                subprocess.run([args.tycho, spec, "--pp", "0", "--tg", "0", "--repeats", "1"],
                               check=True, capture_output=True)
        model = load_model(path)
        vocab = llama_cpp.llama_model_get_vocab(model)
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        check_plain(vocab, ids)
        name = os.path.basename(path)
        for nt in threads:
            ctx = new_context(model, nt, n_ctx=max(512, args.pp, args.depth + args.tg + 1),
                              n_batch=max(512, args.pp))
            run_pp(ctx, ids[:args.pp])  # warm-up
            run_tg(ctx, ids[:args.depth], n_vocab, args.tg)
            # The engines take turns, one repeat each, so that a change in
            # what else the host runs lands on both rather than on one.
            pp, tg, tys = [], [], {"pp": [], "tg": []}
            fracs = {"tycho": [], "llama": []}
            for _ in range(args.repeats):
                pp.append(run_pp(ctx, ids[:args.pp]))
                tg.append(run_tg(ctx, ids[:args.depth], n_vocab, args.tg))
                one = run_tycho(args.tycho, path, nt, args, 1)
                for ph in tys:
                    if one and ph in one:
                        tys[ph].append(one[ph][0])
                if one and "roofline" in one:
                    r = one["roofline"]
                    roof.setdefault((name, nt), []).append(
                        (r["roofline_tps"], r["read_gbps"], r["bytes_per_token"],
                         r.get("dram_gbps", 0.0)))
                    # this round's fractions: each engine's tg against the
                    # bandwidth read seconds after it, not the run's median
                    if one.get("tg"):
                        fracs["tycho"].append(one["tg"][0] / r["roofline_tps"])
                    fracs["llama"].append(tg[-1] / r["roofline_tps"])
            llama_cpp.llama_free(ctx)
            ty = {ph: summary(v) for ph, v in tys.items() if len(v) == args.repeats} or None
            if ty is None:
                print("tycho: n/a (%s, %d threads)" % (name, nt))
            else:
                tycho_seen = True
            tg_name = "tg%d" % args.tg + ("@d%d" % args.depth if args.depth != 8 else "")
            for phase, vals in (("pp%d" % args.pp, pp), (tg_name, tg)):
                ll = summary(vals)
                t = ty.get(phase[:2]) if ty else None
                frac = "-"
                if phase.startswith("tg") and fracs["llama"]:
                    ft = summary(fracs["tycho"]) if fracs["tycho"] else None
                    frac = "%s / %.2f" % ("%.2f (%.2f-%.2f)" % ft if ft else "n/a",
                                          statistics.median(fracs["llama"]))
                rows.append((name, nt, phase, fmt(t) if t else "n/a", fmt(ll),
                             "%.2f" % (t[0] / ll[0]) if t else "n/a", frac))
        llama_cpp.llama_model_free(model)

    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print()
    print("machine: %s, nproc %d" % (cpu_model(), ncpu))
    print("load average before/after: %s / %s" % (load_before, loadavg()))
    print("date: %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    print("llama-cpp-python %s; %s" % (llama_cpp.__version__,
                                       llama_cpp.llama_print_system_info().decode().strip()))
    print("pp %d, tg %d after %d, repeats %d, tycho %s" % (args.pp, args.tg, args.depth, args.repeats,
                                                  args.tycho if tycho_seen else "n/a"))
    print()
    print("roofline (median over tycho's runs): read bandwidth with the same threads over a buffer")
    print("of the bytes one decode step reads (the rate those bytes stream at, from whatever cache")
    print("level they fit in), the same over 1 GiB (DRAM), bytes per decode step")
    for (name, nt), v in roof.items():
        print("  %s, %d threads: %.1f GB/s (%.1f-%.1f; DRAM %.1f), %.1f MB/token, roofline %.1f t/s"
              % (name, nt, statistics.median(x[1] for x in v), min(x[1] for x in v),
                 max(x[1] for x in v), statistics.median(x[3] for x in v), v[0][2] / 1e6,
                 statistics.median(x[0] for x in v)))
    print()
    print("| model | threads | test | tycho t/s (median, min-max) | llama.cpp t/s (median, min-max) "
          "| tycho/llama.cpp | fraction of roofline (tycho / llama.cpp) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %s | %s | %s | %s | %s |" % r)


if __name__ == "__main__":
    main()
