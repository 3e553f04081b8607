-- test_docs.lua: runs every ```lua example of docs/lua-api.md, each in a
-- fresh environment, so the documentation cannot drift from the module.
-- Examples use the test models by cache name (smollm2); without them this
-- skips, unless TYCHO_REQUIRE_MODELS=1. Runs under the tycho program.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check = T.check

if not tycho.find("smollm2") then
  print("skipping: the examples use smollm2, which is not in the cache")
  os.exit(os.getenv("TYCHO_REQUIRE_MODELS") == "1" and 1 or 77)
end

local doc = assert(io.open(src .. "/docs/lua-api.md")):read("a")
local n, line = 0, 1
for before, code in doc:gmatch("()```lua\n(.-)\n```") do
  n = n + 1
  local at = select(2, doc:sub(1, before):gsub("\n", "")) + 1
  -- a fresh global table per example, falling back to the real globals
  local env = setmetatable({}, { __index = _G })
  local chunk, err = load(code, "=docs/lua-api.md:" .. at, "t", env)
  check(chunk, "example at line " .. at .. " does not compile: " .. tostring(err))
  if chunk then
    local ok, msg = xpcall(chunk, debug.traceback)
    check(ok, "example at line " .. at .. " fails: " .. tostring(msg))
  end
end
check(n >= 10, "docs/lua-api.md has runnable examples: " .. n)
print(n .. " examples run")
T.done()
