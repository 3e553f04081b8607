-- bench_text.lua: tycho's half of scripts/bench_text.py.
--   tycho scripts/bench_text.lua tok MODEL TEXTFILE REPEATS   -> "tokens seconds" per repeat
--   tycho scripts/bench_text.lua sample MODEL N_VOCAB_IGNORED REPEATS -> "samples seconds"
-- Tokenizing: the whole file, special tokens parsed, BOS as the vocabulary says.
-- Sampling: Ollama's defaults over the model's real logits after a short
-- prompt, 64 tokens of history, one sample per call.
local tycho = require "tycho"
local what, model, file, repeats = ...
repeats = math.tointeger(tonumber(repeats)) or 3

if what == "tok" then
  local t <close> = assert(tycho.tokenizer(model))
  local text = assert(io.open(file, "rb")):read("a")
  for _ = 1, repeats do
    local t0 = tycho.now()
    local ids = t:tokenize(text, { parse_special = true })
    print(#ids, tycho.now() - t0)
  end
elseif what == "sample" then
  local m <close> = assert(tycho.load(model, { num_ctx = 256, num_thread = 2 }))
  local ids = m:tokenize("The history of the printing press begins in", { add_special = true })
  assert(m:eval(ids))
  local s = tycho.sampler { seed = 1 }
  for i = 1, 64 do s:accept(1000 + i) end
  local n = 2000
  for _ = 1, repeats do
    local t0 = tycho.now()
    for _ = 1, n do s:sample(m) end
    print(n, tycho.now() - t0)
  end
end
