-- test_api.lua: the tycho module's every entry point and error path: misuse
-- raises naming the argument, expected failures return nil, msg, code,
-- objects print usefully and close through close(), <close> and __gc, and
-- m:stream drives generation from a for loop or a coroutine.
-- Runs under the tycho program: tycho tests/lua/test_api.lua

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

-- expected failures: nil, message, integer code
local function fails(pattern, f, ...)
  local v, msg, code = f(...)
  check(v == nil and type(msg) == "string" and msg:find(pattern, 1, true) and math.type(code) == "integer"
    and not msg:find("\n"), "expected failure '" .. pattern .. "', got " .. tostring(v) .. ", " .. tostring(msg))
end

-- ------------------------------------------------ without a model
fails("no-such-model", tycho.load, "no-such-model")
fails("is not a file", tycho.find, "no-such-model")
fails("no-such", tycho.tokenizer, "/tmp/no-such.gguf")
checkerr("bad argument #1", tycho.load, 42 and {} or nil)
checkerr("bad argument #1", tycho.tokenizer)
checkerr("unknown option 'num_gpus'", tycho.load, "x", { num_gpus = 1 })
checkerr("bad option 'num_ctx'", tycho.load, "x", { num_ctx = 1.5 })
checkerr("unknown option 'temp'", tycho.sampler, { temp = 1 })
checkerr("top_k", tycho.sampler, { top_k = "many" })
checkerr("top_p must be in [0, 1], got 2", tycho.sampler, { top_p = 2 })

-- a vocabulary alone
local vocab = src .. "/tests/fixtures/tokenizer/ggml-vocab-llama-spm.gguf"
do
  local t <close> = assert(tycho.tokenizer(vocab))
  check(tostring(t):find("32000 tokens", 1, true), "tokenizer tostring: " .. tostring(t))
  local ids = t:tokenize("Hello world")
  check(table.concat(ids, " ") == "1 15043 3186", "tokenize adds BOS: " .. table.concat(ids, " "))
  check(table.concat(t:tokenize("Hello world", { add_special = false }), " ") == "15043 3186", "no BOS")
  check(t:detokenize({ 15043, 3186 }) == " Hello world", "detokenize: '" .. t:detokenize({ 15043, 3186 }) .. "'")
  check(t:piece(15043) == "\u{2581}Hello", "piece")
  check(t:info().n_vocab == 32000 and t:info().bos_token_id == 1, "info")
  check(t:is_eog(2) and not t:is_eog(15043), "is_eog")
  checkerr("unknown option 'special'", t.tokenize, t, "x", { special = true })
  checkerr("bad argument #2", t.tokenize, t, {})
  checkerr("token 1 is not an id", t.detokenize, t, { 32000 })
  checkerr("not a token id", t.piece, t, -1)
  t:close()
  t:close()
  checkerr("closed tokenizer", t.tokenize, t, "x")
  check(tostring(t):find("closed"), "closed tostring")
end

-- a sampler alone
do
  local s = tycho.sampler { temperature = 0 }
  check(s:sample({ 0.1, 3.0, -1.0 }) == 1, "greedy picks index 1 (0-based ids)")
  s = tycho.sampler { seed = 7, temperature = 1.5 }
  local a = {}
  for i = 1, 20 do a[i] = s:sample({ 1, 1, 1, 1 }) end
  local s2 = tycho.sampler { seed = 7, temperature = 1.5 }
  local b = {}
  for i = 1, 20 do b[i] = s2:sample({ 1, 1, 1, 1 }) end
  check(table.concat(a) == table.concat(b), "same seed, same draws")
  check(tostring(s):find("tycho.Sampler", 1, true), "sampler tostring")
  checkerr("bad argument #2", s.sample, s, {})
  checkerr("logit 2 is not a number", s.sample, s, { 1, "x" })
  s:accept(3)
  s:reset()
end

-- templates
do
  local t <close> = assert(tycho.template("{{ range .Messages }}[{{ .Role }}] {{ .Content }}\n{{ end }}"))
  check(t:render({ { role = "user", content = "hi" } }) == "[user] hi\n", "go template render")
  check(t:info().kind == "go", "template info")
  fails("template:1:", tycho.template, "{{ if }}")
  checkerr("message 1 needs string fields", t.render, t, { { role = "user" } })
  checkerr("bad argument #2", t.render, t, "hi")
  local j <close> = assert(tycho.template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"))
  check(j:info().kind == "jinja" and j:info().family == "chatml", "jinja family: " .. tostring(j:info().family))
  fails("", tycho.template, "{% weird %}")
end

-- json
do
  check(tycho.json.encode({ 1, 2, { a = tycho.json.null } }) == '[1,2,{"a":null}]', "json null")
  checkerr("cannot encode function", tycho.json.encode, { f = print })
  local cyc = {}
  cyc.self = cyc
  checkerr("nesting too deep", tycho.json.encode, cyc)
  check(tycho.json.decode("[1, null, 3]")[2] == tycho.json.null, "decode keeps null positions")
  -- numbers read back as the same double (a sweep's rates are compared after a resume)
  local exact = true
  for _, x in ipairs { 1 / 3, 33.333333333333329, 0.1, 2 ^ 60 + 1.0, 1e-300, math.pi * 1e7 } do
    exact = exact and tycho.json.decode(tycho.json.encode { x }) [1] == x
  end
  check(exact, "json numbers round-trip")
  check(tycho.json.encode { math.maxinteger, 1 / 0 } == "[9223372036854775807,null]", "integers exact, inf null")
end

-- devices and info (tycho.info needs only the header)
if tycho.devices then
  local d = tycho.devices()
  check(#d >= 1 and d[1].kind == "cpu" and d[1].total > 0, "devices")
end
if tycho.info then
  local info = assert(tycho.info(vocab))
  check(info.vocab_size == 32000 or (info.metadata and info.metadata["tokenizer.ggml.model"] == "llama"), "info on a vocab file")
  fails("no-such", tycho.info, "/tmp/no-such.gguf")
end

-- ------------------------------------------------ with SmolLM2
local path = tycho.find("smollm2")
if not path then
  print("skipping the model part: smollm2 is not in the cache")
  if os.getenv("TYCHO_REQUIRE_MODELS") == "1" then os.exit(1) end
  T.done()
  return
end

do
  local m <close> = assert(tycho.load("smollm2", { num_ctx = 256, num_thread = 2 }))   -- a cache name
  check(tostring(m):find("llama", 1, true), "model tostring")
  local info = m:info()
  check(info.memory.kv == 30 * 2 * 256 * 3 * 64 * 2, "kv bytes: layers x (k, v) x ctx x kv heads x head dim x f16: " .. info.memory.kv)
  -- stream: a for loop
  local parts = {}
  local s = m:stream("Why is the sky blue?", { temperature = 0, repeat_penalty = 1, num_predict = 12 })
  check(tostring(s):find("running", 1, true), "stream tostring: " .. tostring(s))
  for text in s do parts[#parts + 1] = text end
  local r = s:result()
  check(#parts >= 10 and r.text == table.concat(parts) and r.eval_count == 12 and r.done_reason == "length",
    "stream parts make the text: " .. table.concat(parts, "|"))
  check(r.text:sub(1, 30) == "The answer to this question li", "stream text is the greedy answer: " .. r.text)
  -- a coroutine drives it token by token
  local co = coroutine.wrap(function()
    for text in m:stream("Why is the sky blue?", { temperature = 0, repeat_penalty = 1, num_predict = 4 }) do
      coroutine.yield(text)
    end
    return "end"
  end)
  check(co() == "The" and co() == " answer" and co() == " to" and co() == " this" and co() == "end", "coroutine")
  -- breaking out of the loop closes the stream; a new generation replaces an old stream
  local old = m:stream("Hi", { num_predict = 30 })
  old()
  for _ in m:stream("Hi", { num_predict = 30 }) do break end
  check(old() == nil, "a replaced stream ends")
  checkerr("replaced", old.result, old)
  checkerr("a stream hands out the text itself", m.stream, m, "Hi", { on_token = print })
  checkerr("bad argument #2", m.stream, m, 42)
  -- generate errors
  checkerr("raw needs a prompt string", m.generate, m, { { role = "user", content = "x" } }, { raw = true })
  checkerr("has role 'robot'", m.generate, m, { { role = "robot", content = "x" } })
  checkerr("bad option 'stop'", m.generate, m, "x", { stop = 3 })
  checkerr("bad option 'num_predict'", m.generate, m, "x", { num_predict = "all" })
  fails("the prompt is", m.generate, m, string.rep("word ", 300))
  -- an error inside on_token propagates with its traceback
  local ok, msg = pcall(m.generate, m, "Hi", { num_predict = 4, on_token = function() error("boom") end })
  check(not ok and msg:find("boom", 1, true) and msg:find("traceback", 1, true), "on_token error with traceback: " .. tostring(msg))
  -- eval and logits for experiments
  m:reset()
  assert(m:eval(m:tokenize("The capital of France is")))
  check(#m:logits() == 49152 and m:argmax() >= 0, "logits")
  local samp = tycho.sampler { temperature = 0 }
  check(samp:sample(m) == m:argmax(), "a sampler over a model's logits")
  -- split over virtual CPU devices: the same greedy text, by layer_split or by a plan
  local greedy = { temperature = 0, repeat_penalty = 1, num_predict = 12 }
  local want = m:generate("Why is the sky blue?", greedy).text
  do
    local m2 <close> = assert(tycho.load("smollm2", { num_ctx = 256, layer_split = { 7, 19, 30 }, output_device = 0 }))
    check(m2:generate("Why is the sky blue?", greedy).text == want, "a 3-device split gives the same text")
    local plan = assert(tycho.plan("smollm2", { num_ctx = 256, devices = "cpu=1G,cpu=30M" }))
    check(plan.devices[2].n_layers > 0, "the plan offloads layers")
    local m3 <close> = assert(tycho.load("smollm2", { num_ctx = 256, plan = plan }))
    check(m3:generate("Why is the sky blue?", greedy).text == want, "a plan's split gives the same text")
  end
  -- a plan for a GPU this machine lacks: one line naming it, nothing loaded
  local has_gpu = false
  for _, d in ipairs(tycho.devices()) do has_gpu = has_gpu or d.kind == "cuda" end
  if not has_gpu then
    fails("cuda:0", tycho.load, "smollm2", { plan = assert(tycho.plan("smollm2", { gpus = "8G" })) })
  end
  fails("layer split", tycho.load, "smollm2", { layer_split = { 40, 30 } })
  checkerr("bad option 'layer_split'", tycho.load, "smollm2", { layer_split = { "a" } })
  m:close()
  checkerr("closed model", m.generate, m, "x")
  checkerr("closed model", m.stream, m, "x")
  check(s() == nil, "a stream of a closed model ends")
end
collectgarbage()
T.done()
