-- store.lua: `tycho pull`, `tycho list`, `tycho show`, `tycho rm`: the model
-- store from the command line, over tycho.pull/list/show/rm. Each main
-- returns the exit code (0 done, 1 failed, 2 a usage error).

local tycho = require "tycho"
local options = require "tycho.args"

local store = {}

local function fail(cmd, msg)
  io.stderr:write("tycho ", cmd, ": ", msg, "\n")
  return 1
end


-- Bytes as Ollama prints them (decimal units): 98 MB, 1.9 GB.
function store.bytes(n)
  local units = { "B", "KB", "MB", "GB", "TB" }
  local i = 1
  while n >= 1000 and i < #units do n, i = n / 1000, i + 1 end
  if i == 1 then return string.format("%d B", n) end
  return string.format(n < 10 and "%.1f %s" or "%.0f %s", n, units[i])
end


-- How long ago t (Unix seconds) was: "3 minutes ago", "2 days ago".
function store.ago(t, now)
  local s = (now or os.time()) - t
  if s < 60 then return "Less than a minute ago" end
  local spans = { { 3600, 60, "minute" }, { 86400, 3600, "hour" }, { 86400 * 30, 86400, "day" },
    { 86400 * 365, 86400 * 30, "month" }, { math.huge, 86400 * 365, "year" } }
  for _, sp in ipairs(spans) do
    if s < sp[1] then
      local n = s // sp[2]
      return string.format("%d %s%s ago", n, sp[3], n == 1 and "" or "s")
    end
  end
end


-- A progress printer for tycho.pull: on a terminal one line per blob,
-- redrawn with bytes, rate and ETA; nothing when stderr is not a terminal.
function store.progress_bar()
  if not tycho.isatty("stderr") then return nil end
  local cur, t0, last = nil, 0, 0
  return function(done, total, digest)
    local now = tycho.now()
    if digest ~= cur then
      if cur then io.stderr:write("\n") end
      cur, t0, last = digest, now, 0
    elseif now - last < 0.1 and done < total then
      return
    end
    last = now
    local rate = done / math.max(now - t0, 1e-3)
    local frac = total > 0 and done / total or 1
    local width = 25
    local fill = math.floor(frac * width + 0.5)
    local eta = rate > 0 and (total - done) / rate or 0
    io.stderr:write(string.format("\rpulling %s... %3d%% ▕%s%s▏ %s/%s  %s/s  %ds   ",
      digest:sub(8, 19), math.floor(frac * 100), string.rep("█", fill), string.rep(" ", width - fill),
      store.bytes(done), store.bytes(total), store.bytes(rate), math.floor(eta + 0.5)))
    if done >= total then io.stderr:write("\n"); cur = nil end
    io.stderr:flush()
  end
end


local pull_flags = {
  ["registry"] = { "registry", "str" }, ["ca-bundle"] = { "ca_bundle", "str" },
  ["parts"] = { "parts", "int" },
}

function store.pull(args)
  local opts, rest = options.parse(args, pull_flags)
  if not opts then return fail("pull", rest) end
  if #rest ~= 1 then return fail("pull", "usage: tycho pull MODEL [--registry URL] [--ca-bundle FILE]") end
  opts.progress = store.progress_bar()
  local ok, msg = tycho.pull(rest[1], opts)
  if not ok then return fail("pull", msg) end
  print("success")
  return 0
end


function store.list(args)
  local list, msg = tycho.list()
  if not list then return fail("list", msg) end
  local rows = { { "NAME", "ID", "SIZE", "MODIFIED" } }
  local now = os.time()
  for _, e in ipairs(list) do
    rows[#rows + 1] = { e.name, e.id, store.bytes(e.size), store.ago(e.modified, now) }
  end
  local w = { 0, 0, 0 }
  for _, r in ipairs(rows) do
    for i = 1, 3 do w[i] = math.max(w[i], #r[i]) end
  end
  for _, r in ipairs(rows) do
    print(string.format("%-" .. w[1] .. "s    %-" .. w[2] .. "s    %-" .. w[3] .. "s    %s",
      r[1], r[2], r[3], r[4]))
  end
  return 0
end


-- Parameter counts as Ollama shows them: 134.52M, 6.7B.
local function params(n)
  if n >= 1e9 then return string.format("%.1fB", n / 1e9) end
  if n >= 1e6 then return string.format("%.2fM", n / 1e6) end
  return tostring(n)
end


function store.show(args)
  if #args ~= 1 then return fail("show", "usage: tycho show MODEL") end
  local s, msg = tycho.show(args[1])
  if not s then
    -- a plain GGUF file (a path or a cache name): what its header says
    s = tycho.find(args[1]) and tycho.info(args[1])
    if not s then return fail("show", msg) end
  end
  local function row(k, v) if v then print(string.format("    %-20s%s", k, v)) end end
  print("  Model")
  row("architecture", s.architecture)
  row("parameters", params(s.parameters))
  row("context length", s.context_length)
  row("embedding length", s.embedding_length)
  row("quantization", s.quantization)
  row("digest", s.digest)
  if s.source == "ollama" then row("store", "ollama (read-only)") end
  if s.params and next(s.params) then
    print("\n  Parameters")
    local keys = {}
    for k in pairs(s.params) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = s.params[k]
      for _, x in ipairs(type(v) == "table" and v or { v }) do
        row(k, type(x) == "string" and string.format("%q", x) or tostring(x))
      end
    end
  end
  if s.system then print("\n  System\n    " .. s.system:gsub("\n", "\n    ")) end
  if s.template then print("\n  Template\n    " .. s.template:gsub("\n", "\n    ")) end
  if s.license then
    local lines = {}
    for l in (s.license .. "\n"):gmatch("(.-)\n") do
      if #lines == 2 then break end
      if l:match("%S") then lines[#lines + 1] = l end
    end
    print("\n  License\n    " .. table.concat(lines, "\n    "))
  end
  return 0
end


function store.rm(args)
  if #args == 0 then return fail("rm", "usage: tycho rm MODEL [MODEL...]") end
  for _, name in ipairs(args) do
    local ok, msg = tycho.rm(name)
    if not ok then return fail("rm", msg) end
    print("deleted '" .. name .. "'")
  end
  return 0
end


return store
