-- test_run.lua: `tycho run`, `tycho tokenize` and `tycho template render` as a
-- user types them, and m:generate from Lua. The reference answer is
-- llama.cpp's (tests/fixtures/ref/chat.txt, scripts/gen_chat_ref.py):
-- SmolLM2 computes llama.cpp's very logits, so greedy text must match it
-- byte for byte. Runs under the tycho program: tycho tests/lua/test_run.lua

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

local tycho_cmd = T.run

local function unescape(s)
  return (s:gsub("\\(.)", { n = "\n", ["\\"] = "\\" }))
end

local function read_fixture(path)
  local t = {}
  for line in io.lines(path) do
    local k, v = line:match("^(%S+) ?(.*)$")
    t[k] = v
  end
  return t
end

-- ------------------------------------------------ template render (no model needed)
do
  local dir = src .. "/tests/fixtures/templates/chatml.gotmpl"
  local want = assert(io.open(dir .. "/user", "rb")):read("a")
  local out, err, rc = tycho_cmd({ "template", "render", dir .. "/template" },
    '[{"role": "user", "content": "Hello, how are you?"}]')
  check(rc == 0 and out == want, "template render chatml: " .. out .. err)
  out, err, rc = tycho_cmd({ "template", "render", dir .. "/template" }, "[{")
  check(rc ~= 0 and err:find("JSON", 1, true), "template render: bad JSON says so: " .. err)
end

-- ------------------------------------------------ the rest needs SmolLM2
local home = os.getenv("TYCHO_HOME") or (os.getenv("HOME") .. "/.cache/tycho")
local model = home .. "/models/smollm2.gguf"
if not io.open(model, "rb") then
  print("skipping: " .. model .. " is not in the cache (scripts/setup.sh)")
  os.exit(os.getenv("TYCHO_REQUIRE_MODELS") == "1" and 1 or 77)
end

local ref = read_fixture(src .. "/tests/fixtures/ref/chat.txt")
local question, answer = unescape(ref.question), unescape(ref.answer)
local prompt_ids = {}
for id in ref.prompt_ids:gmatch("%d+") do prompt_ids[#prompt_ids + 1] = tonumber(id) end
table.remove(prompt_ids, 1)                     -- the count
local greedy = { "--temperature", "0", "--repeat-penalty", "1", "-n", "48", "-t", "2" }

-- the README's first command, exactly as a user runs it: answers, exits 0
do
  local out, err, rc = tycho_cmd({ "run", "smollm2", question })
  check(rc == 0 and #out > 10 and err == "", "run smollm2 answers: rc " .. tostring(rc) .. " " .. out .. err)
end

-- greedy: llama.cpp's answer, byte for byte, streamed, then as JSON
do
  local args = { "run", "smollm2", question, table.unpack(greedy) }
  local out, err, rc = tycho_cmd(args)
  check(rc == 0 and out == answer .. "\n", "greedy answer equals llama.cpp's:\n" .. out .. "\n--- want\n" .. answer .. "\n" .. err)
  args[#args + 1] = "--format"
  args[#args + 1] = "json"
  out, err, rc = tycho_cmd(args)
  local r = tycho.json.decode(out)
  check(rc == 0 and r and r.response == answer and r.prompt_eval_count == #prompt_ids
    and r.eval_count == 48 and r.done_reason == "length" and r.eval_duration > 0
    and r.memory and r.memory.kv > 0, "--format json: " .. out .. err)
end

-- --verbose reports what ollama run --verbose does, and memory
do
  local args = { "run", "smollm2", question, "--verbose", table.unpack(greedy) }
  local _, err, rc = tycho_cmd(args)
  for _, k in ipairs { "load duration:", "prompt eval count:    36 token(s)", "prompt eval duration:",
      "prompt eval rate:", "eval count:           48 token(s)", "eval duration:", "eval rate:", "memory:",
      "memory planned:", "as allocated, to the byte" } do
    check(rc == 0 and err:find(k, 1, true), "--verbose prints '" .. k .. "': " .. err)
  end
end

-- stop strings end the answer before them, across token boundaries
do
  local stop = " sky app"           -- spans the tokens " sky" and " appears"
  local cut = answer:sub(1, answer:find(stop, 1, true) - 1)
  local out, err, rc = tycho_cmd({ "run", "smollm2", question, "--stop", stop, table.unpack(greedy) })
  check(rc == 0 and out == cut .. "\n", "stop string: " .. out .. err)
end

-- same seed, same text; --raw skips the template
do
  local a = tycho_cmd({ "run", "smollm2", question, "--seed", "42", "-n", "16" })
  local b = tycho_cmd({ "run", "smollm2", question, "--seed", "42", "-n", "16" })
  check(a == b and #a > 0, "same seed, same text: " .. a .. " / " .. b)
  local out, _, rc = tycho_cmd({ "run", "smollm2", "The capital of France is", "--raw", "--format", "json",
    table.unpack(greedy) })
  local r = tycho.json.decode(out)
  check(rc == 0 and r and r.prompt_eval_count == 5, "--raw sends the text alone: " .. out)
end

-- bad input: an unknown model lists what there is; a long prompt is refused
-- with both numbers; invalid UTF-8 does not crash
do
  local _, err, rc = tycho_cmd({ "run", "no-such-model", "hi" })
  check(rc ~= 0 and err:find("available", 1, true) and err:find("smollm2", 1, true), "unknown model: " .. err)
  _, err, rc = tycho_cmd({ "run", "smollm2", string.rep("word ", 100), "--ctx", "64" })
  check(rc ~= 0 and err:find("64", 1, true) and err:find("tokens", 1, true), "long prompt refused: " .. err)
  local out
  out, err, rc = tycho_cmd({ "run", "smollm2", "caf\xe9 \xff\xfe \xc3", "-n", "4" })
  check(rc == 0, "invalid UTF-8 prompt: rc " .. tostring(rc) .. " " .. err)
end

-- the chat loop over piped lines keeps history and ends at /bye
do
  local out, err, rc = tycho_cmd({ "run", "smollm2", table.unpack(greedy) }, question .. "\nAnd at sunset?\n/bye\n")
  check(rc == 0 and out:sub(1, #answer) == answer and #out > #answer + 10, "chat loop: " .. out .. err)
end

-- tokenize: the chat prompt's ids are llama.cpp's
do
  local out, err, rc = tycho_cmd({ "tokenize", "smollm2", "--special", unescape(ref.prompt) })
  check(rc == 0 and out == table.concat(prompt_ids, " ") .. "\n", "tokenize --special: " .. out .. err)
  out, err, rc = tycho_cmd({ "tokenize", "smollm2", "--pieces", "Hello world" })
  check(rc == 0 and out:find("-> 'Hello'", 1, true) and out:find("-> ' world'", 1, true), "tokenize --pieces: " .. out .. err)
end

-- from Lua: generate with messages, on_token, stop, errors
do
  local m <close> = assert(tycho.load(model, { num_ctx = 512, num_thread = 2 }))
  check(m:info().chat_format == "chatml", "chat format: " .. tostring(m:info().chat_format))
  check(m:render(question) == unescape(ref.prompt), "render adds SmolLM2's default system message")
  local ids = m:tokenize(unescape(ref.prompt), { parse_special = true })
  check(table.concat(ids, " ") == table.concat(prompt_ids, " "), "m:tokenize")
  check(m:detokenize(m:tokenize("héllo wörld")) == "héllo wörld", "detokenize round trip")
  local pieces = {}
  local r = assert(m:generate({ { role = "user", content = question } }, { temperature = 0,
    repeat_penalty = 1, num_predict = 48, on_token = function(t) pieces[#pieces + 1] = t end }))
  check(r.text == answer and table.concat(pieces) == answer, "generate(messages) streams llama.cpp's answer")
  check(r.prompt_eval_count == #prompt_ids and r.eval_count == 48, "counts")
  -- the next turn shares the cached prefix: only the new part is evaluated
  local r2 = assert(m:generate({ { role = "user", content = question }, { role = "assistant", content = r.text },
    { role = "user", content = "Thanks!" } }, { temperature = 0, num_predict = 4 }))
  check(r2.prompt_eval_count < r2.prompt_tokens / 2, "prefix reuse: " .. r2.prompt_eval_count .. " of " .. r2.prompt_tokens)
  local n = 0
  r = assert(m:generate(question, { temperature = 0, num_predict = 20, on_token = function() n = n + 1; return n < 3 end }))
  check(n == 3 and r.done_reason == "cancelled", "on_token returning false stops: " .. n .. " " .. r.done_reason)
  checkerr("boom", m.generate, m, question, { num_predict = 5, on_token = function() error("boom") end })
  checkerr("unknown option 'temprature'", m.generate, m, question, { temprature = 0 })
  checkerr("top_p", m.generate, m, question, { top_p = 1.5 })
end

-- tycho.json round trip, sorted keys
do
  local j = tycho.json.encode({ b = 1, a = { 1, 2.5, "x\n" }, c = true })
  check(j == '{"a":[1,2.5,"x\\n"],"b":1,"c":true}', "json encode: " .. j)
  local v = tycho.json.decode(j)
  check(v.a[3] == "x\n" and v.b == 1 and math.type(v.b) == "integer", "json decode")
  check(select(2, tycho.json.decode("{")):find("invalid JSON", 1, true), "json error")
end

T.done()
