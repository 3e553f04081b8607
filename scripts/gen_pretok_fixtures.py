#!/usr/bin/env python3
"""gen_pretok_fixtures.py: expected pre-tokenizer splits, from an independent
reference, for tests/c/test_pretok.c.

For every regex list llama.cpp names by tokenizer.ggml.pre (the copy below; run
with --check-lib PATH/libllama.so to check that each regex string is in a llama.cpp
build byte for byte), the corpus is split the way llama.cpp's unicode_regex_split
does it: text decoded to code points (a bad byte becomes U+FFFD), then each regex
splits every piece the previous one left, and unmatched stretches are pieces too.
The matching is done by Python's third-party `regex` module. Where llama.cpp does
not behave like a plain regex engine, llama.cpp wins and this script follows it:

- \\s is llama.cpp's whitespace list (Unicode White_Space; the same as regex's);
- \\p{Lu} \\p{Ll} \\p{Lt} \\p{Lm} \\p{Lo} all mean \\p{L} (llama.cpp's k_ucat_enum);
- \\d and \\b are ASCII (std::wregex in the C locale);
- a code point that is whitespace has no category (llama.cpp collapses it to \\x0B);
- the gpt2 and llama3 regexes, Kimi-K2 ("\\p{Han}+") and AFMoE ("\\p{AFMoE_digits}")
  run llama.cpp's hand-written splitters, ported below from src/unicode.cpp; for
  gpt2 and llama3 the script also checks that the plain regex agrees.

Needs Python 3.13 (unicodedata 15.1, llama.cpp's Unicode version) with `regex`:
  python3.13 -m pip install regex && python3.13 scripts/gen_pretok_fixtures.py
Writes tests/fixtures/pretok/corpus.txt, names.txt and one GROUP.txt per list
(format in tests/fixtures/pretok/README.md).

  --check-vocab GGUF:PRE ...  instead of writing, check the fixtures against
      llama.cpp itself (llama-cpp-python, any Python that has it): tokenize each
      valid-UTF-8 corpus string with the vocabulary and require every expected
      piece boundary to be a token boundary (BPE never merges across words).
      e.g. --check-vocab tests/fixtures/tokenizer/ggml-vocab-starcoder.gguf:starcoder
"""
import argparse
import glob
import os
import sys
import unicodedata

try:
    import regex
except ImportError:             # only --check-vocab works without it
    regex = None

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "pretok")

# The regex lists of llama.cpp's llm_tokenizer_bpe (src/llama-vocab.cpp), the
# Kimi-K2 entry replaced by the regex that tycho runs for llama.cpp's K2 code.
GROUPS = {
    'default': [
        '[\\p{P}\\$\\+<=>\\^~\\|]+',
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        '\\p{N}+',
        '[0-9][0-9][0-9]',
    ],
    'llama3': [
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'jais-2': [
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    ],
    'deepseek-llm': [
        '[\r\n]',
        '\\s?[A-Za-z\xb5\xc0-\xd6\xd8-\xf6\xf8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+',
        '\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+',
        '\\s+$',
        '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+',
        '\\p{N}+',
    ],
    'deepseek-coder': [
        '[\r\n]',
        '\\s?\\p{L}+',
        '\\s?\\p{P}+',
        '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+',
        '\\p{N}',
    ],
    'deepseek-v3': [
        '\\p{N}{1,3}',
        '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
        '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
    ],
    'spark2_5': [
        '\\p{N}{1,3}',
        '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
        '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+',
        '\\p{N}',
    ],
    'youtu': [
        '[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'falcon': [
        '[\\p{P}\\$\\+<=>\\^~\\|`]+',
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        '[0-9][0-9][0-9]',
    ],
    'starcoder': [
        '\\p{N}',
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
    'gpt-2': [
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
    'qwen2': [
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'qwen35': [
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'poro-chat': [
        ' ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+',
    ],
    'viking': [
        ' ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+',
        '\\p{N}',
    ],
    'tekken': [
        '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
    ],
    'chameleon': [
        '<sentinel:[0-9]+>',
        '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z',
        '([\\t\\n]|    |  )',
        '\\p{N}',
        '[\\p{P}!-/:-@\\[-`{-~]',
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
    'gpt-4o': [
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'granite-embed-multi-97m': [
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'tiny_aya': [
        '\\d{1,3}(?=(?:\\d{3})*\\b)',
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'kimi-k2': [
        "\\p{Han}+|[^\\r\\n\\p{L}\\p{N}]?(?:(?!\\p{Han})\\p{L})+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'superbpe': [
        '\\p{N}+',
        '(?=(\\d{3})+(?!\\d))',
    ],
    'bailingmoe': [
        "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ],
    'seed-coder': [
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'ufakzeka': [
        '[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
    ],
    'afmoe': [
        '\\p{AFMoE_digits}',
        '[\u4e00-\u9fff\u3400-\u4dbf\u8c48-\ufaff\u3040-\u309f\u30a0-\u30ff\uff65-\uff9f\u2f00-\u2fdf\u0e40-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff\uac00-\ud7af\u1100-\u11ff]+',
        '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
    ],
    'laguna': [
        '[^\\n]+|[\\n]+',
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'exaone-moe': [
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ],
    'gemma4': [
        '[^\\n]+|[\\n]+',
    ],
    'minicpm5': [
        '\\p{N}{1,3}',
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    'whitespace': [
        '\\S+',
    ],
}
NAMES = {
    'default': 'default', 'llama3': 'llama3', 'llama-v3': 'llama3', 'llama-bpe': 'llama3',
    'falcon3': 'llama3', 'falcon-h1': 'llama3', 'pixtral': 'llama3', 'midm-2.0': 'llama3',
    'lfm2': 'llama3', 'jina-v5-nano': 'llama3', 'dbrx': 'llama3', 'smaug-bpe': 'llama3',
    'glm4': 'llama3', 'chatglm-bpe': 'llama3', 'glm5': 'llama3', 'jais-2': 'jais-2',
    'deepseek-llm': 'deepseek-llm', 'deepseek-coder': 'deepseek-coder',
    'deepseek-v3': 'deepseek-v3', 'hunyuan-dense': 'deepseek-v3', 'joyai-llm': 'deepseek-v3',
    'hy_v4': 'deepseek-v3', 'spark2_5': 'spark2_5', 'youtu': 'youtu', 'falcon': 'falcon',
    'starcoder': 'starcoder', 'refact': 'starcoder', 'command-r': 'starcoder',
    'smollm': 'starcoder', 'codeshell': 'starcoder', 'exaone': 'starcoder',
    'minerva-7b': 'starcoder', 'mellum2': 'starcoder', 'gpt-2': 'gpt-2', 'gpt2': 'gpt-2',
    'phi-2': 'gpt-2', 'jina-es': 'gpt-2', 'jina-de': 'gpt-2', 'gigachat': 'gpt-2',
    'jina-v2-es': 'gpt-2', 'jina-v2-de': 'gpt-2', 'a.x-4.0': 'gpt-2', 'mellum': 'gpt-2',
    'modern-bert': 'gpt-2', 'jina-v1-en': 'gpt-2', 'jina-v2-code': 'gpt-2', 'roberta-bpe': 'gpt-2',
    'exaone4': 'gpt-2', 'mpt': 'gpt-2', 'olmo': 'gpt-2', 'jais': 'gpt-2', 'trillion': 'gpt-2',
    'granite-docling': 'gpt-2', 'qwen2': 'qwen2', 'deepseek-r1-qwen': 'qwen2', 'kormo': 'qwen2',
    'f2llmv2': 'qwen2', 'megrez': 'qwen2', 'stablelm2': 'qwen2', 'hunyuan': 'qwen2',
    'solar-open': 'qwen2', 'grok-2': 'qwen2', 'qwen35': 'qwen35', 'poro-chat': 'poro-chat',
    'bloom': 'poro-chat', 'gpt3-finnish': 'poro-chat', 'viking': 'viking', 'tekken': 'tekken',
    'chameleon': 'chameleon', 'gpt-4o': 'gpt-4o', 'llama4': 'gpt-4o', 'kanana2': 'gpt-4o',
    'talkie': 'gpt-4o', 'minimax-m2': 'gpt-4o',
    'granite-embed-multi-97m': 'granite-embed-multi-97m', 'tiny_aya': 'tiny_aya',
    'cohere2moe': 'tiny_aya', 'kimi-k2': 'kimi-k2', 'superbpe': 'superbpe',
    'bailingmoe': 'bailingmoe', 'bailingmoe2': 'bailingmoe', 'llada-moe': 'bailingmoe',
    'seed-coder': 'seed-coder', 'ufakzeka': 'ufakzeka', 'afmoe': 'afmoe', 'laguna': 'laguna',
    'exaone-moe': 'exaone-moe', 'gemma4': 'gemma4', 'granite-embed-multi-311m': 'gemma4',
    'sarvam-moe': 'gemma4', 'minicpm5': 'minicpm5', 'whitespace': 'whitespace',
}

RX_GPT2 = GROUPS["gpt-2"][0]
RX_LLAMA3 = GROUPS["llama3"][0]
RX_KIMI_K2 = GROUPS["kimi-k2"][0]
RX_AFMOE = "\\p{AFMoE_digits}"

# llama.cpp's unicode_set_whitespace (Unicode White_Space)
WHITESPACE = set(range(0x09, 0x0E)) | set(range(0x2000, 0x200B)) | \
    {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
WS_CLASS = "\\t\\n\\x0b\\x0c\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# llama.cpp's unicode_cpt_is_han
HAN = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF),
       (0x2F800, 0x2FA1F)]
HAN_CLASS = "".join("\\U%08x-\\U%08x" % r for r in HAN)
ASCII_WORD = "A-Za-z0-9_"


def decode_llama(data):
    """bytes -> code points, as llama.cpp's unicode_cpts_from_utf8 (a bad or
    truncated sequence gives U+FFFD for its first byte and goes on at the
    next); sequences decoding above U+10FFFF count as bad (llama.cpp throws)."""
    out, i, n = [], 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            out.append(b); i += 1; continue
        if b < 0xC0 or b >= 0xF8:
            out.append(0xFFFD); i += 1; continue
        ln = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
        cp = b & (0x1F if ln == 2 else 0x0F if ln == 3 else 0x07)
        ok = i + ln <= n
        for k in range(1, ln):
            if not ok or (data[i + k] & 0xC0) != 0x80:
                ok = False
                break
            cp = (cp << 6) | (data[i + k] & 0x3F)
        if not ok or cp > 0x10FFFF:
            out.append(0xFFFD); i += 1; continue
        out.append(cp); i += ln
    return out


def encode(cps):
    return "".join(map(chr, cps)).encode("utf-8", "surrogatepass")


def cat(cp):
    return unicodedata.category(chr(cp))


def is_ws(cp):
    return cp in WHITESPACE


def is_letter(cp):
    return not is_ws(cp) and cat(cp)[0] == "L"


def is_number(cp):
    return not is_ws(cp) and cat(cp)[0] == "N"


def is_han(cp):
    return any(a <= cp <= b for a, b in HAN)


def lower(cp):
    return ord(chr(cp).lower()[0]) if len(chr(cp).lower()) == 1 else cp


def translate(rx):
    """The regex in Python `regex` syntax with llama.cpp's meanings (module doc)."""
    out, i, inside = [], 0, False
    while i < len(rx):
        c = rx[i]
        if c == "\\" and i + 1 < len(rx):
            d = rx[i + 1]
            if d == "p" and rx[i + 2] == "{":
                j = rx.index("}", i)
                name = rx[i + 3:j]
                i = j + 1
                if name in ("Lu", "Ll", "Lt", "Lm", "Lo"):
                    name = "L"
                if name == "Han":
                    out.append(HAN_CLASS if inside else "[" + HAN_CLASS + "]")
                else:
                    # a whitespace code point has no category for llama.cpp;
                    # none of llama.cpp's whitespace is in L N P M S anyway
                    out.append("\\p{%s}" % name)
                continue
            if d == "s":
                out.append(WS_CLASS if inside else "[" + WS_CLASS + "]")
            elif d == "S":
                assert not inside
                out.append("[^" + WS_CLASS + "]")
            elif d == "d":
                out.append("0-9" if inside else "[0-9]")
            elif d == "b":
                assert not inside
                out.append("(?:(?<=[%s])(?![%s])|(?<![%s])(?=[%s]))" % ((ASCII_WORD,) * 4))
            else:
                out.append(rx[i:i + 2])
            i += 2
            continue
        if c == "[" and not inside:
            inside = True
            out.append(c)
            if rx[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
            if rx[i + 1:i + 2] == "]":        # a leading ']' is literal
                out.append("\\]")
                i += 1
            i += 1
            continue
        if c == "[" and inside:
            out.append("\\[")
            i += 1
            continue
        if c == "]" and inside:
            inside = False
        out.append(c)
        i += 1
    return regex.compile("".join(out), regex.V0)


def split_regex(crx, cps, a, b):
    """Pieces (as end offsets) of cps[a:b] under a compiled Python regex."""
    text = "".join(map(chr, cps[a:b]))
    ends, last = [], 0
    for m in crx.finditer(text):
        s, e = m.span()
        if s > last:
            ends.append(a + s)
        if e > s:
            ends.append(a + e)
        last = max(last, e) if e > s else s
    if len(text) > last:
        ends.append(b)
    return ends


def custom_walk(cps, a, b, step):
    """Runs one of llama.cpp's hand-written splitters over cps[a:b]."""
    ends, pos = [], a
    while pos < b:
        end = step(cps, pos, a, b)
        ends.append(end)
        pos = end
    return ends


def get(cps, p, a, b):
    return cps[p] if a <= p < b else None


def flags(cps, p, a, b):
    """(letter, number, whitespace, in-range) of cps[p], as llama.cpp's flags."""
    c = get(cps, p, a, b)
    if c is None:
        return (False, False, False, False)
    return (is_letter(c) if not is_ws(c) else False, is_number(c), is_ws(c), True)


def other(f):
    return not (f[0] or f[1] or f[2]) and f[3]


def step_gpt2(cps, pos, a, b):
    # port of unicode_regex_split_custom_gpt2
    c = cps[pos]
    if c == 0x27 and pos + 1 < b:
        n = get(cps, pos + 1, a, b)
        if n in (ord("s"), ord("t"), ord("m"), ord("d")):
            return pos + 2
        if pos + 2 < b:
            nn = get(cps, pos + 2, a, b)
            if (n, nn) in ((ord("r"), ord("e")), (ord("v"), ord("e")), (ord("l"), ord("l"))):
                return pos + 3
    f2 = flags(cps, pos + 1, a, b) if c == 0x20 else flags(cps, pos, a, b)
    for k in (0, 1):
        if f2[k]:
            p = pos + (c == 0x20)
            while flags(cps, p, a, b)[k]:
                p += 1
            return p
    if other(f2):
        p = pos + (c == 0x20)
        while other(flags(cps, p, a, b)):
            p += 1
        return p
    nws = 0
    while flags(cps, pos + nws, a, b)[2]:
        nws += 1
    if nws > 1 and get(cps, pos + nws, a, b) is not None:
        return pos + nws - 1
    if nws > 0:
        return pos + nws
    return pos + 1


def contraction(cps, p, a, b):
    """Length of a case-insensitive 's 't 're 've 'm 'll 'd at p, else 0."""
    if get(cps, p, a, b) != 0x27 or not p + 1 < b:
        return 0
    n = lower(cps[p + 1])
    if n in (ord("s"), ord("t"), ord("m"), ord("d")):
        return 2
    if p + 2 < b and (n, lower(cps[p + 2])) in ((ord("r"), ord("e")), (ord("v"), ord("e")), (ord("l"), ord("l"))):
        return 3
    return 0


def ws_tail(cps, pos, a, b):
    """The \\s*[\\r\\n]+ | \\s+(?!\\S) | \\s+ | single-char end of llama3 and K2."""
    nws, last_rn = 0, 0
    while flags(cps, pos + nws, a, b)[2]:
        if cps[pos + nws] in (0x0D, 0x0A):
            last_rn = pos + nws + 1
        nws += 1
    if last_rn > 0:
        return last_rn
    if nws > 1 and get(cps, pos + nws, a, b) is not None:
        return pos + nws - 1
    if nws > 0:
        return pos + nws
    return pos + 1


def punct_run(cps, pos, a, b):
    """ ?[^\\s\\p{L}\\p{N}]+[\\r\\n]* if it applies at pos, else None."""
    c = cps[pos]
    f2 = flags(cps, pos + 1, a, b) if c == 0x20 else flags(cps, pos, a, b)
    if not other(f2):
        return None
    p = pos + (c == 0x20)
    while other(flags(cps, p, a, b)):
        p += 1
    while get(cps, p, a, b) in (0x0D, 0x0A):
        p += 1
    return p


def digits3(cps, pos, a, b):
    p = pos
    while flags(cps, p, a, b)[1] and p - pos < 3:
        p += 1
    return p


def step_llama3(cps, pos, a, b):
    # port of unicode_regex_split_custom_llama3
    c, f = cps[pos], flags(cps, pos, a, b)
    k = contraction(cps, pos, a, b)
    if k:
        return pos + k
    if not (c in (0x0D, 0x0A) or f[1]):
        if f[0] or flags(cps, pos + 1, a, b)[0]:
            p = pos + 1
            while flags(cps, p, a, b)[0]:
                p += 1
            return p
    if f[1]:
        return digits3(cps, pos, a, b)
    p = punct_run(cps, pos, a, b)
    if p is not None:
        return p
    return ws_tail(cps, pos, a, b)


def step_kimi_k2(cps, pos, a, b):
    # port of unicode_regex_split_custom_kimi_k2
    c, f = cps[pos], flags(cps, pos, a, b)
    if is_han(c):
        p = pos
        while get(cps, p, a, b) is not None and is_han(cps[p]):
            p += 1
        return p

    def nonhan_letter(p):
        return flags(cps, p, a, b)[0] and not is_han(cps[p])
    lead_ok = not (c in (0x0D, 0x0A) or f[0] or f[1])
    if (f[0] and not is_han(c)) or (lead_ok and nonhan_letter(pos + 1)):
        p = pos + 1 if lead_ok else pos
        while nonhan_letter(p):
            p += 1
        p += contraction(cps, p, a, b)
        return p
    if f[1]:
        return digits3(cps, pos, a, b)
    p = punct_run(cps, pos, a, b)
    if p is not None:
        return p
    return ws_tail(cps, pos, a, b)


def split_afmoe(cps, a, b):
    # port of unicode_regex_split_custom_afmoe (its first piece of a digit run
    # also takes the non-digits before it)
    ends, pos, prev = [], a, a
    while pos < b:
        if is_number(cps[pos]):
            s = pos
            while pos < b and is_number(cps[pos]):
                pos += 1
            r = (pos - s) % 3
            cur = s
            if r:
                cur += r
                ends.append(cur)
            while cur < pos:
                cur += 3
                ends.append(cur)
            prev = pos
            continue
        pos += 1
    if prev < b:
        ends.append(b)
    return ends


STEPS = {RX_GPT2: step_gpt2, RX_LLAMA3: step_llama3, RX_KIMI_K2: step_kimi_k2}
COMPILED = {}


def split_list(regexes, cps, check):
    ends = [len(cps)] if cps else []
    for rx in regexes:
        new, a = [], 0
        for b in ends:
            if rx == RX_AFMOE:
                new += split_afmoe(cps, a, b)
            elif rx in STEPS:
                got = custom_walk(cps, a, b, STEPS[rx])
                if check and rx != RX_KIMI_K2:
                    if rx not in COMPILED:
                        COMPILED[rx] = translate(rx)
                    plain = split_regex(COMPILED[rx], cps, a, b)
                    if plain != got:
                        print("note: llama.cpp's custom splitter and the regex differ on %r"
                              % encode(cps[a:b]), file=sys.stderr)
                new += got
            else:
                if rx not in COMPILED:
                    COMPILED[rx] = translate(rx)
                new += split_regex(COMPILED[rx], cps, a, b)
            a = b
        ends = new
    pieces, a = [], 0
    for b in ends:
        pieces.append(encode(cps[a:b]))
        a = b
    return pieces


def corpus():
    cases = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "*.inp"))):
        data = open(path, "rb").read()
        for s in data.split(b"\n__ggml_vocab_test__\n"):
            if s not in cases:
                cases.append(s)
    extra = [
        "I'm sure you're right, he'll see. We've said it's hers; she'd know. DON'T SHOUT, I'M HERE 'S 'T 'Re 'VE 'Ll",
        "don't can't won't y'all rock'n'roll '' ' s 'll'd 'ss",
        "你好世界，这是一个测试。日本語のテキスト、カタカナとひらがな。한국어 텍스트입니다! 中文English混合123",
        "𠀀𠀁 丽 ⺀ 〆 豈 㐀 ＡＢＣ ｈｅｌｌｏ　全角スペース",
        "🦙🦙 Hello 👋🏽 family 👨\u200d👩\u200d👧 flags 🇩🇪 keycap 1\ufe0f\u20e3 ❤️",
        "1 12 123 1234 12345 123456 1234567 3.14159 1,000,000 -42 +7 ١٢٣٤ ²³ ½ Ⅻ 0x1F",
        "3141592653589793238462643383279502884197169399375105820974944592307816406286",
        "a  b\t\tc\n\nd \n e\r\n\r\nf   \u3000 g\u00a0h\u2003i \x0b\x0c j\x1c\x1dk\u0085l\u2028m  \n",
        "   \n\n   x   \t\n",
        "e\u0301 cafe\u0301 naïve ñ a\u0308\u0304 क्षि नमस्ते ทดสอบ ภาษาไทย عَرَبِيّ שָׁלוֹם",
        "~~ a~b ~é $100 +5 <=> ^_^ `code` |x| @user #tag 50% a&b (x) [y] {z} \\ / \" ' ! ?",
        "def f(x):\n    return x**2  # comment\n\tif a != b: print(\"hi\")\n\n\n    }\n",
        "HelloWorld ABCdef camelCaseXMLParser İstanbul ǅungla ΣΊΣΥΦΟΣ straße ﬁne",
        "<sentinel:12> IMGIMGABCZ IMGIMGAAAAAZ IMGIMGJZ <sentinel:x>",
        "unassigned \u0378\u0379 private \ue000\U000f0000 control \x01\x7f\x9f format \u200b\u2060 nel",
        "Ｋelvin \u212a Ωhm \u2126 ﬀ Å",
        "The quick brown fox jumps over the lazy dog. It's 5 o'clock; isn't it?",
        "…。，、।۔، dot.dot,comma!bang?q (paren|pipe)",
        "",
        " ",
        "\n",
        "x",
    ]
    for s in extra:
        b = s.encode("utf-8", "surrogatepass")
        if b not in cases:
            cases.append(b)
    bad = [b"\xff\xfe abc \xc3 \xe2\x82 \xf0\x9f\xa6 \x80\x80 ok", b"\xed\xa0\x80 \xc0\x80 \xe0\x80\x80 x\xc3",
           b"caf\xc3\xa9\xc3", b"\xf4\x8f\xbf\xbf \xf4\x90\x80\x80 \xf5\x80\x80\x80 \xf8\x88\x80\x80\x80",
           b"abc\x00def \x00 1\x002"]
    cases += [b for b in bad if b not in cases]
    return cases


def hexs(b):
    return b.hex() if b else "-"


def read_fixture(path, tag):
    out = []
    for line in open(path):
        if line.startswith(tag):
            out.append([bytes.fromhex(h) if h != "-" else b"" for h in line[1:].split()])
    return out


def check_vocab(specs):
    """Every expected piece boundary must be a token boundary in llama.cpp."""
    import ctypes
    import llama_cpp as L
    L.llama_backend_init()
    cases = [c[0] if c else b"" for c in read_fixture(os.path.join(OUT, "corpus.txt"), "C")]
    names = dict(line.split() for line in open(os.path.join(OUT, "names.txt")) if not line.startswith("#"))
    bad = checked = 0
    for spec in specs:
        path, pre = spec.rsplit(":", 1)
        expect = read_fixture(os.path.join(OUT, names[pre] + ".txt"), "P")
        params = L.llama_model_default_params()
        params.vocab_only = True
        model = L.llama_model_load_from_file(path.encode(), params)
        if not model:
            sys.exit("gen_pretok_fixtures.py: cannot load %s" % path)
        vocab = L.llama_model_get_vocab(model)
        buf = ctypes.create_string_buffer(512)
        for text, pieces in zip(cases, expect):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                continue        # byte tokens of bad input do not map back to it
            if not text:
                continue
            arr = (L.llama_token * (len(text) * 2 + 16))()
            k = L.llama_tokenize(vocab, text, len(text), arr, len(arr), False, False)
            toks = []
            for t in arr[:k]:
                n = L.llama_token_to_piece(vocab, t, buf, 512, 0, False)
                toks.append(buf.raw[:n])
            if b"".join(toks) != text:
                continue
            tb, o = set(), 0
            for t in toks:
                o += len(t)
                tb.add(o)
            wb, o = set(), 0
            for w in pieces:
                o += len(w)
                wb.add(o)
            checked += 1
            if not wb <= tb:
                bad += 1
                print("%s: %r: word ends %s are no token ends" % (pre, text[:60], sorted(wb - tb)[:5]))
        L.llama_model_free(model)
    print("gen_pretok_fixtures.py: %d strings checked against llama.cpp, %d disagree" % (checked, bad))
    return bad == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-lib", help="libllama.so to find every regex string in")
    ap.add_argument("--check-vocab", nargs="+", metavar="GGUF:PRE")
    args = ap.parse_args()
    if args.check_vocab:
        sys.exit(0 if check_vocab(args.check_vocab) else 1)
    if unicodedata.unidata_version != "15.1.0":
        sys.exit("gen_pretok_fixtures.py: need unicodedata 15.1.0 (Python 3.13), have %s"
                 % unicodedata.unidata_version)
    if args.check_lib:
        lib = open(args.check_lib, "rb").read()
        for key, rxs in GROUPS.items():
            for rx in rxs:
                if rx != RX_KIMI_K2 and (b"\0" + rx.encode() + b"\0") not in lib:
                    sys.exit("gen_pretok_fixtures.py: %s regex not in %s: %r" % (key, args.check_lib, rx))
        print("gen_pretok_fixtures.py: every regex string is in %s" % args.check_lib)
    os.makedirs(OUT, exist_ok=True)
    cases = corpus()
    with open(os.path.join(OUT, "corpus.txt"), "w") as f:
        f.write("# input strings (hex of the bytes, '-' for none), one per line\n")
        for c in cases:
            f.write("C %s\n" % hexs(c))
    with open(os.path.join(OUT, "names.txt"), "w") as f:
        f.write("# tokenizer.ggml.pre name, then the list file it uses\n")
        for name, key in NAMES.items():
            f.write("%s %s\n" % (name, key))
    for key, rxs in GROUPS.items():
        with open(os.path.join(OUT, key + ".txt"), "w") as f:
            f.write("# regex list of '%s' (R: hex of each regex), then per corpus line\n" % key)
            f.write("# the expected pieces (P: hex of each piece, space-separated)\n")
            for rx in rxs:
                f.write("R %s\n" % rx.encode().hex())
            for c in cases:
                pieces = split_list(rxs, decode_llama(c), check=True)
                f.write("P%s\n" % "".join(" " + hexs(p) for p in pieces))
    print("gen_pretok_fixtures.py: %d cases, %d lists, %d names" % (len(cases), len(GROUPS), len(NAMES)))


if __name__ == "__main__":
    main()
