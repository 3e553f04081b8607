-- test_modelfile.lua: tycho.modelfile: parse to a typed table, build from a
-- table, write and read back, the JSON layers (decoded with tycho.json), and
-- errors: parse raises with the line, a bad table value raises naming the
-- field, read returns nil, msg, code. Runs under the tycho program.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

-- Deep equality of plain values and tables.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- ------------------------------------------------ parse: a typed table
do
  local t = tycho.modelfile.parse([[
# tuned smollm2
FROM smollm2
PARAMETER num_ctx 4096
PARAMETER temperature 0.7
PARAMETER use_mmap false
PARAMETER stop <|im_end|>
PARAMETER stop "<|im_start|>"
PARAMETER kv_type q8_0
template """{{ .Prompt }}
"""
SYSTEM You are terse.
LICENSE MIT
MESSAGE user Hi
MESSAGE assistant "  Hello  "
REQUIRES 0.14.0
]])
  check(t.from == "smollm2", "from")
  local p = t.parameters
  check(p.num_ctx == 4096 and math.type(p.num_ctx) == "integer", "num_ctx an integer")
  check(p.temperature == 0.7 and p.use_mmap == false and p.kv_type == "q8_0", "typed values")
  check(#p.stop == 2 and p.stop[1] == "<|im_end|>" and p.stop[2] == "<|im_start|>", "stop a list")
  check(t.template == "{{ .Prompt }}\n" and t.system == "You are terse." and t.license == "MIT", "strings")
  check(#t.messages == 2 and t.messages[2].role == "assistant" and t.messages[2].content == "  Hello  ",
    "messages")
  check(t.requires == "0.14.0", "requires")
  check(#t.commands == 13 and t.commands[1].name == "model" and t.commands[2].name == "num_ctx" and
    t.commands[12].args == "assistant:   Hello  ", "commands in order")

  -- the table builds a Modelfile that reads back as the same table (its
  -- commands in the written order: FROM, TEMPLATE, SYSTEM, PARAMETERs, ...)
  local m = tycho.modelfile(t)
  local again = tycho.modelfile.parse(tostring(m))
  again.commands, t.commands = nil, nil
  check(same(again, t), "round trip through the table:\n" .. tostring(m))
  check(select(2, tostring(m):gsub("\n", "")) == 14, "13 commands, one line break in the template")
  check(m.from == "smollm2" and m.parameters.num_ctx == 4096 and m.messages[1].content == "Hi",
    "fields readable on the object")

  -- repeated FROM / LICENSE come back as lists
  local r = tycho.modelfile.parse("FROM a\nFROM b\nLICENSE x\nLICENSE y\n")
  check(type(r.from) == "table" and r.from[2] == "b" and r.license[1] == "x", "repeats are lists")
  check(tostring(tycho.modelfile(r)) == "FROM a\nFROM b\nLICENSE x\nLICENSE y\n", "repeats written")
end

-- ------------------------------------------------ build from a table
do
  local m = tycho.modelfile {
    from = "smollm2",
    parameters = { num_ctx = 8192, temperature = 0, top_p = 0.1, stop = { "a", "b" },
      split = { 3, 1 }, devices = "cpu=1G,cpu=1G", use_mmap = true, num_gpu = 2.0 },
    system = "line one\nline two",
    messages = { { role = "user", content = "say \"hi\"" } },
  }
  check(tostring(m) == [[
FROM smollm2
SYSTEM "line one
line two"
PARAMETER num_ctx 8192
PARAMETER num_gpu 2
PARAMETER use_mmap true
PARAMETER top_p 0.1
PARAMETER temperature 0
PARAMETER stop a
PARAMETER stop b
PARAMETER devices cpu=1G,cpu=1G
PARAMETER split 3,1
MESSAGE user say "hi"
]], "written text:\n" .. tostring(m))

  -- the JSON layers, as Ollama stores them
  local params = tycho.json.decode(m:params_json())
  check(params.num_ctx == 8192 and params.temperature == 0 and params.top_p == 0.1 and
    params.use_mmap == true and params.stop[2] == "b" and params.split == "3,1", "params json")
  check(m:params_json():sub(-1) == "\n" and m:params_json():find('^{"devices":'), "sorted, newline")
  local msgs = tycho.json.decode(m:messages_json())
  check(#msgs == 1 and msgs[1].role == "user" and msgs[1].content == 'say "hi"', "messages json")
  check(tycho.modelfile { from = "x" }:params_json() == nil, "no params: nil")

  -- write(path) and read(path)
  local path = os.tmpname()
  check(m:write(path) == true, "write")
  local back = assert(tycho.modelfile.read(path))
  check(back.parameters.num_ctx == 8192 and back.system == "line one\nline two", "read back")
  os.remove(path)
  local ok, msg, code = tycho.modelfile.read(path)
  check(ok == nil and msg:find(path, 1, true) and code == 1, "read missing: nil, msg, 1")
  ok, msg, code = m:write("/nonexistent-dir/Modelfile")
  check(ok == nil and msg:find("/nonexistent-dir/Modelfile", 1, true) and code == 1, "write fails")
end

-- ------------------------------------------------ errors
checkerr("My.Modelfile:3: unknown parameter 'num_cxt' (did you mean 'num_ctx'?)",
  tycho.modelfile.parse, "FROM a\n\nPARAMETER num_cxt 1\n", "My.Modelfile")
checkerr("Modelfile:2: parameter 'num_ctx' must be an integer, not 'abc'",
  tycho.modelfile.parse, "FROM a\nPARAMETER num_ctx abc\n")
checkerr("Modelfile:2: message role must be system, user or assistant, not 'bot'",
  tycho.modelfile.parse, "FROM a\nMESSAGE bot hi\n")
checkerr("Modelfile: no FROM line", tycho.modelfile.parse, "SYSTEM x\n")
do
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("FROM a\nPARAMETER top_k many\n")
  f:close()
  local ok, msg, code = tycho.modelfile.read(path)
  check(ok == nil and msg == path .. ":2: parameter 'top_k' must be an integer, not 'many'" and code == 2,
    "read: a parse error is nil, msg, 2: " .. tostring(msg))
  os.remove(path)
end

checkerr("tycho.modelfile: field 'from' is missing", tycho.modelfile, { system = "x" })
checkerr("tycho.modelfile: unknown field 'paramters'", tycho.modelfile, { from = "a", paramters = {} })
checkerr("tycho.modelfile: field 'parameters': unknown parameter 'num_cxt' (did you mean 'num_ctx'?)",
  tycho.modelfile, { from = "a", parameters = { num_cxt = 1 } })
checkerr("tycho.modelfile: field 'parameters.num_ctx' must be an integer",
  tycho.modelfile, { from = "a", parameters = { num_ctx = 1.5 } })
checkerr("tycho.modelfile: field 'parameters.num_ctx': parameter 'num_ctx' must be an integer, not 'big'",
  tycho.modelfile, { from = "a", parameters = { num_ctx = "big" } })
checkerr("tycho.modelfile: field 'parameters.use_mmap' must be a boolean, not number",
  tycho.modelfile, { from = "a", parameters = { use_mmap = 1 } })
checkerr("tycho.modelfile: field 'parameters.kv_type': parameter 'kv_type' must be f16, f32 or q8_0",
  tycho.modelfile, { from = "a", parameters = { kv_type = "q2" } })
checkerr("tycho.modelfile: field 'parameters.stop[2]' must be a string, not number",
  tycho.modelfile, { from = "a", parameters = { stop = { "a", 2 } } })
checkerr("tycho.modelfile: field 'messages[1]': message role must be system, user or assistant, not 'bot'",
  tycho.modelfile, { from = "a", messages = { { role = "bot", content = "x" } } })
checkerr("tycho.modelfile: field 'messages[1].content' must be a string, not nil",
  tycho.modelfile, { from = "a", messages = { { role = "user" } } })
checkerr("tycho.modelfile: field 'system': the value of instruction 'system' cannot be written",
  tycho.modelfile, { from = "a", system = "bell\a" })
checkerr("tycho.modelfile: field 'system' holds a NUL byte", tycho.modelfile, { from = "a", system = "a\0b" })
checkerr("tycho.modelfile: field 'requires': REQUIRES must be a version like 0.14.0, not 'soon'",
  tycho.modelfile, { from = "a", requires = "soon" })
checkerr("tycho.modelfile: field 'template' must be a string, not table",
  tycho.modelfile, { from = "a", template = {} })

T.done()
