#!/usr/bin/env python3
"""Alternating A/B of two tycho-bench builds (a benchmark, not a test).

Usage:
    python3 scripts/ab.py A B [--rounds 10] [--model PATH] [-- tycho-bench args]

A and B are two tycho-bench binaries (for example the build of main copied
aside, and the build of a change). Each round runs both, one after the other,
in alternating order (A B, then B A, ...), so that the host's drift lands on
both; it prints each build's median tg t/s with its range, and the median of
the per-round ratios B/A with how many rounds B won. Run A against itself first
to see how far apart two identical builds land on this host: a change is only
measured when its ratio is outside that spread.

The tycho-bench arguments default to --threads 2 --pp 8 --tg 128 --repeats 3;
the model to ~/.cache/tycho/models/SmolLM2-135M-Instruct.Q4_1.gguf.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def tg(binary, model, extra):
    """The tg median tycho-bench prints, in tokens/s."""
    out = subprocess.run([binary, model] + extra, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s failed: %s" % (binary, out.stderr.strip()))
    for line in out.stdout.splitlines():
        d = json.loads(line)
        if d.get("phase") == "tg":
            return d["tps_median"]
    sys.exit("%s printed no tg line" % binary)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--model", default=os.path.expanduser(
        "~/.cache/tycho/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = ap.parse_args(argv[:cut])
    extra = argv[cut + 1:] or ["--threads", "2", "--pp", "8", "--tg", "128", "--repeats", "3"]

    ra, rb = [], []
    for i in range(args.rounds):
        if i % 2 == 0:
            ra.append(tg(args.a, args.model, extra))
            rb.append(tg(args.b, args.model, extra))
        else:
            rb.append(tg(args.b, args.model, extra))
            ra.append(tg(args.a, args.model, extra))
    ratio = [y / x for x, y in zip(ra, rb)]
    print("tycho-bench %s, %d alternating rounds" % (" ".join(extra), args.rounds))
    for name, r in (("A " + args.a, ra), ("B " + args.b, rb)):
        print("%s: tg median %.1f t/s (%.1f-%.1f)" % (name, statistics.median(r), min(r), max(r)))
    print("B/A per round: median %.3f (%.3f-%.3f), B faster in %d of %d"
          % (statistics.median(ratio), min(ratio), max(ratio), sum(r > 1 for r in ratio),
             len(ratio)))


if __name__ == "__main__":
    main()
