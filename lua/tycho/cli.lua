-- cli.lua: the tycho command line, a Lua script over the public tycho module.
-- Each subcommand is a function taking the argument list; main dispatches.
-- Anything the command line does, a user's script can do the same way.

local tycho = require "tycho"
local options = require "tycho.args"

local cli = {}

local usage = [[
usage: tycho COMMAND [args]

commands:
  run MODEL [PROMPT] [options]      answer PROMPT, or chat when there is none
  tokenize MODEL TEXT [--pieces]    print the token ids of TEXT
  template render FILE              render a chat template for messages (JSON) on stdin
  plan MODEL [options]              the memory plan per device, without loading weights
                                    (tycho plan --help lists its options); a registry
                                    name not in the store is planned from its header
  pull MODEL [--registry URL] [--ca-bundle FILE] [--parts N]
                                    fetch a model from a registry into the store; MODEL
                                    may be an https:// URL of a .gguf file
  list                              the models in the store (and Ollama's, and the cache)
  show MODEL [--modelfile]          architecture, parameters, template, license, digest
                                    (--modelfile: the Modelfile that creates it again)
  create MODEL [-f Modelfile]       a model in the store from a Modelfile (FROM a GGUF
                                    path, a stored model or a cache name)
  rm MODEL...                       remove models; blobs nothing else uses are deleted
  synth ARCH SIZE QUANT OUT.gguf    a GGUF with a real model's tensor table (--list)
  bench MODEL [options]             a sweep printed as llama-bench's table
                                    (tycho bench --help lists its options)
  recipe run FILE                   rerun a saved sweep; new figures beside the recorded
  perplexity MODEL FILE [options]   perplexity of FILE's text as llama.cpp's perplexity
                                    tool computes it; KL divergence against a base
  quantize IN OUT TYPE [options]    IN quantized to TYPE with llama.cpp's tensor type mix
                                    (F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L,
                                    Q4_K_S/M, Q5_K_S/M, Q6_K)
  shell                             interactive Lua with tycho loaded
  version                           print the version
  SCRIPT.lua [args]                 run a Lua script with tycho loaded

MODEL is a path to a .gguf file, the name of a file in the cache
($TYCHO_HOME/models, default ~/.cache/tycho/models): smollm2, gemma3, or a
registry name in the store (Ollama's layout there, then Ollama's own store
in $OLLAMA_MODELS or ~/.ollama/models): llama3.2:1b, user/model:tag,
hf.co/user/repo:Q4_K_M, host/namespace/model:tag. TYCHO_REGISTRY replaces
https://HOST as the registry's address.

run options (Ollama's PARAMETER names; --name value or --name=value):
  --num-ctx N, --ctx N     context length in tokens (default 2048)
  --num-predict N, -n N    tokens to generate (default -1: until the model stops)
  --num-thread N, -t N     threads (default: all cores)
  --num-batch N            prompt tokens per forward chunk (default 512)
  --temperature X          0.8; 0 picks the likeliest token every time
  --top-k N, --top-p X, --min-p X, --typical-p X
                           40, 0.9, 0.0, 1.0
  --repeat-penalty X, --repeat-last-n N, --presence-penalty X, --frequency-penalty X
                           1.1, 64, 0, 0
  --seed N                 same seed and settings, same text (default: random)
  --stop TEXT              stop before TEXT (repeatable; default: the template's)
  --kv-type T              f16 (default), f32 or q8_0
  --num-gpu N|auto         layers on the GPUs (Ollama's num_gpu; default auto: all that fit)
  --devices LIST           where to run: cpu, cuda:0, cuda:0=30G,cuda:0=30G (virtual GPUs), ...
  --system TEXT            a system message
  --raw                    send the prompt as it is, without the chat template
  --format json            print one JSON object per response
  --verbose                print timings and memory after each response

perplexity options:
  --ctx N, -c N            tokens per chunk (default 512); the second half of each is scored
  --chunks N               score only the first N chunks
  --save-logits FILE       write the log-probs as a KL base (llama.cpp's --kl-divergence-base format)
  --kl-base FILE           KL divergence against a base (its chunks and window are used)
  --num-batch N, --num-thread N, --kv-type T   as for run

quantize options:
  --num-thread N, -t N     threads (default: all cores)
  --dry-run                print each tensor's type choice and write nothing

tokenize options:
  --pieces                 print each id with its text
  --special                recognise special-token text such as <|im_start|>
  --no-add-special         do not add BOS/EOS]]


local function die(fmt, ...)
  io.stderr:write("tycho: ", string.format(fmt, ...), "\n")
  os.exit(1)
end


-- Finds a model: a path, or a name in the cache ($TYCHO_HOME/models).
function cli.resolve(name)
  return tycho.find(name)
end


-- The layers of a model in the store (tycho.show: template, system, params,
-- messages) when name resolved to its model blob; nil for a file.
function cli.layers(name, path)
  local s = tycho.show(name)
  if s and s.path == path then return s end
  return nil
end


-- Options: flag -> setting name and kind. Every PARAMETER name also works
-- as --name_with_underscores.
local flags = {
  ["num-ctx"] = { "num_ctx", "int" }, ["ctx"] = { "num_ctx", "int" },
  ["num-predict"] = { "num_predict", "int" }, ["n"] = { "num_predict", "int" },
  ["num-batch"] = { "num_batch", "int" },
  ["num-thread"] = { "num_thread", "int" }, ["t"] = { "num_thread", "int" },
  ["threads"] = { "num_thread", "int" },
  ["temperature"] = { "temperature", "num" }, ["top-k"] = { "top_k", "int" },
  ["top-p"] = { "top_p", "num" }, ["min-p"] = { "min_p", "num" },
  ["typical-p"] = { "typical_p", "num" }, ["repeat-penalty"] = { "repeat_penalty", "num" },
  ["repeat-last-n"] = { "repeat_last_n", "int" },
  ["presence-penalty"] = { "presence_penalty", "num" },
  ["frequency-penalty"] = { "frequency_penalty", "num" },
  ["seed"] = { "seed", "int" }, ["stop"] = { "stop", "list" },
  ["kv-type"] = { "kv_type", "str" }, ["system"] = { "system", "str" },
  ["num-gpu"] = { "num_gpu", "str" }, ["devices"] = { "devices", "str" },
  ["format"] = { "format", "str" },
  ["raw"] = { "raw", "bool" }, ["verbose"] = { "verbose", "bool" }, ["v"] = { "verbose", "bool" },
  ["pieces"] = { "pieces", "bool" }, ["special"] = { "special", "bool" },
  ["no-add-special"] = { "no_add_special", "bool" },
}


-- Parses options into a table of setting names; returns settings and the
-- positional arguments, or exits with the problem.
function cli.parse(list)
  local opts, rest = options.parse(list, flags)
  if not opts then die("%s (see tycho help)", rest) end
  return opts, rest
end


-- ---------------------------------------------------------------- run

local sampling = { "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty",
  "repeat_last_n", "presence_penalty", "frequency_penalty", "seed", "num_predict", "stop" }


-- Go's way of printing a duration, as ollama run --verbose does.
local function duration(s)
  if s >= 1 then return string.format("%.6gs", s) end
  if s >= 1e-3 then return string.format("%.6gms", s * 1e3) end
  return string.format("%.6gµs", s * 1e6)
end


local function mib(b) return string.format("%.1f MiB", b / 1048576) end


local function verbose_report(r, load_s, m, planned)
  local mem = m:info().memory
  local w = function(k, v) io.stderr:write(string.format("%-22s%s\n", k .. ":", v)) end
  w("total duration", duration(r.total_duration + (load_s or 0)))
  if load_s then w("load duration", duration(load_s)) end
  w("prompt eval count", string.format("%d token(s)", r.prompt_eval_count))
  w("prompt eval duration", duration(r.prompt_eval_duration))
  w("prompt eval rate", string.format("%.2f tokens/s", r.prompt_eval_rate))
  w("eval count", string.format("%d token(s)", r.eval_count))
  w("eval duration", duration(r.eval_duration))
  w("eval rate", string.format("%.2f tokens/s", r.eval_rate))
  w("memory", string.format("%s (weights %s, kv cache %s, compute %s)", mib(mem.total),
    mib(mem.weights), mib(mem.kv), mib(mem.compute + mem.host)))
  if planned then
    -- the plan made from the header before loading, against what loading allocated
    local used = planned.totals.used - planned.totals.overhead
    w("memory planned", string.format("%s, %s", mib(used), used == mem.total and "as allocated, to the byte"
      or string.format("allocated %+d bytes more", mem.total - used)))
    local devices = m:info().devices
    for i, d in ipairs(#devices > 1 and devices or {}) do
      local p = planned.devices[i]
      local line = string.format("planned %s, allocated %s", mib(p.used - p.overhead), mib(d.total))
      if d.measured then
        -- what the GPU's driver saw go: tycho's arenas plus context and libraries
        line = line .. string.format("; the GPU lost %s, %s of it outside tycho's arenas (reserve %s)",
          mib(d.measured), mib(d.overhead), mib(p.reserve))
      end
      w("  " .. d.device, line)
    end
  end
end


-- The JSON object --format json prints: Ollama's response fields (durations
-- in nanoseconds, as its API gives them), the rates and the memory.
local function json_report(r, load_s, m, name)
  local ns = function(s) return math.floor(s * 1e9 + 0.5) end
  return tycho.json.encode {
    model = name, response = r.text, done = true, done_reason = r.done_reason,
    total_duration = ns(r.total_duration + (load_s or 0)), load_duration = ns(load_s or 0),
    prompt_eval_count = r.prompt_eval_count, prompt_eval_duration = ns(r.prompt_eval_duration),
    prompt_eval_rate = r.prompt_eval_rate,
    eval_count = r.eval_count, eval_duration = ns(r.eval_duration), eval_rate = r.eval_rate,
    memory = m:info().memory,
  }
end


-- One response: streams text unless JSON is asked for. Returns the result,
-- or nil and a message; an interrupt comes back as done_reason "cancelled".
local function respond(m, input, opts, load_s, name)
  local gen = { raw = opts.raw or nil, system = opts.system or nil }
  for _, k in ipairs(sampling) do gen[k] = opts[k] end
  local json = opts.format == "json"
  local wrote_nl = true
  if not json then
    gen.on_token = function(text)
      io.write(text)
      io.flush()
      wrote_nl = text:sub(-1) == "\n"
    end
  end
  local ok, r, msg = pcall(m.generate, m, input, gen)
  if not ok then
    if tostring(r):find("interrupted", 1, true) then
      r, msg = { done_reason = "cancelled" }, nil
    else
      r, msg = nil, tostring(r)         -- a bad setting: one line, no traceback
    end
  end
  if not json and not wrote_nl then io.write("\n") end
  io.stdout:flush()
  if not r then return nil, msg end
  if r.done_reason ~= "cancelled" or r.text then
    if json and r.text then print(json_report(r, load_s, m, name)) end
    if opts.verbose and r.text and not json then verbose_report(r, load_s, m, opts.planned) end
  end
  return r
end


local chat_help = [[
commands:
  /bye            leave (or Ctrl-D; Ctrl-C at the prompt)
  /clear          forget the conversation
  /set system T   use T as the system message
  /?              this help
Ctrl-C while the model writes stops it and returns here.]]


-- The chat loop: history kept across turns, readline on a terminal.
local function chat(m, opts, load_s, name)
  local tty = tycho.isatty("stdin")
  local function start()
    local h = {}
    if opts.system then h[1] = { role = "system", content = opts.system } end
    for _, msg in ipairs(opts.messages or {}) do h[#h + 1] = msg end
    return h
  end
  local history = start()
  local gen = setmetatable({ system = false }, { __index = opts })
  while true do
    local line, why
    if tty then
      line, why = tycho.readline(">>> ")
      if line == false then io.write("\n"); return 0 end     -- Ctrl-C at the prompt
    else
      line = io.read("L")
      if line then line = line:gsub("\n$", "") end
    end
    if line == nil then
      if tty then io.write("\n") end
      return 0
    end
    if line:match("^%s*$") then
      -- nothing to send
    elseif line == "/bye" then
      return 0
    elseif line == "/?" or line == "/help" then
      print(chat_help)
    elseif line == "/clear" then
      history = start()
      print("Cleared session context")
    elseif line:match("^/set system ") then
      local text = line:match("^/set system (.*)$")
      if history[1] and history[1].role == "system" then history[1].content = text
      else table.insert(history, 1, { role = "system", content = text }) end
      print("Set system message.")
    elseif line:match("^/") then
      print(string.format("Unknown command '%s'. Type /? for help", line:match("^(%S+)")))
    else
      if tty then tycho.add_history(line) end
      history[#history + 1] = { role = "user", content = line }
      local r, msg = respond(m, history, gen, load_s, name)
      load_s = nil
      if not r then
        io.stderr:write("tycho: ", msg, "\n")
        history[#history] = nil
      elseif r.done_reason == "cancelled" then
        history[#history] = nil                 -- an interrupted turn is forgotten
      else
        history[#history + 1] = { role = "assistant", content = r.text }
      end
    end
  end
end


-- Where the layers go: with GPUs (or --devices / --num-gpu) the plan places
-- them, and a configuration that does not fit is refused before loading,
-- with the plan's table; on a CPU-only machine the model loads as it is.
local function placement(path, opts)
  local gpus = false
  for _, d in ipairs(tycho.devices()) do gpus = gpus or d.kind == "cuda" end
  if not (gpus or opts.devices or opts.num_gpu) then return nil end
  local num_gpu = opts.num_gpu
  if num_gpu and num_gpu ~= "auto" then
    num_gpu = math.tointeger(tonumber(num_gpu)) or die("run: --num-gpu takes a count or auto")
  end
  local ok, plan = pcall(tycho.plan, path, { num_ctx = opts.num_ctx, num_batch = opts.num_batch,
    kv_type = opts.kv_type, num_gpu = num_gpu, devices = opts.devices })
  if not ok then die("%s", plan) end
  if not plan.fits then die("%s does not fit these devices:\n%s", path, tostring(plan)) end
  return plan
end


function cli.run(args)
  local opts, rest = cli.parse(args)
  local name = rest[1] or die("run: which model? (tycho run MODEL [PROMPT])")
  local prompt = rest[2] and table.concat(rest, " ", 2) or nil
  if opts.format and opts.format ~= "json" then die("run: --format takes json, not '%s'", opts.format) end
  if opts.raw and not prompt then die("run: --raw needs a prompt") end
  local path, err = cli.resolve(name)
  if not path and (name:find("^https?://") or not name:find("%.gguf$") and not name:find("^[./~]")) then
    -- a registry name or a URL not in the store is pulled first, as ollama run does
    local ok, perr = tycho.pull(name, { progress = require("tycho.store").progress_bar() })
    if not ok then die("%s; pulling it: %s", err, perr) end
    path, err = cli.resolve(name)
  end
  if not path then die("%s", err) end
  local layers = cli.layers(name, path)
  if layers then
    for k, v in pairs(layers.params or {}) do
      if opts[k] == nil then opts[k] = v end            -- the command line wins
    end
    if not opts.raw then                                -- a raw prompt skips the chat parts
      if opts.system == nil then opts.system = layers.system end
      opts.messages = layers.messages
    end
  end
  local t0 = tycho.now()
  local plan = placement(path, opts)
  local m <close>, msg = tycho.load(path, { num_ctx = opts.num_ctx, num_batch = opts.num_batch,
    num_thread = opts.num_thread, kv_type = opts.kv_type, plan = plan })
  if not m then die("%s", msg) end
  if layers and layers.template and not opts.raw then
    local ok, terr = pcall(m.set_template, m, layers.template)
    if not ok then die("%s: the template layer: %s", name, terr) end
  end
  local load_s = tycho.now() - t0
  if opts.verbose then
    opts.planned = plan or tycho.plan(path, { num_ctx = m:info().num_ctx,
      num_batch = opts.num_batch, kv_type = opts.kv_type, devices = "cpu" })
  end
  if m:warning() and not opts.raw then io.stderr:write("tycho: warning: ", m:warning(), "\n") end
  if not prompt then return chat(m, opts, load_s, name) end
  local input = prompt
  if opts.messages and #opts.messages > 0 then
    input = table.move(opts.messages, 1, #opts.messages, 1, {})
    input[#input + 1] = { role = "user", content = prompt }
  end
  local r, gerr = respond(m, input, opts, load_s, name)
  if not r then die("%s", gerr) end
  return r.done_reason == "cancelled" and 130 or 0
end


-- ---------------------------------------------------------------- tokenize

function cli.tokenize(args)
  local opts, rest = cli.parse(args)
  local name = rest[1] or die("tokenize: which model or vocabulary file? (tycho tokenize MODEL TEXT)")
  local text = rest[2] and table.concat(rest, " ", 2) or die("tokenize: which text?")
  local path, err = cli.resolve(name)
  if not path then die("%s", err) end
  local tok <close>, msg = tycho.tokenizer(path)
  if not tok then die("%s", msg) end
  local ids, terr = tok:tokenize(text, { add_special = not opts.no_add_special,
    parse_special = opts.special or false })
  if not ids then die("%s", terr) end
  if opts.pieces then
    for _, id in ipairs(ids) do
      print(string.format("%6d -> '%s'", id, tok:detokenize({ id }, { special = true })))
    end
  else
    print(table.concat(ids, " "))
  end
  return 0
end


-- ---------------------------------------------------------------- template

function cli.template(args)
  local opts, rest = cli.parse(args)
  if rest[1] ~= "render" or not rest[2] then
    die("template: usage: tycho template render FILE < messages.json")
  end
  local f, ferr = io.open(rest[2], "rb")
  if not f then die("%s", ferr) end
  local src = f:read("a")
  f:close()
  local t <close>, msg = tycho.template(src)
  if not t then die("%s: %s", rest[2], msg) end
  local input = io.read("a")
  local msgs, jerr = tycho.json.decode(input)
  if not msgs then die("template: standard input: %s", jerr) end
  if type(msgs) ~= "table" then
    die("template: standard input must be a JSON list of {\"role\": ..., \"content\": ...}")
  end
  local out, rerr = t:render(msgs)
  if not out then die("%s: %s", rest[2], rerr) end
  io.write(out)
  return 0
end


-- ---------------------------------------------------------------- plan, synth, shell

function cli.plan(args)
  return require("tycho.plan").main(args)
end


function cli.synth(args)
  return require("tycho.synth").main(args)
end


function cli.bench(args)
  return require("tycho.bench").main(args)
end


function cli.recipe(args)
  return require("tycho.recipe").cli(args)
end


-- ---------------------------------------------------------------- perplexity, quantize

local quality_flags = {
  ["ctx"] = { "num_ctx", "count" }, ["c"] = { "num_ctx", "count" },
  ["num-ctx"] = { "num_ctx", "count" }, ["chunks"] = { "max_chunks", "count" },
  ["save-logits"] = { "save_logits", "str" }, ["kl-base"] = { "kl_base", "str" },
  ["num-batch"] = { "num_batch", "count" }, ["num-thread"] = { "num_thread", "count" },
  ["t"] = { "num_thread", "count" }, ["kv-type"] = { "kv_type", "str" },
  ["dry-run"] = { "dry_run", "bool" },
}


function cli.perplexity(args)
  local opts, rest = options.parse(args, quality_flags)
  if not opts then die("perplexity: %s", rest) end
  if not rest[1] or not rest[2] or opts.dry_run then
    die("perplexity: usage: tycho perplexity MODEL FILE [--ctx N] [--chunks N] "
        .. "[--save-logits F] [--kl-base F]")
  end
  local f, ferr = io.open(rest[2], "rb")
  if not f then die("%s", ferr) end
  local text = f:read("a")
  f:close()
  io.stderr:write("perplexity: calculating over ", rest[2], "\n")
  opts.progress = function(i, n, ppl)
    io.stdout:write(string.format("[%d]%.4f,", i, ppl))
    if i == n then io.stdout:write("\n") end
    io.stdout:flush()
  end
  local r, err = tycho.perplexity(rest[1], text, opts)
  if not r then die("%s", err) end
  print(string.format("Final estimate: PPL = %.4f +/- %.5f", r.ppl, r.ppl_err))
  print(string.format("(%d chunks of %d tokens, %d tokens scored, %.2f s)", r.n_chunks, r.n_ctx,
                      r.n_tokens, r.seconds))
  if r.kl then
    print(string.format("Mean PPL(base)   : %10.6f", r.kl.ppl_base))
    print(string.format("Mean    KLD      : %10.6f", r.kl.mean))
    print(string.format("Maximum KLD      : %10.6f", r.kl.max))
    print(string.format("99.0%%   KLD      : %10.6f", r.kl.p99))
    print(string.format("Median  KLD      : %10.6f", r.kl.median))
    print(string.format("Same top p       : %6.3f %%", 100 * r.kl.same_top))
  end
  return 0
end


function cli.quantize(args)
  local opts, rest = options.parse(args, quality_flags)
  if not opts then die("quantize: %s", rest) end
  local src, out, qtype = rest[1], rest[2], rest[3]
  if opts.dry_run and not qtype then src, out, qtype = rest[1], nil, rest[2] end
  if not src or not qtype then die("quantize: usage: tycho quantize IN.gguf OUT.gguf TYPE") end
  for k in pairs(opts) do
    if k ~= "num_thread" and k ~= "dry_run" then die("quantize: --%s is perplexity's option", k) end
  end
  opts.progress = function(i, n, name, from, to)
    print(string.format("[%4d/%4d] %-36s %6s -> %s", i, n, name, from, to))
  end
  local t0 = tycho.now()
  local ok, err = tycho.quantize(src, out, qtype, opts)
  if not ok then die("%s", err) end
  if out then
    local f = io.open(out, "rb")
    local size = f and f:seek("end") or 0
    if f then f:close() end
    print(string.format("wrote %s: %.2f MiB in %.1f s", out, size / 1048576, tycho.now() - t0))
  end
  return 0
end


for _, cmd in ipairs { "pull", "list", "show", "rm", "create" } do
  cli[cmd] = function(args) return require("tycho.store")[cmd](args) end
end


function cli.shell(args)
  return require("tycho.shell").run(args)
end


-- ---------------------------------------------------------------- the rest

function cli.version()
  print("tycho " .. tycho.version)
  return 0
end


function cli.help()
  print(usage)
  return 0
end


local commands = { run = true, tokenize = true, template = true, plan = true, synth = true,
  bench = true, recipe = true, create = true, perplexity = true, quantize = true,
  pull = true, list = true, show = true, rm = true, shell = true, version = true, help = true }

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
  if cmd == "-h" or cmd == "--help" then cmd = "help" end
  if not commands[cmd] then die("unknown command '%s' (see tycho help)", cmd) end
  return cli[cmd](rest)
end

return cli
