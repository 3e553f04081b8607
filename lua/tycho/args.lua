-- args.lua: the command line's options, shared by every tycho command:
-- `--name value`, `--name=value`, `-x value`, flags without a value, and
-- `--` to end the options. Ollama's PARAMETER names work with dashes or
-- underscores (--num-ctx, --num_ctx).

local args = {}

-- Value kinds: each turns the text after an option into a value, or
-- returns nil and what was expected.
args.kinds = {
  str = function(v) return v end,
  int = function(v)
    return math.tointeger(tonumber(v)), "an integer"
  end,
  count = function(v)
    local n = math.tointeger(tonumber(v))
    return n and n >= 1 and n or nil, "a positive integer"
  end,
  num = function(v) return tonumber(v), "a number" end,
  gpu = function(v)
    local n = math.tointeger(tonumber(v))
    if v == "auto" then return "auto" end
    return n and n >= 0 and n or nil, "an integer or auto"
  end,
  split = function(v)
    local t = {}
    for part in (v .. ","):gmatch("([^,]*),") do
      local x = tonumber(part)
      if not x or x < 0 then return nil, "numbers >= 0 separated by commas" end
      t[#t + 1] = x
    end
    return t
  end,
}


-- Parses list against spec ({ ["num-ctx"] = { "num_ctx", kind }, ... },
-- kind a name of args.kinds, "bool" for a flag, or "list" for a repeatable
-- string). Returns the settings and the positional arguments, or nil and a
-- one-line message.
function args.parse(list, spec)
  local opts, rest, i = {}, {}, 1
  while i <= #list do
    local a = list[i]
    local name, value = a:match("^%-%-?([%w_-]+)=(.*)$")
    if not name then name = a:match("^%-%-?([%a][%w_-]*)$") end
    if a == "--" then
      table.move(list, i + 1, #list, #rest + 1, rest)
      break
    elseif name then
      local f = spec[name] or spec[(name:gsub("_", "-"))]
      if not f then return nil, string.format("unknown option '%s'", a) end
      local key, kind = f[1], f[2]
      if kind == "bool" then
        if value then return nil, string.format("option %s takes no value", a) end
        opts[key] = true
      else
        if not value then
          i = i + 1
          value = list[i]
          if not value then return nil, string.format("option %s needs a value", a) end
        end
        if kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], value)
        else
          local v, want = args.kinds[kind](value)
          if v == nil then return nil, string.format("option %s needs %s, got '%s'", a, want, value) end
          opts[key] = v
        end
      end
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, rest
end

return args
