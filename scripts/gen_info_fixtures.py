#!/usr/bin/env python3
"""gen_info_fixtures.py: the reference answers for tycho.info / ty_model_info,
taken from the Python gguf package (an implementation independent of tycho).

Writes tests/fixtures/info/<name>.txt, one fact per line:
  version N | tensor_count N | parameters N | size BYTES | architecture S
  context_length N | embedding_length N | block_count N | head_count N
  head_count_kv N | vocab_size N | file_type N | quantization S  (absent keys omitted)
  type NAME COUNT BYTES PARAMS                    (one per tensor type)
  meta KEY VALUE                                  (a few scalar metadata values)
Usage: python3 scripts/gen_info_fixtures.py  (from the repo root)
"""
import os
import re
import sys

sys.path.insert(0, '/root/dl/ggx')
sys.path.insert(0, '/root/dl/npx')
import gguf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(os.environ.get('TYCHO_HOME') or os.path.expanduser('~/.cache/tycho'), 'models')
OUT = os.path.join(ROOT, 'tests', 'fixtures', 'info')


def type_name(t):
    # ggml's spelling: "q4_K", "f16", "bf16"
    n = t.name.lower()
    if n.endswith('_k'):
        n = n[:-2] + '_K'
    return n


def scalar(field):
    """The field's value when it is a scalar int/float/bool/string, else None."""
    if len(field.types) != 1:
        return None
    t = field.types[0]
    v = field.parts[field.data[0]]
    if t == gguf.GGUFValueType.STRING:
        return bytes(v).decode('utf-8')
    if t == gguf.GGUFValueType.BOOL:
        return 'true' if bool(v[0]) else 'false'
    if t in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64):
        return repr(float(v[0]))
    return str(int(v[0]))


def facts(path):
    r = gguf.GGUFReader(path)
    out = []
    ver = r.fields['GGUF.version']
    out.append('version %d' % int(ver.parts[ver.data[0]][0]))
    out.append('tensor_count %d' % len(r.tensors))
    out.append('parameters %d' % sum(int(t.n_elements) for t in r.tensors))
    out.append('size %d' % sum(int(t.n_bytes) for t in r.tensors))
    arch = scalar(r.fields['general.architecture']) if 'general.architecture' in r.fields else None
    if arch is not None:
        out.append('architecture %s' % arch)
        for k in ('context_length', 'embedding_length', 'block_count'):
            f = r.fields.get('%s.%s' % (arch, k))
            if f is not None:
                out.append('%s %s' % (k, scalar(f)))
        for k in ('head_count', 'head_count_kv'):
            f = r.fields.get('%s.attention.%s' % (arch, k))
            if f is not None:
                out.append('%s %s' % (k, scalar(f)))
    tok = r.fields.get('tokenizer.ggml.tokens')
    if tok is not None:
        out.append('vocab_size %d' % len(tok.data))
    if 'general.file_type' in r.fields:
        ft = int(scalar(r.fields['general.file_type']))
        out.append('file_type %d' % ft)
        try:  # MOSTLY_Q4_K_M -> Q4_K_M, ALL_F32 -> F32
            out.append('quantization %s' % re.sub('^(MOSTLY|ALL)_', '', gguf.LlamaFileType(ft & ~1024).name))
        except ValueError:
            pass
    by = {}
    for t in r.tensors:
        e = by.setdefault(type_name(t.tensor_type), [0, 0, 0])
        e[0] += 1
        e[1] += int(t.n_bytes)
        e[2] += int(t.n_elements)
    for name in sorted(by):
        out.append('type %s %d %d %d' % (name, *by[name]))
    keys = ['general.architecture', 'general.name', 'tokenizer.ggml.model',
            'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id',
            'general.quantization_version', 'tokenizer.ggml.add_bos_token']
    if arch is not None:
        keys += ['%s.attention.layer_norm_rms_epsilon' % arch, '%s.rope.freq_base' % arch]
    for k in keys:
        f = r.fields.get(k)
        if f is not None and scalar(f) is not None and '\n' not in scalar(f):
            out.append('meta %s %s' % (k, scalar(f)))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    files = [(os.path.join(MODELS, m + '.gguf'), m) for m in ('smollm2', 'gemma3')]
    tokdir = os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer')
    for f in sorted(os.listdir(tokdir)):
        if f.endswith('.gguf'):
            files.append((os.path.join(tokdir, f), f[:-5]))
    for path, name in files:
        if not os.path.exists(path):
            print('skip %s (absent)' % path)
            continue
        lines = facts(path)
        with open(os.path.join(OUT, name + '.txt'), 'w') as fp:
            fp.write('\n'.join(lines) + '\n')
        print('wrote %s.txt (%d lines)' % (name, len(lines)))


if __name__ == '__main__':
    main()
