#!/usr/bin/env python3
"""gen_tok_fixtures.py: expected tokenizer results from llama.cpp (through
llama-cpp-python), written to tests/fixtures/tok/ for tests/c/test_tokenizer.c.

For the real models smollm2.gguf (BPE, pre "smollm") and gemma3.gguf (SPM)
in the model cache, for llama.cpp's vocab files in tests/fixtures/tokenizer/,
and for vocab-only copies of smollm2's tokenizer with tokenizer.ggml.pre
replaced by other pre-tokenizer names (three of them also with the merges cut
short, which is where ignore_merges shows), it records on the strings of
tests/fixtures/tokenizer/*.inp plus chat-formatted text:
token ids for each add_special / parse_special combination, llama_detokenize
output, some token pieces, the BOS/EOS ids and the end-of-generation set.
It also records UTF-8 stream-decoding cases, expected from Python's own
bytes.decode(errors="replace").

Usage: python3 scripts/gen_tok_fixtures.py [--models DIR] [--out DIR]
Line format of a fixture (all text is hex-encoded bytes):
  V <model file name>           the vocabulary (in the model cache)
  P <pre name>                  tokenizer.ggml.pre override (variants only)
  M <n>                         tokenizer.ggml.merges cut to its first n entries
  N <n_vocab> <bos> <eos> <add_bos> <add_eos>
  E <eog ids...>
  T <flags> <hex text>          flags: 1 add_special, 2 parse_special
  I <ids...>                    llama_tokenize of the T line above
  D <remove_special> <unparse_special> <hex>   llama_detokenize of those ids
  K <id> <special> <hex piece>  llama_token_to_piece
"""
import argparse
import ctypes
import os
import random
import sys
import tempfile

sys.path.insert(0, "/root/dl/ggx")
sys.path.insert(0, "/root/dl/npx")

import llama_cpp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEP = "\n__ggml_vocab_test__\n"

# the pre-tokenizers tested on smollm2's vocabulary (llama.cpp's names)
VARIANTS = [
    "default", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "falcon",
    "refact", "mpt", "smollm", "starcoder", "command-r", "stablelm2", "olmo", "dbrx",
    "poro-chat", "jais", "tekken", "codeshell", "bloom", "exaone", "gpt-4o", "chameleon",
    "viking", "chatglm-bpe", "deepseek-v3", "minerva-7b", "smaug-bpe", "gpt3-finnish",
]

CHAT = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n",
    "<bos><start_of_turn>user\nhello<end_of_turn>",
    "<|endoftext|>Hello<|endoftext|> world <|im_end|>",
    "text with <|im_start|> inside and <unk> and <pad> too",
    "<s>[INST] question [/INST]</s>",
    "<|im_start|><|im_end|><|im_start|>",
    "a<|im_end|>b<|im_end",
    "<fim_prefix>def f():<fim_suffix>\n<fim_middle>",
    "<start_of_image> and <end_of_turn><end_of_turn>",
]

EXTRA = [
    "Hello, world! It's 2024 and we're testing... don't we?",
    "naïve café — résumé ½ ¼ \u00a0nbsp",
    "日本語のテキスト、中文文本。한국어 텍스트",
    "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧",
    "   leading spaces and trailing   ",
    "tabs\tand\nnewlines\r\n\n\n",
    "numbers 1234567890 3.14159 1,000,000",
    "code: for (int i = 0; i < n; i++) { x += y[i]; }",
    "It's I'm you're we've they'll he'd THEY'LL",
    "ΑΒΓ αβγ Привет мир",
    "x" * 300,
    " ".join(["word"] * 200),
]

INVALID = [
    b"bad \xff utf8 \xc3( seq \xe2\x82",
    b"\x80\x80\x80",
    b"ok \xf0\x9f\x98",
]


class Vocab:
    def __init__(self, path):
        p = llama_cpp.llama_model_default_params()
        p.vocab_only = True
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), p)
        if not self.model:
            raise RuntimeError("llama.cpp could not load " + path)
        self.v = llama_cpp.llama_model_get_vocab(self.model)
        self.n = llama_cpp.llama_vocab_n_tokens(self.v)

    def close(self):
        llama_cpp.llama_model_free(self.model)

    def tokenize(self, text, add_special, parse_special):
        cap = len(text) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.v, text, len(text), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.v, text, len(text), buf, cap, add_special, parse_special)
        return list(buf[:n])

    def detokenize(self, ids, remove_special, unparse_special):
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        cap = 64 + 64 * len(ids)
        out = ctypes.create_string_buffer(cap)
        n = llama_cpp.llama_detokenize(self.v, arr, len(ids), out, cap, remove_special, unparse_special)
        if n < 0:
            cap = -n
            out = ctypes.create_string_buffer(cap)
            n = llama_cpp.llama_detokenize(self.v, arr, len(ids), out, cap, remove_special, unparse_special)
        return out.raw[:n]

    def piece(self, tid, special):
        out = ctypes.create_string_buffer(512)
        n = llama_cpp.llama_token_to_piece(self.v, tid, out, 512, 0, special)
        if n < 0:
            out = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.v, tid, out, -n, 0, special)
        return out.raw[:n]


def inputs():
    with open(os.path.join(ROOT, "tests/fixtures/tokenizer/ggml-vocab-llama-spm.gguf.inp"), "rb") as f:
        data = f.read().decode("utf-8")
    strs = data.split(SEP)[:-1]
    return [s.encode("utf-8") for s in strs + EXTRA] + INVALID


def write_fixture(out, vocab_file, vocab, pre, flag_sets, texts, full, n_merges=None):
    lines = ["# generated by scripts/gen_tok_fixtures.py with llama-cpp-python %s" % llama_cpp.__version__,
             "V " + vocab_file]
    if pre is not None:
        lines.append("P " + pre)
    if n_merges is not None:
        lines.append("M %d" % n_merges)
    v = vocab.v
    lines.append("N %d %d %d %d %d" % (vocab.n, llama_cpp.llama_vocab_bos(v), llama_cpp.llama_vocab_eos(v),
                                       int(llama_cpp.llama_vocab_get_add_bos(v)),
                                       int(llama_cpp.llama_vocab_get_add_eos(v))))
    if full:
        eog = [i for i in range(vocab.n) if llama_cpp.llama_vocab_is_eog(v, i)]
        lines.append("E " + " ".join(map(str, eog)))
    for text, flags in texts:
        for fl in flag_sets if flags is None else flags:
            ids = vocab.tokenize(text, bool(fl & 1), bool(fl & 2))
            lines.append("T %d %s" % (fl, text.hex()))
            lines.append("I " + " ".join(map(str, ids)))
            if full:
                for rs, us in ((0, 0), (1, 1)):
                    lines.append("D %d %d %s" % (rs, us, vocab.detokenize(ids, bool(rs), bool(us)).hex()))
    if full:
        rnd = random.Random(7)
        ids = sorted(set(list(range(0, min(vocab.n, 100))) + [rnd.randrange(vocab.n) for _ in range(250)]))
        for tid in ids:
            for sp in (0, 1):
                lines.append("K %d %d %s" % (tid, sp, vocab.piece(tid, bool(sp)).hex()))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out, len(lines), "lines")


def write_variant_gguf(src, pre, dst, n_merges=None):
    import gguf
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, arch=bytes(r.fields["general.architecture"].contents()).decode()
                        if isinstance(r.fields["general.architecture"].contents(), (bytes, bytearray))
                        else r.fields["general.architecture"].contents())
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name.startswith("tokenizer.chat_template"):
            continue
        val = field.contents()
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        if name == "tokenizer.ggml.pre":
            val = pre
        if name == "tokenizer.ggml.merges" and n_merges is not None:
            val = val[:n_merges]
        w.add_key_value(name, val, vtype, sub)
    if "tokenizer.ggml.pre" not in r.fields:
        w.add_key_value("tokenizer.ggml.pre", pre, gguf.GGUFValueType.STRING)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def detok_cases(out):
    """UTF-8 stream chunks and what a decoder that replaces each maximal
    invalid subpart with U+FFFD must print (Python's errors="replace")."""
    rnd = random.Random(11)
    alphabet = [b"a", b" ", "é".encode(), "€".encode(), "😀".encode(), b"\x80", b"\xff", b"\xc3",
                b"\xe2\x82", b"\xf0\x9f", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]
    lines = ["# generated by scripts/gen_tok_fixtures.py: S <hex chunk>... then O <hex expected>"]
    for _ in range(300):
        data = b"".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 12)))
        cuts = sorted(rnd.sample(range(len(data) + 1), min(len(data) + 1, rnd.randrange(1, 5))))
        chunks, prev = [], 0
        for c in cuts + [len(data)]:
            chunks.append(data[prev:c])
            prev = c
        lines.append("S " + " ".join(c.hex() or "-" for c in chunks))
        lines.append("O " + (data.decode("utf-8", errors="replace").encode().hex() or "-"))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(os.environ.get("TYCHO_HOME", os.path.expanduser("~/.cache/tycho")), "models"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/tok"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    llama_cpp.llama_backend_init()
    texts = inputs()
    chat = [c.encode() for c in CHAT]
    all_flags = [0, 1, 2, 3]
    plain = [(t, [0]) for t in texts] + [(t, [1]) for t in texts[:8]] + [(c, all_flags) for c in chat]

    detok_cases(os.path.join(args.out, "utf8_stream.txt"))
    for name in ("smollm2.gguf", "gemma3.gguf"):
        path = os.path.join(args.models, name)
        if not os.path.exists(path):
            print("skip", name, "(not in the model cache)")
            continue
        v = Vocab(path)
        write_fixture(os.path.join(args.out, name.replace(".gguf", ".txt")), name, v, None, None, plain, True)
        v.close()

    # llama.cpp's own vocab files: detokenize, pieces and EOG sets (their ids
    # are in tests/fixtures/tokenizer/*.out already)
    fixdir = os.path.join(ROOT, "tests/fixtures/tokenizer")
    for name in sorted(os.listdir(fixdir)):
        if not name.endswith(".gguf"):
            continue
        v = Vocab(os.path.join(fixdir, name))
        write_fixture(os.path.join(args.out, name.replace(".gguf", ".txt")), name, v, None, None,
                      [(t, [0]) for t in texts] + [(c, [0, 2, 3]) for c in chat], True)
        v.close()

    src = os.path.join(args.models, "smollm2.gguf")
    if os.path.exists(src):
        with tempfile.TemporaryDirectory() as tmp:
            # words that are tokens but that merges would not build: they tell
            # ignore_merges (llama-bpe, tekken, ...) apart
            # smollm2's merges build every word llama-bpe's splitter makes, so
            # ignore_merges shows only once most merges are gone: the same
            # text on vocabularies cut to their first 3000 merges
            for pre in ("llama-bpe", "gpt-2", "tekken"):
                dst = os.path.join(tmp, "m.gguf")
                write_variant_gguf(src, pre, dst, 3000)
                v = Vocab(dst)
                write_fixture(os.path.join(args.out, "smollm2-pre-%s-m3000.txt" % pre), "smollm2.gguf", v, pre,
                              None, [(t, [0]) for t in texts], False, 3000)
                v.close()
            for pre in [p for p in args.variants.split(",") if p]:
                dst = os.path.join(tmp, "v.gguf")
                write_variant_gguf(src, pre, dst)
                try:
                    v = Vocab(dst)
                except RuntimeError as e:
                    print("skip variant", pre, e)
                    continue
                vt = [(t, [0]) for t in texts] + [(c, [0, 2]) for c in chat[:4]]
                write_fixture(os.path.join(args.out, "smollm2-pre-%s.txt" % pre), "smollm2.gguf", v, pre,
                              None, vt, False)
                v.close()


if __name__ == "__main__":
    main()
