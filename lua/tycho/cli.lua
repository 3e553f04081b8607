-- cli.lua: the tycho command line, a Lua script over the public tycho module.
-- Each subcommand is a function taking the argument list; main dispatches.
-- Anything the command line does, a user's script can do the same way.

local tycho = require "tycho"

local cli = {}

local usage = [[
usage: tycho COMMAND [args]

commands:
  run MODEL [--ids 1,2,3] [options]   generate greedily from prompt token ids
  version                             print the version
  SCRIPT.lua [args]                   run a Lua script with tycho loaded

MODEL is a path to a .gguf file or the name of a model in the cache
($TYCHO_HOME/models, default ~/.cache/tycho/models): smollm2, gemma3.

options:
  --num-predict N, -n N   tokens to generate (default 64)
  --num-ctx N, --ctx N    context length (default 2048)
  --num-batch N           prompt tokens per forward chunk (default 512)
  --num-thread N, -t N    threads (default: all cores)
  --kv-type T             f16 (default), f32 or q8_0
  --verbose               print speed after the answer]]


local function die(fmt, ...)
  io.stderr:write("tycho: ", string.format(fmt, ...), "\n")
  os.exit(1)
end


-- Finds a model: an existing file, or NAME[.gguf] in the model cache.
function cli.resolve(name)
  local f = io.open(name, "rb")
  if f then f:close(); return name end
  local home = os.getenv("TYCHO_HOME")
  if not home or home == "" then home = (os.getenv("HOME") or ".") .. "/.cache/tycho" end
  for _, p in ipairs { home .. "/models/" .. name .. ".gguf", home .. "/models/" .. name } do
    f = io.open(p, "rb")
    if f then f:close(); return p end
  end
  return nil, string.format("%s: no such file, and no model of that name in %s/models "
    .. "(scripts/setup.sh fetches smollm2 and gemma3)", name, home)
end


-- Parses --name value options into a table of setting names; returns
-- settings and the remaining positional arguments.
local flags = {
  ["--num-predict"] = "num_predict", ["-n"] = "num_predict",
  ["--num-ctx"] = "num_ctx", ["--ctx"] = "num_ctx",
  ["--num-batch"] = "num_batch",
  ["--num-thread"] = "num_thread", ["-t"] = "num_thread", ["--threads"] = "num_thread",
  ["--kv-type"] = "kv_type", ["--ids"] = "ids",
}

function cli.parse(args)
  local opts, rest, i = {}, {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--verbose" or a == "-v" then
      opts.verbose = true
    elseif flags[a] then
      local v = args[i + 1] or die("option %s needs a value", a)
      local key = flags[a]
      if key == "kv_type" or key == "ids" then
        opts[key] = v
      else
        opts[key] = math.tointeger(tonumber(v)) or die("option %s needs an integer, got '%s'", a, v)
      end
      i = i + 1
    elseif a:sub(1, 1) == "-" and #a > 1 then
      die("unknown option '%s' (see tycho help)", a)
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, rest
end


-- A readable form of a vocabulary piece: GPT-2 style files mark a space as
-- U+0120 and a newline as U+010A, SentencePiece files a space as U+2581 and
-- bytes as <0xNN>. This is a display aid until the tokenizer lands.
local function show_piece(p)
  p = p:gsub("\u{0120}", " "):gsub("\u{010A}", "\n"):gsub("\u{2581}", " ")
  p = p:gsub("^<0x(%x%x)>$", function(h) return string.char(tonumber(h, 16)) end)
  return p
end


function cli.run(args)
  local opts, rest = cli.parse(args)
  local name = rest[1] or die("run: which model? (tycho run MODEL --ids 1,2,3)")
  if rest[2] then
    die("run: text prompts need the tokenizer, which is not built yet; pass token ids with --ids")
  end
  local ids = {}
  for id in (opts.ids or ""):gmatch("[^,%s]+") do
    ids[#ids + 1] = math.tointeger(tonumber(id)) or die("run: '%s' is not a token id", id)
  end
  local path, err = cli.resolve(name)
  if not path then die("%s", err) end
  local m <close>, msg = tycho.load(path, { num_ctx = opts.num_ctx, num_batch = opts.num_batch,
    num_thread = opts.num_thread, kv_type = opts.kv_type })
  if not m then die("%s", msg) end
  if #ids == 0 then
    -- no prompt: start from the model's beginning-of-sequence token
    local bos = m:info().bos_token_id or die("run: this model names no BOS token; pass --ids")
    ids = { bos }
  end
  local t0, t1 = tycho.now(), nil
  local n = 0
  local out, gerr = m:greedy(ids, { num_predict = opts.num_predict or 64, on_token = function(id)
    t1 = t1 or tycho.now()            -- the first token ends prompt processing
    io.write(show_piece(m:piece(id) or ""))
    io.flush()
    n = n + 1
  end })
  io.write("\n")
  io.stdout:flush()
  if not out then die("%s", gerr) end
  if opts.verbose then
    local t2 = tycho.now()
    io.stderr:write(string.format("ids: %s\nprompt: %d tokens in %.3f s; generated: %d tokens, "
      .. "%.1f tokens/s; %d threads, %s kernels\n", table.concat(out, ","), #ids, t1 - t0, n,
      n > 1 and (n - 1) / (t2 - t1) or 0, m:info().num_thread, tycho.simd()))
  end
  return 0
end


function cli.version()
  print("tycho " .. tycho.version)
  return 0
end


function cli.help()
  print(usage)
  return 0
end


function cli.main(args)
  local cmd = args[1]
  if cmd == nil then print(usage); return 1 end
  local rest = table.move(args, 2, #args, 1, {})
  if cmd:match("%.lua$") then
    local chunk, err = loadfile(cmd)
    if not chunk then die("%s", err) end
    local prog = arg and arg[0]
    arg = rest
    arg[0], arg[-1] = cmd, prog
    return chunk(table.unpack(rest)) or 0
  end
  local f = cli[cmd]
  if type(f) ~= "function" or cmd == "main" or cmd == "resolve" or cmd == "parse" then
    die("unknown command '%s' (see tycho help)", cmd)
  end
  return f(rest)
end

return cli
