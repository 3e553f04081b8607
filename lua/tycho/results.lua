-- results.lua: what a sweep measured, one row per configuration (flat
-- tables: the settings, then the figures), with the ways to look at it:
-- CSV, JSON, a markdown table, the best row under constraints, an SVG plot.
-- results.load reads a sweep's JSON-lines file (or to_json's) back.

local tycho = require "tycho"

local results = {}
local R = {}
R.__index = R
R.__len = function(self) return #self.rows end

-- settings first (sweep.dims order), then these figures, where any row has them
local dims = { "quant", "devices", "gpus", "num_gpu", "split", "num_ctx", "kv_type", "num_batch",
  "num_thread" }
local figures = { "fits", "reason", "error", "num_gpu_planned", "load_time", "prompt_tokens",
  "ttft", "ttft_min", "ttft_max", "prompt_eval_rate", "prompt_eval_rate_min", "prompt_eval_rate_max",
  "prompt_eval_rate_mean", "prompt_eval_rate_sd", "eval_count", "eval_rate", "eval_rate_min",
  "eval_rate_max", "eval_rate_mean", "eval_rate_sd", "planned", "memory", "ppl", "ppl_err",
  "kl_mean", "kl_p99", "kl_max", "same_top", "model", "path", "seconds", "time" }

-- units for labels; bytes are shown in MiB
results.units = { eval_rate = "tokens/s", prompt_eval_rate = "tokens/s", ttft = "s", load_time = "s",
  num_ctx = "tokens", num_batch = "tokens", num_thread = "threads", num_gpu = "layers",
  num_gpu_planned = "layers", planned = "MiB", memory = "MiB", seconds = "s", kl_mean = "nats",
  kl_max = "nats", kl_p99 = "nats" }
local bytes = { planned = true, memory = true }


-- results.new(rows [, {spec = s}]) -> results
function results.new(rows, meta)
  local self = setmetatable({ rows = rows, spec = meta and meta.spec }, R)
  self.dims = {}
  for _, d in ipairs(dims) do
    for _, row in ipairs(rows) do
      if row[d] ~= nil then self.dims[#self.dims + 1] = d; break end
    end
  end
  return self
end


-- results.load(path) -> results | nil, msg: JSON lines (a sweep's out) or a JSON array
function results.load(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  local ok, v = pcall(tycho.json.decode, s)
  -- a JSON array (to_json); otherwise JSON lines, of which cJSON would read only the first
  if ok and type(v) == "table" and (v[1] ~= nil or next(v) == nil) then return results.new(v) end
  local rows, n = {}, 0
  for line in s:gmatch("[^\n]+") do
    n = n + 1
    ok, v = pcall(tycho.json.decode, line)
    if not ok or type(v) ~= "table" then return nil, string.format("%s:%d: not a JSON object", path, n) end
    rows[#rows + 1] = v
  end
  return results.new(rows)
end


local function value_text(v)
  if type(v) == "table" then
    local t = {}
    for i, x in ipairs(v) do t[i] = tostring(x) end
    return table.concat(t, ",")
  end
  if math.type(v) == "float" then return string.format("%.6g", v) end
  return v == nil and "" or tostring(v)
end


-- the columns present: settings, then figures some row has
function R:columns()
  local cols = table.move(self.dims, 1, #self.dims, 1, {})
  for _, c in ipairs(figures) do
    for _, row in ipairs(self.rows) do
      if row[c] ~= nil then cols[#cols + 1] = c; break end
    end
  end
  return cols
end


-- Writes text to path: true, or nil and the error.
function results.write_file(path, text)
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  f:write(text)
  f:close()
  return true
end


-- Writes text to path, or returns it when path is nil.
local function emit(text, path)
  if path == nil then return text end
  return results.write_file(path, text)
end


-- r:to_csv([path]) -> true | text | nil, msg: one line per run, RFC 4180 quoting
function R:to_csv(path)
  local cols, lines = self:columns(), {}
  local function quote(s)
    return s:find('[,"\r\n]') and '"' .. s:gsub('"', '""') .. '"' or s
  end
  lines[1] = table.concat(cols, ",")
  for _, row in ipairs(self.rows) do
    local t = {}
    for i, c in ipairs(cols) do t[i] = quote(value_text(row[c])) end
    lines[#lines + 1] = table.concat(t, ",")
  end
  return emit(table.concat(lines, "\n") .. "\n", path)
end


-- r:to_json([path]) -> true | text | nil, msg: the rows as a JSON array
function R:to_json(path)
  return emit(tycho.json.encode(self.rows, { indent = true }) .. "\n", path)
end


local function rate(row, name)
  local v = row[name]
  if v == nil then return "" end
  if row[name .. "_min"] and row[name .. "_max"] > row[name .. "_min"] then
    return string.format("%.2f (%.2f..%.2f)", v, row[name .. "_min"], row[name .. "_max"])
  end
  return string.format("%.2f", v)
end


local function mib(v) return v and string.format("%.1f", v / 1048576) or "" end


-- r:to_markdown() -> text: settings, whether it fits, and the figures (medians, min..max)
function R:to_markdown()
  local has_ppl = false
  for _, row in ipairs(self.rows) do has_ppl = has_ppl or row.ppl ~= nil end
  local head = table.move(self.dims, 1, #self.dims, 1, {})
  for _, h in ipairs { "fits", "load s", "TTFT ms", "prompt t/s", "gen t/s", "planned MiB", "allocated MiB" } do
    head[#head + 1] = h
  end
  if has_ppl then head[#head + 1] = "ppl" end
  local lines = { "| " .. table.concat(head, " | ") .. " |", "|" .. string.rep(" --- |", #head) }
  for _, row in ipairs(self.rows) do
    local t = {}
    for i, d in ipairs(self.dims) do t[i] = value_text(row[d]) end
    local fits = row.error and ("error: " .. row.error) or row.fits == false and ("no: " .. (row.reason or ""))
      or "yes"
    t[#t + 1] = fits:gsub("|", "\\|")
    t[#t + 1] = row.load_time and string.format("%.2f", row.load_time) or ""
    t[#t + 1] = row.ttft and string.format("%.1f", row.ttft * 1000) or ""
    t[#t + 1] = rate(row, "prompt_eval_rate")
    t[#t + 1] = rate(row, "eval_rate")
    t[#t + 1] = mib(row.planned)
    t[#t + 1] = mib(row.memory)
    if has_ppl then t[#t + 1] = row.ppl and string.format("%.3f", row.ppl) or "" end
    lines[#lines + 1] = "| " .. table.concat(t, " | ") .. " |"
  end
  return table.concat(lines, "\n") .. "\n"
end


-- Whether row meets the constraints (see r:best); base is the lowest ppl.
local function meets(row, subject_to, base)
  for k, want in pairs(subject_to) do
    local ok
    if type(want) == "function" then
      ok = want(row[k], row)
    elseif k == "max_ppl_increase" then
      ok = row.ppl ~= nil and base ~= nil and row.ppl <= base * (1 + want)
    elseif k:find("^max_") and type(want) == "number" then
      local v = row[k:sub(5)]
      ok = type(v) == "number" and v <= want
    elseif k:find("^min_") and type(want) == "number" then
      local v = row[k:sub(5)]
      ok = type(v) == "number" and v >= want
    else
      ok = row[k] == want
    end
    if not ok then return false end
  end
  return true
end


-- r:best{maximize = field | minimize = field, subject_to = {...}} -> row | nil, msg
-- subject_to: fits = true; max_ppl_increase = 0.05 (relative to the lowest
-- perplexity measured); max_FIELD / min_FIELD bounds; FIELD = value; FIELD = fn(value, row).
function R:best(opts)
  if type(opts) ~= "table" or (opts.maximize == nil) == (opts.minimize == nil) then
    error("best: give one of 'maximize' or 'minimize' (a field name)", 2)
  end
  local field, sign = opts.maximize or opts.minimize, opts.maximize and 1 or -1
  local subject_to = opts.subject_to or {}
  local base
  for _, row in ipairs(self.rows) do
    if row.ppl and (base == nil or row.ppl < base) then base = row.ppl end
  end
  local best
  for _, row in ipairs(self.rows) do
    if not row.error and row.fits ~= false and type(row[field]) == "number" and meets(row, subject_to, base)
      and (best == nil or sign * row[field] > sign * best[field]) then
      best = row
    end
  end
  if not best then return nil, "best: no run with '" .. field .. "' meets the constraints" end
  return best
end


local function label(name)
  local u = results.units[name]
  return u and string.format("%s (%s)", name, u) or name
end


-- r:plot(path, {x = field, y = field, series = field, title = s}) -> true | nil, msg
-- An SVG line chart: one line per value of `series`, axes labelled with units.
function R:plot(path, opts)
  if type(opts) ~= "table" or type(opts.x) ~= "string" or type(opts.y) ~= "string" then
    error("plot: options need 'x' and 'y' (field names)", 2)
  end
  local svg = require "tycho.svg"
  local by, order = {}, {}
  local numeric = true
  for _, row in ipairs(self.rows) do
    local x, y = row[opts.x], row[opts.y]
    if x ~= nil and type(y) == "number" then
      if bytes[opts.y] then y = y / 1048576 end
      if type(x) ~= "number" then numeric = false end
      local name = opts.series and (opts.series .. " " .. value_text(row[opts.series])) or opts.y
      if not by[name] then by[name] = {}; order[#order + 1] = name end
      table.insert(by[name], { x = x, y = y })
    end
  end
  if #order == 0 then return nil, "plot: no run has both '" .. opts.x .. "' and '" .. opts.y .. "'" end
  local series = {}
  for i, name in ipairs(order) do
    local pts = by[name]
    if numeric then table.sort(pts, function(a, b) return a.x < b.x end) end
    for _, p in ipairs(pts) do if not numeric then p.x = value_text(p.x) end end
    series[i] = { name = name, points = pts }
  end
  local text = svg.chart { title = opts.title or (opts.y .. " against " .. opts.x), x_label = label(opts.x),
    y_label = label(opts.y), series = series, numeric_x = numeric }
  return emit(text, path)
end


return results
