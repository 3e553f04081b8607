#!/usr/bin/env python3
"""gen_ppl_ref.py: writes tests/fixtures/quality/ppl_ref.json, llama.cpp's
perplexity of SmolLM2 over the start of a text that ships with Debian
(/usr/share/common-licenses/GPL-3), computed the way llama.cpp's perplexity
tool computes it: the text tokenized with BOS, chunks of n_ctx tokens each
evaluated from an empty cache with its first token replaced by BOS, the
logits of every position (logits_all), and the second half of each chunk
scored: nll = log(sum(exp(l - max))) + max - l[target], ppl = exp(mean nll),
the +/- as llama.cpp prints it.

Run:  python3 scripts/gen_ppl_ref.py [--models ~/.cache/tycho/models]
Needs llama-cpp-python (0.3.36 was used) and numpy.
"""
import argparse
import json
import math
import os

import numpy as np
import llama_cpp

TEXT = "/usr/share/common-licenses/GPL-3"
CASES = [(128, 4), (512, 1)]   # (n_ctx, chunks)


def perplexity(llm, tokens, n_ctx, n_chunk, bos):
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    per_chunk = []
    for c in range(n_chunk):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        orig = list(chunk)
        if bos is not None:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[:n_ctx], dtype=np.float32)
        for i in range(first, n_ctx - 1):
            row = logits[i]
            mx = row.max()
            s = np.exp(row - mx, dtype=np.float32).astype(np.float64).sum()
            v = float(mx) + math.log(s) - float(row[orig[i + 1]])
            nll += v
            nll2 += v * v
            count += 1
        per_chunk.append(math.exp(nll / count))
    mean = nll / count
    var = nll2 / count - mean * mean
    ppl = math.exp(mean)
    return dict(n_ctx=n_ctx, n_chunks=n_chunk, n_tokens=count, ppl=ppl,
                ppl_err=math.sqrt(var / (count - 1)) * ppl, per_chunk=per_chunk)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/tycho/models"))
    ap.add_argument("--out", default="tests/fixtures/quality/ppl_ref.json")
    a = ap.parse_args()
    path = os.path.join(a.models, "SmolLM2-135M-Instruct.Q4_1.gguf")
    text = open(TEXT, "rb").read()
    cases = []
    for n_ctx, n_chunk in CASES:
        llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                              logits_all=True, n_threads=2, verbose=False)
        tokens = llm.tokenize(text, add_bos=True, special=False)
        add_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model))
        bos = llm.token_bos() if add_bos else None
        r = perplexity(llm, tokens, n_ctx, n_chunk, bos)
        r["first_tokens"] = tokens[:16]
        r["n_text_tokens"] = len(tokens)
        cases.append(r)
        print(n_ctx, n_chunk, r["ppl"], r["ppl_err"], len(tokens))
    with open(a.out, "w") as f:
        json.dump(dict(model="SmolLM2-135M-Instruct.Q4_1.gguf", text=TEXT,
                       llama_cpp_python=llama_cpp.__version__, cases=cases), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
