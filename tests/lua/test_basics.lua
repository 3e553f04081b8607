-- test_basics.lua: the tycho module from Lua, and the command line's answers
-- to bad input. Runs under the tycho program: tycho tests/lua/test_basics.lua

local tycho = require "tycho"
local prog = arg[-1]
local T = dofile((os.getenv("TYCHO_SOURCE_DIR") or ".") .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

check(type(tycho.version) == "string", "tycho.version")
check(({ avx512 = true, avx2 = true, scalar = true })[tycho.simd()], "tycho.simd")

-- expected failures return nil, message, code
local m, msg, code = tycho.load("/nonexistent/model.gguf")
check(m == nil and msg:find("/nonexistent/model.gguf", 1, true) and math.type(code) == "integer",
  "missing file gives nil, msg, code: " .. tostring(msg))

-- misuse raises, naming the option
checkerr("unknown option 'num_gpus'", tycho.load, "x.gguf", { num_gpus = 1 })
checkerr("num_ctx", tycho.load, "x.gguf", { num_ctx = "big" })
checkerr("bad argument #1", tycho.load)

-- bad files: one line naming the file and the problem
local dir = os.tmpname()
os.remove(dir)
local cases = {
  { "magic.gguf", "GGUX" .. string.rep("\0", 60), "magic" },
  { "truncated.gguf", "GGUF\3\0\0\0\1\0\0\0\0\0\0\0", "truncated" },
  { "empty.gguf", "", "truncated" },
}
for _, c in ipairs(cases) do
  local path = dir .. "-" .. c[1]
  write(path, c[2])
  local mm, e = tycho.load(path)
  check(mm == nil and e:find(path, 1, true) and e:find(c[3], 1, true) and not e:find("\n"),
    c[1] .. ": " .. tostring(e))
  if prog then
    local p = io.popen(string.format("%q run %q hello 2>&1; echo \"rc=$?\"", prog, path))
    local out = p:read("a")
    p:close()
    local line, rc = out:match("^(.-)\nrc=(%d+)")
    check(rc and rc ~= "0" and line and not line:find("\n") and line:find(path, 1, true),
      "cli on " .. c[1] .. " exits non-zero with one line: " .. out)
  end
  os.remove(path)
end

-- a real model, when the cache has it
local home = os.getenv("TYCHO_HOME") or (os.getenv("HOME") .. "/.cache/tycho")
local path = home .. "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if io.open(path, "rb") then
  do
    local mm <close> = assert(tycho.load(path, { num_ctx = 128, num_thread = 2 }))
    check(tostring(mm):find("llama", 1, true), "tostring: " .. tostring(mm))
    local info = mm:info()
    check(info.n_layer == 30 and info.n_vocab == 49152 and info.num_ctx == 128, "info")
    check(info.bos_token_id == 1 and info.eos_token_id == 2, "special token ids from the metadata")
    local seen = 0
    local out = assert(mm:greedy({ 504, 6376, 314, 4461, 975 }, { num_predict = 10,
      on_token = function() seen = seen + 1; return seen < 3 end }))
    check(#out == 3 and seen == 3, "on_token returning false stops: " .. #out)
    check(mm:piece(504) ~= nil, "piece")
    check(select(2, mm:eval({ 1 })) == nil, "eval")
    local tooLong = {}
    for i = 1, 200 do tooLong[i] = 1 end
    checkerr("num_ctx", mm.eval, mm, tooLong)
    checkerr("token 1 is not an id", mm.eval, mm, { 49152 })
    -- an error in on_token propagates
    mm:reset()
    checkerr("boom", mm.greedy, mm, { 1 }, { num_predict = 2, on_token = function() error("boom") end })
    mm:close()
    mm:close()                        -- closing twice is fine
    checkerr("closed model", mm.argmax, mm)
    check(tostring(mm):find("closed"), "closed tostring")
  end
else
  print("skipping the real-model part: " .. path .. " not in the cache")
end

T.done()
