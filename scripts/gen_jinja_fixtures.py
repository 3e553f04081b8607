#!/usr/bin/env python3
"""gen_jinja_fixtures.py: expected renderings of real Hugging Face chat
templates, made with jinja2 the way transformers' apply_chat_template does
(sandboxed environment, trim_blocks, lstrip_blocks, raise_exception,
add_generation_prompt=True).

For each tests/fixtures/jinja/NAME.jinja listed in FIXTURES it writes
NAME.<conversation> (absent when the template raises for that conversation)
and NAME.family: the family tycho must detect, then "differs" when Ollama's
template for that family is known not to reproduce the Jinja rendering (the
reason is in the note below, and in tycho's chat.c). The C test
tests/c/test_template.c compares tycho's rendering with these files.

  python3 scripts/gen_jinja_fixtures.py
"""
import os
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(HERE, "..", "tests", "fixtures", "jinja")

CONVERSATIONS = {
    "user": [
        {"role": "user", "content": "Hello, how are you?"},
    ],
    "user-assistant-user": [
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
    ],
    "system-user-assistant-user": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
    ],
}

# name: (family, bos_token, eos_token, note). Where it lists no bos_token the
# template's BOS is left to the tokenizer, as tycho and Ollama do: "" here.
# Sources: smollm2 is the tokenizer.chat_template of the real SmolLM2 GGUF;
# gemma3 that of ggml-org/gemma-3-1b-it-GGUF; the others are Hugging Face
# templates collected in Ollama's template/index.json.
FIXTURES = {
    "smollm2": ("chatml", "", "<|im_end|>", None),
    "chatml": ("chatml", "", "<|im_end|>", None),
    "qwen-default-system": ("chatml", "", "<|im_end|>", None),
    "chatml-set-system": ("chatml", "", "<|im_end|>", None),
    "llama3": ("llama3", "", "<|eot_id|>", None),
    "gemma2": ("gemma", "", "<eos>", None),
    "gemma3": ("gemma3", "", "<eos>",
               "Ollama's gemma3-instruct ends the prompt with \"<start_of_turn>model\\n\\n\" "
               "(one newline more than the Jinja template's \"<start_of_turn>model\\n\"); "
               "everything before is the same"),
    "phi3": ("phi3", "", "<|endoftext|>", None),
    "zephyr": ("zephyr", "", "</s>", None),
    "openchat": ("openchat", "", "<|end_of_turn|>", None),
    "llama2": ("llama2", "<s>", "</s>",
               "Ollama's llama2-chat always writes a <<SYS>><</SYS>> block, even empty, "
               "and no <s> between turns; the Jinja template writes the block only with "
               "a system message and <s> before each [INST]"),
    "mistral": ("mistral", "<s>", "</s>",
                "Ollama's mistral-instruct writes \"[INST] text[/INST]\" with no space "
                "before [/INST] and puts the system text into the first [INST]; the "
                "Jinja template writes \"[INST] text [/INST]\" and refuses system messages"),
}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render(src, conv, bos, eos):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(src).render(messages=conv, bos_token=bos, eos_token=eos,
                                       add_generation_prompt=True)


def main():
    for name, (family, bos, eos, note) in sorted(FIXTURES.items()):
        src = open(os.path.join(DIR, name + ".jinja"), encoding="utf-8").read()
        for conv_name, conv in CONVERSATIONS.items():
            path = os.path.join(DIR, name + "." + conv_name)
            try:
                out = render(src, conv, bos, eos)
            except jinja2.exceptions.TemplateError as e:
                if os.path.exists(path):
                    os.remove(path)
                print("%s/%s: template refuses: %s" % (name, conv_name, e))
                continue
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(out)
        with open(os.path.join(DIR, name + ".family"), "w") as f:
            f.write(family + (" differs\n" + note + "\n" if note else "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
