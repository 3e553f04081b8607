-- test_info.lua: tycho.info and tycho.devices from Lua. Expected facts come
-- from the Python gguf package (tests/fixtures/info/, written by
-- scripts/gen_info_fixtures.py). Runs under the tycho program:
-- tycho tests/lua/test_info.lua

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

local function read_fixture(path)
  local facts, types, meta = {}, {}, {}
  for line in io.lines(path) do
    local k, v = line:match("^(%S+) (.*)$")
    if k == "type" then
      local name, c, b, p = v:match("^(%S+) (%d+) (%d+) (%d+)$")
      types[name] = { count = tonumber(c), bytes = tonumber(b), parameters = tonumber(p) }
    elseif k == "meta" then
      local key, val = v:match("^(%S+) (.*)$")
      meta[key] = val
    else
      facts[k] = v
    end
  end
  return facts, types, meta
end

-- Checks tycho.info(path) against the fixture called name.
local function check_file(path, name, opts)
  local info, msg = tycho.info(path, opts)
  check(info ~= nil, name .. ": " .. tostring(msg))
  if not info then return end
  local facts, types, meta = read_fixture(src .. "/tests/fixtures/info/" .. name .. ".txt")
  check(info.path == path, name .. ": path")
  for _, k in ipairs({ "version", "tensor_count", "parameters", "size", "context_length",
                       "embedding_length", "block_count", "head_count", "head_count_kv",
                       "vocab_size", "file_type" }) do
    local want = facts[k] and math.tointeger(tonumber(facts[k]))
    check(info[k] == want, name .. ": " .. k .. " = " .. tostring(info[k]) .. ", want " .. tostring(want))
    check(want == nil or math.type(info[k]) == "integer", name .. ": " .. k .. " is an integer")
  end
  check(info.architecture == facts.architecture, name .. ": architecture")
  check(info.quantization == facts.quantization, name .. ": quantization " .. tostring(info.quantization))
  local n = 0
  for tname, e in pairs(info.tensors_by_type) do
    n = n + 1
    local w = types[tname]
    check(w and w.count == e.count and w.bytes == e.bytes and w.parameters == e.parameters,
      name .. ": tensors_by_type." .. tname)
  end
  for _ in pairs(types) do n = n - 1 end
  check(n == 0, name .. ": same tensor types as the reference")
  for key, want in pairs(meta) do
    local got = info.metadata[key]
    if math.type(got) == "float" then
      check(math.abs(got - tonumber(want)) <= 1e-6 * math.abs(tonumber(want)), name .. ": " .. key)
    elseif math.type(got) == "integer" then
      check(got == math.tointeger(tonumber(want)), name .. ": " .. key .. " = " .. got)
    else
      check(tostring(got) == want, name .. ": " .. key .. " = " .. tostring(got) .. ", want " .. want)
    end
  end
  -- the vocabulary is summarised, not materialised
  local tok = info.metadata["tokenizer.ggml.tokens"]
  if facts.vocab_size then
    check(type(tok) == "table" and tok.type == "string" and tok.n == tonumber(facts.vocab_size)
      and tok[1] == nil, name .. ": tokens summarised")
  end
  check(type(info.metadata["general.architecture"]) == "string", name .. ": metadata strings")
  return info
end

-- ------------------------------------------------ vocab-only files (always here)
for _, name in ipairs({ "ggml-vocab-deepseek-coder", "ggml-vocab-falcon", "ggml-vocab-gpt-2",
                        "ggml-vocab-llama-spm", "ggml-vocab-starcoder" }) do
  local info = check_file(src .. "/tests/fixtures/tokenizer/" .. name .. ".gguf", name)
  if info then
    check(info.tensors == nil, name .. ": no tensor list unless asked")
    local all = tycho.info(src .. "/tests/fixtures/tokenizer/" .. name .. ".gguf", { tensors = true })
    check(all and type(all.tensors) == "table" and #all.tensors == 0, name .. ": empty tensor list")
  end
end

-- ------------------------------------------------ real models (skip when absent)
local home = os.getenv("TYCHO_HOME") or ((os.getenv("HOME") or ".") .. "/.cache/tycho")
local missing = 0
for _, name in ipairs({ "smollm2", "gemma3" }) do
  local path = home .. "/models/" .. name .. ".gguf"
  local f = io.open(path, "rb")
  if not f then
    print("model " .. name .. " absent")
    missing = missing + 1
  else
    f:close()
    local info = check_file(path, name, { tensors = true })
    if info then
      local bytes, params, seen = 0, 0, {}
      check(#info.tensors == info.tensor_count, name .. ": tensor list length")
      for _, t in ipairs(info.tensors) do
        local ne = 1
        for _, d in ipairs(t.shape) do ne = ne * d end
        bytes, params = bytes + t.bytes, params + ne
        check(type(t.name) == "string" and not seen[t.name] and info.tensors_by_type[t.type] ~= nil
          and math.type(t.offset) == "integer", name .. ": tensor " .. tostring(t.name))
        seen[t.name] = true
      end
      check(bytes == info.size and params == info.parameters, name .. ": tensor list sums")
      check(info.size < info.file_size, name .. ": file_size")
      check(info.name ~= nil and info.name == info.metadata["general.name"], name .. ": name")
      check(info.feed_forward_length == info.metadata[info.architecture .. ".feed_forward_length"],
        name .. ": feed_forward_length")
    end
  end
end
do -- short arrays are lists (gemma3's general.tags), long ones a summary
  local info = tycho.info(home .. "/models/gemma3.gguf")
  if info then
    local tags = info.metadata["general.tags"]
    check(type(tags) == "table" and #tags > 0 and type(tags[1]) == "string", "gemma3: tags list")
    local scores = info.metadata["tokenizer.ggml.scores"]
    check(scores.type == "float32" and scores.n == info.vocab_size, "gemma3: scores summary")
  end
end

-- ------------------------------------------------ errors
do
  local r, msg, code = tycho.info("/nonexistent/model.gguf")
  check(r == nil and type(msg) == "string" and msg:find("/nonexistent/model.gguf", 1, true)
    and math.type(code) == "integer" and code ~= 0, "missing file: nil, msg, code")
  r, msg, code = tycho.info(src .. "/tests/fixtures/info/gemma3.txt")
  check(r == nil and msg:find("magic", 1, true) and not msg:find("\n") and code ~= 0,
    "not gguf: " .. tostring(msg))
  r, msg, code = tycho.info(src .. "/tests/fixtures/info")
  check(r == nil and msg and code ~= 0, "a directory: " .. tostring(msg))
  local p = src .. "/tests/fixtures/tokenizer/ggml-vocab-gpt-2.gguf"
  checkerr("bad argument #1", tycho.info)
  checkerr("bad argument #1", tycho.info, {})
  checkerr("bad argument #1", tycho.info, true)
  checkerr("bad argument #2", tycho.info, p, 5)
  checkerr("unknown option 'bogus'", tycho.info, p, { bogus = true })
  checkerr("bad option 'tensors'", tycho.info, p, { tensors = "yes" })
  check(tycho.info(p, {}) ~= nil and tycho.info(p, nil) ~= nil, "empty options")
end

-- ------------------------------------------------ devices
do
  local devs = tycho.devices()
  check(type(devs) == "table" and #devs >= 1, "devices: a list")
  local cpu = 0
  for i, d in ipairs(devs) do
    check(type(d.name) == "string" and #d.name > 0, "device " .. i .. ": name")
    check(math.type(d.total) == "integer" and d.total > 0, "device " .. i .. ": total")
    check(math.type(d.free) == "integer" and d.free >= 0 and d.free <= d.total, "device " .. i .. ": free")
    check(math.type(d.index) == "integer", "device " .. i .. ": index")
    if d.kind == "cpu" then
      cpu = cpu + 1
      check(d.index == 0 and math.type(d.threads) == "integer" and d.threads >= 1, "cpu: threads")
      check(d.simd == tycho.simd(), "cpu: simd")
    end
  end
  check(cpu == 1 and devs[1].kind == "cpu", "devices: the cpu first")
end

if missing > 0 and T.failures == 0 then
  if os.getenv("TYCHO_REQUIRE_MODELS") == "1" then
    print("models required but absent")
    os.exit(1)
  end
  print("skip: the rest passed")
  os.exit(77)
end
T.done()
