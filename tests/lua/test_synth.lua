-- test_synth.lua: tycho.synth and `tycho synth` as a user types it: sparse
-- and random files, the shape list, and errors that list what is known.
-- The 70B figures are worked by hand from llama.cpp's Q4_K_M rules
-- (tests/c/test_synth.c shows the sum). Runs under the tycho program.

local tycho = require "tycho"
local prog = arg[-1]
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

if tycho.synth == nil then
  print("skip: tycho.synth is not registered in this build (ltycho.c)")
  os.exit(77)
end

local sh_quote = T.quote

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. sh_quote(dir)))

-- Runs `tycho synth ARGS`: through the cli when it knows the command, else
-- through a script calling synth.main (the same function the cli calls).
local wired
local function synth_cmd(args)
  local errf = dir .. "/stderr"
  local function run(pre)
    local cmd = sh_quote(prog) .. pre
    for _, a in ipairs(args) do cmd = cmd .. " " .. sh_quote(a) end
    local p = io.popen(cmd .. " </dev/null 2>" .. sh_quote(errf))
    local out = p:read("a")
    local _, _, rc = p:close()
    local f = io.open(errf, "rb")
    local err = f and f:read("a") or ""
    if f then f:close() end
    return out, err, rc
  end
  if wired == nil then
    local _, err = run(" synth --help")
    wired = not err:find("unknown command", 1, true)
    if not wired then
      local f = assert(io.open(dir .. "/main.lua", "wb"))
      f:write("os.exit(dofile(", string.format("%q", src .. "/lua/tycho/synth.lua"),
        ").main({...}))\n")
      f:close()
    end
  end
  return run(wired and " synth" or " " .. sh_quote(dir .. "/main.lua"))
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- ------------------------------------------------ tycho.synth_shapes
local shapes, by = tycho.synth_shapes(), {}
for _, s in ipairs(shapes) do by[s.family .. " " .. s.size] = s end
for _, k in ipairs({ "llama 1B", "llama 3B", "llama 8B", "llama 70B", "gemma3 270M", "gemma3 1B",
                     "gemma3 4B", "gemma3 12B", "gemma3 27B", "smollm2 135M" }) do
  check(by[k] ~= nil, "shape " .. k)
end
local l70 = by["llama 70B"]
check(l70.n_layer == 80 and l70.n_embd == 8192 and l70.n_ff == 28672 and l70.n_head == 64 and
  l70.n_head_kv == 8 and l70.n_vocab == 128256 and l70.n_ctx == 131072, "llama 70B shape")
check(l70.bytes.Q4_K_M == 42512531712, "llama 70B Q4_K_M bytes " .. tostring(l70.bytes.Q4_K_M))
check(l70.params == 70553706560, "llama 70B params " .. tostring(l70.params))
-- the real files' tensor bytes (tests/c/test_synth.c compares the tables)
check(by["gemma3 270M"].bytes.Q4_K_M == 246587904, "gemma3 270M Q4_K_M bytes")
check(by["smollm2 135M"].bytes.Q4_1 == 96576768, "smollm2 135M Q4_1 bytes")

-- ------------------------------------------------ tycho.synth
do
  local path = dir .. "/g.gguf"
  check(tycho.synth("gemma3", "270M", "Q4_K_M", path) == true, "synth gemma3 sparse")
  local n = file_size(path) or 0
  check(n > 246587904 and n < 246587904 + (16 << 20), "gemma3 file size " .. n)
  os.remove(path)

  local ok, msg = tycho.synth("mistral", "7B", "Q4_K_M", path)
  check(ok == nil and msg:find("unknown architecture 'mistral'", 1, true) and
    msg:find("llama, gemma3, smollm2", 1, true), "unknown arch: " .. tostring(msg))
  ok, msg = tycho.synth("gemma3", "2B", "Q4_K_M", path)
  check(ok == nil and msg:find("unknown size '2B'", 1, true) and
    msg:find("270M, 1B, 4B, 12B, 27B", 1, true), "unknown size: " .. tostring(msg))
  ok, msg = tycho.synth("llama", "8B", "Q3_K_S", path)
  check(ok == nil and msg:find("unknown quantization 'Q3_K_S'", 1, true) and
    msg:find("Q4_K_M, Q8_0, F16", 1, true), "unknown quant: " .. tostring(msg))
  ok, msg = tycho.synth("llama", "8B", "Q8_0", dir .. "/no/such/dir/x.gguf")
  check(ok == nil and msg:find("cannot create", 1, true), "bad path: " .. tostring(msg))
  check(file_size(path) == nil, "nothing left behind")
  checkerr("unknown option 'randm'", tycho.synth, "llama", "1B", "Q8_0", path, { randm = true })
  checkerr("must be a boolean", tycho.synth, "llama", "1B", "Q8_0", path, { random = 1 })
  checkerr("bad argument #1", tycho.synth, {}, "1B", "Q8_0", path)
  checkerr("bad argument #4", tycho.synth, "llama", "1B", "Q8_0")
end

-- ------------------------------------------------ random weights load and run
do
  local path = dir .. "/r.gguf"
  check(tycho.synth("smollm2", "135M", "Q8_0", path, { random = true }) == true, "synth random")
  local m <close> = assert(tycho.load(path, { num_ctx = 64, num_thread = 2 }))
  local r = m:generate("hi", { raw = true, num_predict = 2, temperature = 0 })
  check(r.eval_count == 2, "random model generates 2 tokens: " .. tostring(r.eval_count))
  os.remove(path)
end

-- ------------------------------------------------ the command
do
  local out, err, rc = synth_cmd({ "--list" })
  check(rc == 0 and out:find("llama%s+70B") and out:find("42.51 GB", 1, true) and
    out:find("gemma3%s+27B"), "synth --list: " .. out .. err)
  local path = dir .. "/c.gguf"
  out, err, rc = synth_cmd({ "llama", "8B", "q8_0", path })
  check(rc == 0 and out:find("sparse", 1, true) and out:find("Llama 3.1 8B", 1, true),
    "synth llama 8B: " .. out .. err)
  check((file_size(path) or 0) > 8e9, "8B Q8_0 apparent size")
  os.remove(path)
  out, err, rc = synth_cmd({ "llama", "9B", "Q8_0", path })
  check(rc ~= 0 and err:find("unknown size '9B'", 1, true) and
    err:find("known: 1B, 3B, 8B, 70B", 1, true),
    "synth unknown size: " .. err)
  out, err, rc = synth_cmd({ "llama", "8B" })
  check(rc ~= 0 and err:find("expected ARCH SIZE QUANT OUT.gguf", 1, true), "synth usage: " .. err)
  out, err, rc = synth_cmd({ "llama", "8B", "F16", path, "--sparse" })
  check(rc ~= 0 and err:find("unknown option '--sparse'", 1, true), "synth bad option: " .. err)
  check(file_size(path) == nil, "no file after errors")
end

os.remove(dir .. "/stderr")
os.remove(dir .. "/main.lua")
os.execute("rmdir " .. sh_quote(dir))
T.done()
