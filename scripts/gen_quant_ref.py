#!/usr/bin/env python3
"""gen_quant_ref.py: writes tests/fixtures/quality/quant_ref.txt, what
llama.cpp's quantizer (llama_model_quantize through llama-cpp-python, no
importance matrix, allow_requantize) makes of SmolLM2 for each file type
tycho writes: every tensor's type and a digest of its bytes, and the file's
general.file_type. The digest (wsum64) is simple enough for a C test: the
bytes zero-padded to whole little-endian uint64 words w[i], then
sum(w[i] * (2i + 1)) mod 2^64, xor the byte count, in 16 hex digits. It
changes with any single word, which is what a byte-for-byte check needs.

Lines:  file_type FTYPE N  |  tensor FTYPE NAME TYPE DIGEST
(FTYPE "F16_FROM_Q4_1" is llama.cpp's F16 conversion of the cached file).

The source is SmolLM2 in F16. llama.cpp converts the cached Q4_1 file to
F16 first ("f16_from_q4_1", also recorded, so the test checks tycho's F16
conversion too); every other type is quantized from that F16 file, as
`tycho quantize` does in the test.

Run:  python3 scripts/gen_quant_ref.py [--models ~/.cache/tycho/models]
Needs llama-cpp-python (0.3.36 was used) and the gguf package.
"""
import argparse
import ctypes
import os
import tempfile

import gguf
import llama_cpp
import numpy as np

FTYPES = ["F16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
          "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"]


def quantize(src, dst, name):
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + name)
    p.allow_requantize = True
    p.nthread = 2
    if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) != 0:
        raise SystemExit("llama_model_quantize failed for " + name)


def wsum64(b):
    n = len(b)
    b = b + bytes(-n % 8)
    w = np.frombuffer(b, dtype="<u8")
    k = np.arange(len(w), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        h = int(np.sum(w * k, dtype=np.uint64))
    return "%016x" % (h ^ n)


def describe(path, name, lines):
    r = gguf.GGUFReader(path)
    ft = r.fields["general.file_type"]
    lines.append("file_type %s %d" % (name, int(ft.parts[ft.data[0]][0])))
    for t in r.tensors:
        ggml = t.tensor_type.name.lower()            # GGML spells the K formats q4_K
        ggml = ggml[:-2] + "_K" if ggml.endswith("_k") else ggml
        lines.append("tensor %s %s %s %s" % (name, t.name, ggml,
                                             wsum64(t.data.tobytes())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/tycho/models"))
    ap.add_argument("--out", default="tests/fixtures/quality/quant_ref.txt")
    a = ap.parse_args()
    src = os.path.join(a.models, "SmolLM2-135M-Instruct.Q4_1.gguf")
    lines = ["# llama.cpp (llama-cpp-python %s) quantizing SmolLM2-135M-Instruct.Q4_1.gguf"
             % llama_cpp.__version__, "# written by scripts/gen_quant_ref.py"]
    with tempfile.TemporaryDirectory() as tmp:
        f16 = os.path.join(tmp, "f16.gguf")
        quantize(src, f16, "F16")
        describe(f16, "F16_FROM_Q4_1", lines)
        for name in FTYPES:
            dst = os.path.join(tmp, name + ".gguf")
            quantize(f16, dst, name)
            describe(dst, name, lines)
            os.remove(dst)
            print(name, flush=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
