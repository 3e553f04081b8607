-- sweep.lua: runs a model under every combination of settings (a grid) or
-- an explicit list of them, each in a fresh load, and measures it: the plan's
-- bytes per device, the bytes allocated, load time, time to first token,
-- prompt and generation tokens/s over repeats, and perplexity when asked.
-- Each run is appended to `out` (JSON lines) as it ends, so an interrupted
-- sweep keeps what it measured and the next one resumes.

local tycho = require "tycho"
local results = require "tycho.results"

local sweep = {}

-- The settings a configuration may have, in the order tables print them.
sweep.dims = { "quant", "devices", "gpus", "num_gpu", "split", "num_ctx", "kv_type", "num_batch",
  "num_thread" }
local is_dim = {}
for _, d in ipairs(sweep.dims) do is_dim[d] = true end

-- which settings go to tycho.plan and which to tycho.load
local plan_keys = { "num_ctx", "num_batch", "kv_type", "num_gpu", "devices", "gpus", "split" }
local load_keys = { "num_ctx", "num_batch", "num_thread", "kv_type" }

local spec_keys = { model = true, grid = true, runs = true, settings = true, prompt = true,
  num_predict = true, repeats = true, warmup = true, quality = true, out = true, resume = true,
  progress = true, recipe = true }

-- Text the token prompts are cut from when `prompt` is a number of tokens.
local filler = "The lighthouse keeper climbed the spiral stairs at dusk, counting each step as "
  .. "his father had, and lit the lamp that ships had trusted for a hundred years. "


-- A setting's value as text: lists joined by commas ("cpu=1G,cpu=200M").
local function text(v)
  if type(v) == "table" then
    local t = {}
    for i, x in ipairs(v) do t[i] = tostring(x) end
    return table.concat(t, ",")
  end
  return tostring(v)
end


-- The identity of a configuration of a model: what resume and recipes match on.
function sweep.key(model, config)
  local parts = { tostring(model) }
  for _, d in ipairs(sweep.dims) do
    if config[d] ~= nil then parts[#parts + 1] = d .. "=" .. text(config[d]) end
  end
  return table.concat(parts, " ")
end


-- The configurations of a spec, in order: the grid's product (the first
-- dimension in sweep.dims order varies slowest) or the explicit runs, each
-- over spec.settings.
function sweep.configs(spec)
  local base, list = spec.settings or {}, {}
  for k in pairs(base) do
    if not is_dim[k] then error("sweep: unknown setting '" .. tostring(k) .. "'", 3) end
  end
  local function with_base(c)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(c) do t[k] = v end
    return t
  end
  if spec.runs then
    for i, c in ipairs(spec.runs) do
      for k in pairs(c) do
        if not is_dim[k] then error(string.format("sweep: runs[%d]: unknown setting '%s'", i, k), 3) end
      end
      list[#list + 1] = with_base(c)
    end
    return list
  end
  local grid = spec.grid or {}
  for k, v in pairs(grid) do
    if not is_dim[k] then error("sweep: grid: unknown setting '" .. tostring(k) .. "'", 3) end
    if type(v) ~= "table" or #v == 0 then error("sweep: grid." .. k .. " must be a non-empty list", 3) end
  end
  local out = { {} }
  for _, d in ipairs(sweep.dims) do
    if grid[d] then
      local next = {}
      for _, c in ipairs(out) do
        for _, v in ipairs(grid[d]) do
          local t = {}
          for k, x in pairs(c) do t[k] = x end
          t[d] = v
          next[#next + 1] = t
        end
      end
      out = next
    end
  end
  for _, c in ipairs(out) do list[#list + 1] = with_base(c) end
  return list
end


-- median, min, max, mean and sample standard deviation of a list
local function stats(xs)
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local n, sum = #s, 0
  for _, x in ipairs(s) do sum = sum + x end
  local mean, var = sum / n, 0
  for _, x in ipairs(s) do var = var + (x - mean) ^ 2 end
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return { median = med, min = s[1], max = s[n], mean = mean, sd = n > 1 and math.sqrt(var / (n - 1)) or 0 }
end


local function put_stats(row, name, xs)
  if #xs == 0 then return end
  local s = stats(xs)
  row[name], row[name .. "_min"], row[name .. "_max"] = s.median, s.min, s.max
  row[name .. "_mean"], row[name .. "_sd"] = s.mean, s.sd
end


-- Why a plan refuses: its "does not fit" and "would fit" lines, joined.
local function refusal(p)
  local why = {}
  for line in tostring(p):gmatch("[^\n]+") do
    if line:find("^does not fit") or line:find("^would fit") then why[#why + 1] = line end
  end
  return #why > 0 and table.concat(why, "; ") or "does not fit"
end


-- The model file of a configuration: the source, or its `quant` variant
-- (the source itself when it already has that quantization).
local function model_file(path, quant)
  if quant == nil then return path end
  local info = tycho.info(path)
  if info and info.quantization and info.quantization:upper() == tostring(quant):upper() then return path end
  return tycho.quantized(path, quant)
end


-- The prompt's token ids: the text's, or n tokens cut from the filler.
local function prompt_ids(m, prompt)
  if type(prompt) == "string" then return m:tokenize(prompt) end
  local ids, base = {}, m:tokenize(filler, { add_special = false })
  local bos = m:tokenize("")
  for i, id in ipairs(bos) do ids[i] = id end
  while #ids < math.max(prompt, 1) do table.move(base, 1, #base, #ids + 1, ids) end
  for i = #ids, math.max(prompt, 1) + 1, -1 do ids[i] = nil end
  return ids
end


-- One timed pass: the prompt evaluated (time to first token: the prompt's
-- forward pass and the first argmax), then n tokens decoded greedily.
local function pass(m, ids, n)
  m:reset()
  local t0 = tycho.now()
  assert(m:eval(ids))
  local first = m:argmax()
  local t1 = tycho.now()
  if n > 0 then assert(m:greedy({ first }, { num_predict = n })) end
  local t2 = tycho.now()
  return t1 - t0, n > 0 and n / (t2 - t1) or nil
end


-- Measures one configuration into row; raises on an error while loaded
-- (the model is closed first).
local function measure(spec, config, row, source)
  local path, msg = model_file(source, config.quant)
  if not path then row.error = msg; return end
  row.path = path
  local popts, lopts = {}, {}
  for _, k in ipairs(plan_keys) do popts[k] = config[k] end
  for _, k in ipairs(load_keys) do lopts[k] = config[k] end
  local p
  p, msg = tycho.plan(path, popts)
  if not p then row.error = msg; return end
  row.fits, row.planned = p.fits, p.totals.used
  if config.num_gpu ~= nil then row.num_gpu_planned = p.num_gpu end
  row.plan = {}
  for i, d in ipairs(p.devices) do
    row.plan[i] = { name = d.name, used = d.used, weights = d.weights, kv = d.kv, compute = d.compute,
      output = d.output, overhead = d.overhead, total = d.total, free = d.free, n_layers = d.n_layers }
  end
  if not p.fits then row.reason = refusal(p); return end

  lopts.plan = p
  local t0 = tycho.now()
  local m <close>, err = tycho.load(path, lopts)
  row.load_time = tycho.now() - t0
  if not m then row.error = err; return end
  local info = m:info()
  row.memory = info.memory.total
  row.allocated = {}
  for i, d in ipairs(info.devices) do
    row.allocated[i] = { device = d.device, total = d.total, weights = d.weights, kv = d.kv,
      compute = d.compute, measured = d.measured, overhead = d.overhead }
  end

  local ids, n = prompt_ids(m, spec.prompt), spec.num_predict
  if #ids + n + 1 > info.num_ctx then
    row.error = string.format("a prompt of %d tokens and %d to generate do not fit num_ctx %d", #ids, n, info.num_ctx)
    return
  end
  row.prompt_tokens, row.eval_count = type(spec.prompt) == "number" and spec.prompt or #ids, n
  for _ = 1, spec.warmup do pass(m, ids, n) end
  local ttft, pp, tg = {}, {}, {}
  for i = 1, spec.repeats do
    local t, rate = pass(m, ids, n)
    ttft[i], tg[#tg + 1] = t, rate
    if row.prompt_tokens > 0 then pp[i] = #ids / t end
  end
  put_stats(row, "ttft", ttft)
  put_stats(row, "prompt_eval_rate", pp)
  put_stats(row, "eval_rate", tg)
  row.samples = { ttft = ttft, prompt_eval_rate = pp, eval_rate = tg }

  if spec.quality then
    local q = spec.quality
    local f, ferr = io.open(q.text, "rb")
    if not f then row.error = ferr; return end
    local text = f:read("a")
    f:close()
    local r, qerr = tycho.perplexity(m, text, { num_ctx = q.num_ctx, max_chunks = q.max_chunks,
      kl_base = q.kl_base })
    if not r then row.error = qerr; return end
    row.ppl, row.ppl_err, row.ppl_tokens = r.ppl, r.ppl_err, r.n_tokens
    if r.kl then row.kl_mean, row.kl_p99, row.kl_max, row.same_top = r.kl.mean, r.kl.p99, r.kl.max, r.kl.same_top end
  end
end


-- The rows already in out (JSON lines), or {} when there is no file.
local function recorded(path)
  local rows, f = {}, io.open(path, "r")
  if not f then return rows end
  for line in f:lines() do
    local ok, row = pcall(tycho.json.decode, line)
    -- a line cut short by a crash is not a run; it is measured again
    if ok and type(row) == "table" and row.key then rows[row.key] = row end
  end
  f:close()
  return rows
end


local function clock(s)
  if not s then return "?" end
  s = math.floor(s + 0.5)
  return s >= 3600 and string.format("%d:%02d:%02d", s // 3600, s // 60 % 60, s % 60)
    or string.format("%d:%02d", s // 60, s % 60)
end


local function describe(config)
  local t = {}
  for _, d in ipairs(sweep.dims) do
    if config[d] ~= nil then t[#t + 1] = d .. "=" .. text(config[d]) end
  end
  return #t > 0 and table.concat(t, " ") or "(defaults)"
end


-- Checks a spec and fills in its defaults; raises on misuse.
local function checked(spec)
  if type(spec) ~= "table" then error("sweep.run: expected a table", 3) end
  for k in pairs(spec) do
    if not spec_keys[k] then error("sweep.run: unknown option '" .. tostring(k) .. "'", 3) end
  end
  if type(spec.model) ~= "string" then error("sweep.run: 'model' must be a model name or path", 3) end
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.prompt = s.prompt or 64
  if type(s.prompt) ~= "string" and math.type(s.prompt) ~= "integer" then
    error("sweep.run: 'prompt' must be a string or a number of tokens", 3)
  end
  s.num_predict = s.num_predict or 16
  s.repeats = s.repeats or 3
  s.warmup = s.warmup or 0
  for _, k in ipairs { "num_predict", "repeats", "warmup" } do
    if math.type(s[k]) ~= "integer" or s[k] < (k == "repeats" and 1 or 0) then
      error("sweep.run: '" .. k .. "' must be an integer >= " .. (k == "repeats" and 1 or 0), 3)
    end
  end
  if s.quality ~= nil then
    if type(s.quality) ~= "table" or type(s.quality.text) ~= "string" then
      error("sweep.run: 'quality' must be a table with 'text' (a file)", 3)
    end
    if not tycho.perplexity then error("sweep.run: quality needs tycho.perplexity, which this build lacks", 3) end
  end
  if s.grid and s.grid.quant and not tycho.quantized then
    error("sweep.run: grid.quant needs tycho.quantized, which this build lacks", 3)
  end
  if s.resume == nil then s.resume = true end
  return s
end


-- sweep.run(spec) -> results (tycho.results). See docs/lua-api.md.
function sweep.run(spec)
  local s = checked(spec)
  local configs = sweep.configs(s)
  local source, msg = tycho.find(s.model)
  local done = s.out and s.resume and recorded(s.out) or {}
  local out
  if s.out then out = assert(io.open(s.out, s.resume and "a" or "w")) end
  local progress = s.progress
  if progress == true then
    progress = function(i, n, config, eta)
      io.stderr:write(string.format("run %d/%d: %s (ETA %s)\n", i, n, describe(config), clock(eta)))
    end
  end
  local rows, spent, measured = {}, 0, 0
  for i, config in ipairs(configs) do
    local key = sweep.key(s.model, config)
    local row = done[key]
    if row == nil or row.error then
      if progress then
        progress(i, #configs, config, measured > 0 and spent / measured * (#configs - i + 1) or nil)
      end
      row = { key = key, model = s.model, time = os.date("!%Y-%m-%dT%H:%M:%SZ") }
      for k, v in pairs(config) do row[k] = v end
      local t0 = tycho.now()
      if not source then
        row.error = msg
      else
        local ok, err = pcall(measure, s, config, row, source)
        if not ok then
          -- Ctrl-C stops the sweep; what was measured is already in out
          if tostring(err):find("interrupted", 1, true) then
            if out then out:close() end
            error(err, 0)
          end
          row.error = tostring(err):gsub("^[^:]*:%d+: ", "")
        end
      end
      row.seconds = tycho.now() - t0
      spent, measured = spent + row.seconds, measured + 1
      if out then
        out:write(tycho.json.encode(row), "\n")
        out:flush()
      end
    end
    rows[#rows + 1] = row
  end
  if out then out:close() end
  local r = results.new(rows, { spec = spec })
  if s.recipe then assert(require("tycho.recipe").write(r, s.recipe)) end
  return r
end

tycho.sweep = sweep
return sweep
