-- inspect.lua: a readable one-string rendering of any Lua value, for the
-- shell's results and for scripts: inspect(v [, opts]) -> string.
-- Tables print as Lua constructors with sorted keys, short ones on one line;
-- cycles, depth and size are bounded so any value prints in bounded space.

local defaults = { depth = 5, items = 100, width = 80, indent = "  " }

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not
  or repeat return then true until while]]):gmatch("%a+") do keywords[w] = true end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t", ["\a"] = "\\a", ["\b"] = "\\b", ["\f"] = "\\f", ["\v"] = "\\v" }


-- A double-quoted Lua literal that reads back as s. Bytes >= 0x80 stay as
-- they are, so UTF-8 text stays legible; other control bytes become \ddd
-- (\ddd with three digits, so a following digit cannot join the escape).
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\%03d", c:byte())
  end) .. '"'
end


-- tostring that cannot fail: a __tostring that raises or returns a
-- non-string still gives something printable.
local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return string.format("<%s: __tostring failed>", type(v))
end


local function is_ident(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not keywords[k]
end


-- Key order: integers, then other numbers, then strings, then the rest
-- (booleans, tables, ...) by their text, so output is stable.
local kind_rank = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  local ra, rb = kind_rank[ta] or 4, kind_rank[tb] or 4
  if ra ~= rb then return ra < rb end
  if ta == "number" and tb == "number" then
    if a ~= a then return false end               -- NaN keys cannot exist; be safe anyway
    return a < b
  end
  if ta == "string" and tb == "string" then return a < b end
  return safe_tostring(a) < safe_tostring(b)
end


local render

local function render_key(k, opts, level, path)
  if is_ident(k) then return k end
  if type(k) == "string" then return "[" .. quote(k) .. "]" end
  return "[" .. render(k, opts, level, path) .. "]"
end


-- Renders table t at nesting level (0 at the top). path holds the tables
-- being rendered above this one, to spot cycles.
local function render_table(t, opts, level, path)
  local mt = getmetatable(t)
  if type(mt) == "table" and rawget(mt, "__tostring") then return safe_tostring(t) end
  if path[t] then return "<cycle>" end
  if level >= opts.depth then return next(t) == nil and "{}" or "{...}" end
  path[t] = true
  local parts, n = {}, 0
  local limit = opts.items
  -- the sequence 1..n prints without keys
  local seq = 0
  while rawget(t, seq + 1) ~= nil do seq = seq + 1 end
  for i = 1, math.min(seq, limit) do
    parts[#parts + 1] = render(rawget(t, i), opts, level + 1, path)
  end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= seq) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  n = seq + #keys
  for i = 1, math.min(#keys, limit - #parts) do
    local k = keys[i]
    parts[#parts + 1] = render_key(k, opts, level + 1, path) .. " = "
      .. render(rawget(t, k), opts, level + 1, path)
  end
  path[t] = nil
  if n > #parts then parts[#parts + 1] = string.format("... (%d more)", n - #parts) end
  if #parts == 0 then return "{}" end
  -- one line when it fits and no part spans lines, else one part per line
  local line = "{" .. table.concat(parts, ", ") .. "}"
  if #line + #opts.indent * level <= opts.width and not line:find("\n", 1, true) then
    return line
  end
  -- many short array items share lines (packed to the width); keyed
  -- entries and items that span lines get a line each
  local pad = opts.indent:rep(level + 1)
  local lines, cur = {}, nil
  local nseq = math.min(seq, limit)
  for i, p in ipairs(parts) do
    local packable = i <= nseq and p:sub(1, 1) ~= "{" and not p:find("\n", 1, true)
    if packable and cur and #pad + #cur + 2 + #p + 1 <= opts.width then   -- +1: the comma
      cur = cur .. ", " .. p
    else
      if cur then lines[#lines + 1] = cur end
      cur = p
      if not packable then lines[#lines + 1] = cur; cur = nil end
    end
  end
  if cur then lines[#lines + 1] = cur end
  return "{\n" .. pad .. table.concat(lines, ",\n" .. pad) .. "\n" .. opts.indent:rep(level) .. "}"
end


function render(v, opts, level, path)
  local tv = type(v)
  if tv == "string" then
    if #v > opts.string_max then
      return quote(v:sub(1, opts.string_max)) .. string.format("... (%d bytes)", #v)
    end
    return quote(v)
  elseif tv == "table" then
    return render_table(v, opts, level, path)
  end
  return safe_tostring(v)      -- numbers as Lua prints them; userdata through __tostring
end


-- inspect(v [, opts]) -> string. opts: depth (levels of tables shown,
-- default 5), items (entries per table, 100), width (line length before a
-- table breaks over lines, 80), indent ("  "), string_max (bytes of a
-- string shown, 4096).
local function inspect(v, opts)
  local o = { string_max = 4096 }
  for k, d in pairs(defaults) do o[k] = d end
  if opts ~= nil then
    if type(opts) ~= "table" then error("inspect: options must be a table", 2) end
    for k, x in pairs(opts) do
      if o[k] == nil then error(string.format("inspect: unknown option '%s'", tostring(k)), 2) end
      o[k] = x
    end
  end
  return render(v, o, 0, {})
end

return setmetatable({ inspect = inspect, quote = quote }, {
  __call = function(_, v, opts) return inspect(v, opts) end,
})
