-- test_quality.lua: tycho.perplexity against llama.cpp's perplexity of
-- SmolLM2 over a Debian licence text (tests/fixtures/quality/ppl_ref.json,
-- from scripts/gen_ppl_ref.py), the KL base file in llama.cpp's layout, KL
-- of a model against itself and against a quantized variant, tycho.quantized's
-- cache, and the two commands. Runs under the tycho program.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

local home = os.getenv("TYCHO_HOME") or (os.getenv("HOME") .. "/.cache/tycho")
local model = home .. "/models/smollm2.gguf"
local text = T.read("/usr/share/common-licenses/GPL-3")
if not io.open(model, "rb") or not text then
  print("skipping: " .. model .. " or /usr/share/common-licenses/GPL-3 is missing")
  os.exit(os.getenv("TYCHO_REQUIRE_MODELS") == "1" and 1 or 77)
end

local ref = assert(tycho.json.decode(T.read(src .. "/tests/fixtures/quality/ppl_ref.json")))
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. T.quote(dir)))

local function rel(a, b) return math.abs(a - b) / math.abs(b) end

-- ------------------------------------------------ perplexity as llama.cpp's
local m <close> = assert(tycho.load(model, { num_ctx = 512 }))
local ids = m:tokenize(text)
local case = ref.cases[1]
check(#ids == case.n_text_tokens, "the text tokenizes to llama.cpp's count: " .. #ids)
for i, id in ipairs(case.first_tokens) do check(ids[i] == id, "token " .. i .. " is llama.cpp's") end

local seen = {}
local r = assert(tycho.perplexity(m, text, { num_ctx = case.n_ctx, max_chunks = case.n_chunks,
  progress = function(i, n, ppl) seen[#seen + 1] = { i, n, ppl } end }))
check(r.n_chunks == case.n_chunks and r.n_tokens == case.n_tokens and r.n_ctx == case.n_ctx,
      "chunks and scored tokens as llama.cpp: " .. r.n_tokens)
-- the logits are llama.cpp's own (docs/correctness.md): measured 3e-9
check(rel(r.ppl, case.ppl) < 1e-5, string.format("ppl %.6f, llama.cpp %.6f", r.ppl, case.ppl))
check(rel(r.ppl_err, case.ppl_err) < 1e-4, string.format("ppl_err %.6f, llama.cpp %.6f", r.ppl_err, case.ppl_err))
check(#seen == case.n_chunks and seen[2][1] == 2 and seen[2][2] == case.n_chunks and
      rel(seen[2][3], case.per_chunk[2]) < 1e-5, "progress(i, n, ppl so far) after each chunk")
check(r.seconds > 0 and r.kl == nil, "seconds, and no kl without a base")

-- errors: too short a text, a window larger than the loaded context, misuse
local none, msg = tycho.perplexity(m, "a short text", { num_ctx = 128 })
check(none == nil and msg:find("needs at least 256", 1, true), "short text: " .. tostring(msg))
none, msg = tycho.perplexity(m, text, { num_ctx = 1024 })
check(none == nil and msg:find("num_ctx = 1024", 1, true), "window beyond the context: " .. tostring(msg))
checkerr("unknown option 'ctx'", tycho.perplexity, m, text, { ctx = 128 })
checkerr("boom", tycho.perplexity, m, text, { num_ctx = 128, max_chunks = 1,
  progress = function() error("boom") end })

-- ------------------------------------------------ KL: the base file and itself
local base = dir .. "/base.kl"
r = assert(tycho.perplexity(m, text, { num_ctx = 128, max_chunks = 1, save_logits = base }))
local bytes = T.read(base)
local n_ctx, n_vocab, n_chunk = string.unpack("<I4i4i4", bytes, 9)
check(bytes:sub(1, 8) == "_logits_" and n_ctx == 128 and n_vocab == 49152 and n_chunk == 1,
      "llama.cpp's header: _logits_, n_ctx, n_vocab, n_chunk")
check(#bytes == 20 + 4 * 128 + 63 * (49152 + 4) * 2, "tokens, then 63 records of nv uint16: " .. #bytes)
check(string.unpack("<i4", bytes, 21) == ids[1] and string.unpack("<i4", bytes, 25) == ids[2],
      "the text's own tokens (BOS first)")
local same = assert(tycho.perplexity(m, text, { kl_base = base }))
check(same.kl and math.abs(same.kl.mean) < 1e-4 and same.kl.max < 1e-3 and same.kl.same_top == 1,
      "a model against itself: KL ~0, same top 1: " .. tostring(same.kl and same.kl.mean))
check(same.ppl == r.ppl and rel(same.kl.ppl_base, r.ppl) < 1e-3, "same ppl, base ppl from the file")
none, msg = tycho.perplexity(m, text:sub(200), { kl_base = base })
check(none == nil and msg:find("another text", 1, true), "base of another text: " .. tostring(msg))
assert(io.open(dir .. "/junk", "wb")):write("not a base"):close()
none, msg = tycho.perplexity(m, text, { kl_base = dir .. "/junk" })
check(none == nil and msg:find("not a file of log-probabilities", 1, true), "junk base: " .. tostring(msg))

-- the same figure from a model split over two CPU devices (the output on the second)
do
  local split <close> = assert(tycho.load(model, { num_ctx = 128, layer_split = { 12, 30 },
                                                   output_device = 1 }))
  local sr = assert(tycho.perplexity(split, text, { num_ctx = 128, max_chunks = 1 }))
  check(sr.ppl == r.ppl, string.format("split model: ppl %.6f, one device %.6f", sr.ppl, r.ppl))
end

-- ------------------------------------------------ a quantized variant, cached
local q1, q2
do
  -- tycho.quantized caches under $TYCHO_HOME/quant: a child with a home of its own
  local script = dir .. "/q.lua"
  assert(io.open(script, "w")):write(string.format([[
    local tycho = require "tycho"
    local p = assert(tycho.quantized(%q, "q3_k_s"))
    local p2 = assert(tycho.quantized(%q, "Q3_K_S"))
    print(p, p2)
  ]], model, model)):close()
  local p = io.popen("TYCHO_HOME=" .. T.quote(dir .. "/home") .. " " .. T.quote(arg[-1]) .. " "
                     .. T.quote(script) .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  q1, q2 = out:match("^(%S+)%s+(%S+)")
  check(ok and q1 and q1 == q2, "tycho.quantized builds once, returns the cached path: " .. out)
end
if q1 then
  check(q1:match("/quant/" .. ("%x"):rep(16) .. "%-Q3_K_S%.gguf$"), "named by digest and type: " .. q1)
  local q <close> = assert(tycho.load(q1, { num_ctx = 128 }))
  local kl = assert(tycho.perplexity(q, text, { kl_base = base }))
  check(kl.kl.mean > 1e-3 and kl.kl.same_top < 1 and kl.ppl > r.ppl,
        string.format("Q3_K_S against the Q4_1 base: KL %.4f, same top %.3f, ppl %.3f",
                      kl.kl.mean, kl.kl.same_top, kl.ppl))
  check(kl.kl.median <= kl.kl.p99 and kl.kl.p99 <= kl.kl.max, "median <= p99 <= max")
end

-- ------------------------------------------------ the commands
local out, err, rc = T.run({ "perplexity", "smollm2", "/usr/share/common-licenses/GPL-3",
                             "--ctx", "128", "--chunks", "1", "--kl-base", base })
check(rc == 0 and out:find("[1]", 1, true) and out:find("Final estimate: PPL = ", 1, true) and
      out:find("Same top p       : 100.000 %", 1, true), "tycho perplexity: " .. out .. err)
out, err, rc = T.run({ "quantize", "smollm2", "Q4_K_M", "--dry-run" })
check(rc == 0 and out:find("[   2/ 272] token_embd.weight", 1, true) and
      out:find("blk.0.ffn_down.weight%s+q4_1 %-> q6_K"), "tycho quantize --dry-run: " .. out:sub(1, 300) .. err)
out, err, rc = T.run({ "quantize", "smollm2", dir .. "/x.gguf", "Q7" })
check(rc ~= 0 and err:find("unknown quantization type", 1, true), "unknown type: " .. err)
out, err, rc = T.run({ "quantize", "smollm2", dir .. "/f16.gguf", "F16" })
check(rc == 0 and out:find("wrote " .. dir .. "/f16.gguf", 1, true), "tycho quantize F16: " .. err)
os.remove(dir .. "/f16.gguf")

os.execute("rm -rf " .. T.quote(dir))
T.done()
