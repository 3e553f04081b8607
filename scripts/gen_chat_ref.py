#!/usr/bin/env python3
"""Write the chat fixture that tests `tycho run` end to end against llama.cpp.

Usage:
    python3 scripts/gen_chat_ref.py [--models DIR] [--out tests/fixtures/ref/chat.txt]

For SmolLM2-135M-Instruct the conversation [user: QUESTION] is rendered with
the GGUF's own Jinja chat template by jinja2 (add_generation_prompt=True),
tokenized by llama.cpp (BOS as the vocabulary says, special tokens parsed),
and answered greedily by llama.cpp: argmax of the logits, no penalties,
until an end-of-generation token or N_GEN tokens. The answer's text is the
concatenation of llama.cpp's token pieces. Needs llama-cpp-python, numpy
and jinja2 (scripts/llama_ref.py has the install note).

Format, one field per line:
    model <file name>
    question <text, escaped as below>
    prompt <text, escaped>       the rendered conversation
    prompt_ids <n> <id> ...
    answer_ids <n> <id> ...
    answer <text, escaped>       backslash as \\ and newline as \n
    done <stop|length>
"""

import argparse
import ctypes
import os
import sys

import jinja2
import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref as ref  # noqa: E402

QUESTION = "Why is the sky blue?"
N_GEN = 48


def piece(vocab, tok):
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, tok, buf, len(buf), 0, False)
    return buf.raw[:n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/tycho/models"))
    ap.add_argument("--out", default="tests/fixtures/ref/chat.txt")
    args = ap.parse_args()
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    ref.init_backend()
    model = ref.load_model(os.path.join(args.models, name))
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    tmpl = ctypes.c_char_p(llama_cpp.llama_model_chat_template(model, None)).value.decode()
    prompt = jinja2.Environment().from_string(tmpl).render(
        messages=[{"role": "user", "content": QUESTION}], add_generation_prompt=True)
    ids = ref.tokenize(vocab, prompt)
    ctx = ref.new_context(model, 2)
    ref.decode(ctx, ids)
    out, done = [], "length"
    for _ in range(N_GEN):
        logits = ref.last_logits(ctx, n_vocab)
        tok = int(logits.argmax())
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            done = "stop"
            break
        out.append(tok)
        ref.decode(ctx, [tok])
    answer = b"".join(piece(vocab, t) for t in out).decode("utf-8")
    with open(args.out, "w") as f:
        f.write("model %s\n" % name)
        f.write("question %s\n" % ref.escape(QUESTION))
        f.write("prompt %s\n" % ref.escape(prompt))
        f.write("prompt_ids %d %s\n" % (len(ids), " ".join(map(str, ids))))
        f.write("answer_ids %d %s\n" % (len(out), " ".join(map(str, out))))
        f.write("answer %s\n" % ref.escape(answer))
        f.write("done %s\n" % done)
    llama_cpp.llama_free(ctx)


if __name__ == "__main__":
    main()
