-- recipe.lua: a sweep saved so that anyone can run it again. A recipe is a
-- Lua file holding the sweep's spec (run it with `tycho recipe run FILE` or
-- `tycho FILE`) and a lock beside it, FILE.lock.json: the models' SHA-256,
-- tycho's version, the devices, the settings and the results. Running a
-- recipe prints the new figures beside the recorded ones and flags changes
-- beyond the measured spread. recipe.best writes the chosen settings as a
-- Modelfile.

local tycho = require "tycho"
local sweep = require "tycho.sweep"
local results = require "tycho.results"

local recipe = {}

-- the spec fields a recipe keeps (out, resume, progress and recipe are the
-- run's own business)
local kept = { "model", "grid", "runs", "settings", "prompt", "num_predict", "repeats", "warmup", "quality" }


-- The lock file of a recipe: FILE.lua -> FILE.lock.json.
function recipe.lock_path(path)
  return (path:gsub("%.lua$", "")) .. ".lock.json"
end


-- A Lua value as a constructor, keys sorted, so recipes diff well.
local function literal(v, indent)
  indent = indent or ""
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts, inner = {}, indent .. "  "
  for _, x in ipairs(v) do parts[#parts + 1] = literal(x, inner) end
  local keys = {}
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. literal(k) .. "]"
    parts[#parts + 1] = name .. " = " .. literal(v[k], inner)
  end
  local one = "{ " .. table.concat(parts, ", ") .. " }"
  if #one <= 72 and not one:find("\n") then return #parts == 0 and "{}" or one end
  return "{\n" .. inner .. table.concat(parts, ",\n" .. inner) .. ",\n" .. indent .. "}"
end


local write_file = results.write_file


-- recipe.write(results, path) -> true | nil, msg: the recipe (results.spec)
-- and its lock, with the digest of every model file the results used.
function recipe.write(res, path)
  if type(res) ~= "table" or type(res.spec) ~= "table" then
    error("recipe.write: results of sweep.run expected (they carry the spec)", 2)
  end
  local spec = {}
  for _, k in ipairs(kept) do spec[k] = res.spec[k] end
  local models, seen = {}, {}
  for _, row in ipairs(res.rows) do
    local p = row.path
    if p and not seen[p] then
      seen[p] = true
      local info = tycho.info(p) or {}
      local digest, msg = tycho.sha256(p)
      models[#models + 1] = { path = p, sha256 = digest, sha256_error = not digest and msg or nil,
        size = info.file_size, architecture = info.architecture, quantization = info.quantization,
        parameters = info.parameters }
    end
  end
  local lock = { tycho = tycho.version, created = os.date("!%Y-%m-%dT%H:%M:%SZ"), models = models,
    devices = tycho.devices(), spec = spec, results = res.rows }
  local text = "-- A tycho recipe, written " .. lock.created .. " by tycho " .. tycho.version .. ".\n"
    .. "-- Run it again with `tycho recipe run " .. path:match("[^/]*$") .. "` (or `tycho "
    .. path:match("[^/]*$") .. "`); the lock\n-- beside it, " .. recipe.lock_path(path):match("[^/]*$")
    .. ", holds the model digests, devices and results it made.\n"
    .. "local spec = " .. literal(spec) .. "\n"
    .. "if ... == \"tycho.recipe\" then return spec end\n"
    .. "return require(\"tycho.recipe\").main { arg and arg[0] }\n"
  local ok, err = write_file(path, text)
  if not ok then return nil, err end
  return write_file(recipe.lock_path(path), tycho.json.encode(lock, { indent = true }) .. "\n")
end


-- recipe.load(path) -> spec, lock | nil, msg
function recipe.load(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local ok, spec = pcall(chunk, "tycho.recipe")
  if not ok or type(spec) ~= "table" then return nil, path .. ": not a recipe (" .. tostring(spec) .. ")" end
  local f = io.open(recipe.lock_path(path), "r")
  local lock
  if f then
    ok, lock = pcall(tycho.json.decode, f:read("a"))
    f:close()
    if not ok then return nil, recipe.lock_path(path) .. ": " .. tostring(lock) end
  end
  return spec, lock
end


-- the figures compared, with the fields of their spread
local compared = {
  { name = "prompt t/s", field = "prompt_eval_rate" },
  { name = "gen t/s", field = "eval_rate" },
  { name = "TTFT s", field = "ttft" },
  { name = "allocated MiB", field = "memory", scale = 1 / 1048576 },
}


-- Whether two figures differ beyond their spread: their min..max ranges,
-- each widened by `tolerance` (relative), do not overlap.
function recipe.changed(old, new, field, tolerance)
  local a, b = old[field], new[field]
  if a == nil or b == nil then return (a == nil) ~= (b == nil) end
  local tol = tolerance or 0.05
  local alo, ahi = old[field .. "_min"] or a, old[field .. "_max"] or a
  local blo, bhi = new[field .. "_min"] or b, new[field .. "_max"] or b
  return ahi * (1 + tol) < blo * (1 - tol) or bhi * (1 + tol) < alo * (1 - tol)
end


-- recipe.compare(recorded_rows, new_results [, tolerance]) -> list of
-- {key, figure, recorded, now, changed}, and the number changed.
function recipe.compare(old_rows, new, tolerance)
  local by = {}
  for _, row in ipairs(old_rows or {}) do by[row.key] = row end
  local list, n = {}, 0
  for _, row in ipairs(new.rows) do
    local old = by[row.key] or {}
    if old.fits ~= row.fits then
      list[#list + 1] = { key = row.key, figure = "fits", recorded = old.fits, now = row.fits, changed = true }
      n = n + 1
    end
    for _, c in ipairs(compared) do
      if old[c.field] ~= nil or row[c.field] ~= nil then
        local ch = recipe.changed(old, row, c.field, c.field == "memory" and 0 or tolerance)
        list[#list + 1] = { key = row.key, figure = c.name, field = c.field, recorded = old[c.field],
          now = row[c.field], changed = ch, scale = c.scale }
        if ch then n = n + 1 end
      end
    end
  end
  return list, n
end


local function shown(v, scale)
  if type(v) ~= "number" then return v == nil and "-" or tostring(v) end
  return string.format("%.2f", v * (scale or 1))
end


-- recipe.run(path [, {tolerance = 0.05, progress = true, print = true}])
-- -> new results, comparison list, number changed | nil, msg.
-- Reruns the recipe (fresh measurements, nothing resumed) and prints the
-- new figures beside the recorded ones, flagging changes beyond the spread.
function recipe.run(path, opts)
  opts = opts or {}
  local spec, lock = recipe.load(path)
  if not spec then return nil, lock end
  local say = opts.print ~= false and print or function() end
  if lock then
    say(string.format("recorded %s with tycho %s; now tycho %s", lock.created or "?", lock.tycho or "?",
      tycho.version))
    for _, m in ipairs(lock.models or {}) do
      local now = m.sha256 and tycho.sha256(m.path)
      if now and now ~= m.sha256 then say(string.format("model %s changed: %s, recorded %s", m.path, now, m.sha256)) end
    end
  else
    say("no lock file " .. recipe.lock_path(path) .. ": nothing recorded to compare with")
  end
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.progress = opts.progress
  local new = sweep.run(s)
  local list, n = recipe.compare(lock and lock.results, new, opts.tolerance)
  say("| configuration | figure | recorded | now | |")
  say("| --- | --- | ---: | ---: | --- |")
  for _, c in ipairs(list) do
    say(string.format("| %s | %s | %s | %s | %s |", c.key, c.figure, shown(c.recorded, c.scale),
      shown(c.now, c.scale), c.changed and "CHANGED" or ""))
  end
  say(string.format("%d figure(s) changed beyond the measured spread", n))
  return new, list, n
end


-- What a recipe file calls when run as a script: recipe.main{path}.
function recipe.main(a)
  local new, msg = recipe.run(a[1], { progress = true })
  if not new then error(msg, 0) end
  return 0
end


-- the Modelfile PARAMETERs a configuration sets; Ollama knows only the first four
local ollama_params = { "num_ctx", "num_batch", "num_thread", "num_gpu" }
local tycho_params = { "kv_type", "devices", "split" }


-- recipe.best(results, {maximize | minimize, subject_to, path, ollama, parameters})
-- -> Modelfile, row | nil, msg. The best run's settings as FROM plus
-- PARAMETER lines (tycho.modelfile), written to path when given. FROM is
-- the quantized file for a quant sweep, else the model as the sweep named
-- it. ollama = true leaves out tycho's own parameters (kv_type, devices,
-- split), which Ollama would refuse.
function recipe.best(res, opts)
  opts = opts or {}
  local row, msg = res:best(opts)
  if not row then return nil, msg end
  local params = {}
  local names = table.move(ollama_params, 1, #ollama_params, 1, {})
  if not opts.ollama then table.move(tycho_params, 1, #tycho_params, #names + 1, names) end
  for _, k in ipairs(names) do
    local v = row[k]
    if k == "num_gpu" and math.type(v) ~= "integer" then v = row.num_gpu_planned end
    if k == "devices" and type(v) == "table" then v = table.concat(v, ",") end
    if k == "split" and type(v) == "table" then
      local t = {}
      for i, x in ipairs(v) do t[i] = tostring(x) end
      v = table.concat(t, ",")
    end
    params[k] = v
  end
  for k, v in pairs(opts.parameters or {}) do params[k] = v end
  local from = row.quant and row.path or row.model
  local mf = tycho.modelfile { from = from, parameters = params }
  if opts.path then
    local ok, err = mf:write(opts.path)
    if not ok then return nil, err end
  end
  return mf, row
end


-- `tycho recipe run FILE [--tolerance X] [--strict]`: exit 0; 1 when it cannot
-- run, or with --strict when a figure changed
function recipe.cli(args)
  local options = require "tycho.args"
  local opts, rest = options.parse(args, { tolerance = { "tolerance", "num" }, quiet = { "quiet", "bool" },
    strict = { "strict", "bool" } })
  if not opts or rest[1] ~= "run" or not rest[2] then
    io.stderr:write("tycho: ", opts and "usage: tycho recipe run FILE [--tolerance 0.05] [--strict] [--quiet]" or rest, "\n")
    return 2
  end
  local new, list, n = recipe.run(rest[2], { tolerance = opts.tolerance, progress = not opts.quiet })
  if not new then
    io.stderr:write("tycho: ", list, "\n")
    return 1
  end
  return opts.strict and n > 0 and 1 or 0
end

recipe.results = results
tycho.recipe = recipe
return recipe
