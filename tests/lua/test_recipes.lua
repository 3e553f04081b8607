-- test_recipes.lua: runs each example under docs/recipes/ with the tycho
-- program on the test models, through virtual CPU devices, and checks that
-- it answers its question.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check = T.check

if not (tycho.find("smollm2") and tycho.find("gemma3")) then
  print("skip: the recipes use smollm2 and gemma3, which are not both in the cache")
  os.exit(77)
end
local dir = src .. "/docs/recipes/"

local out, err, rc = T.run({ dir .. "longest-context.lua", "gemma3", "cpu=200M,cpu=400M" })
local ctx = tonumber(out:match("the longest context that fits is (%d+) tokens"))
check(rc == 0 and ctx and ctx >= 4096 and ctx < 32768 and out:find("loaded at num_ctx", 1, true),
  "longest-context: " .. out .. err)
-- the answer is the boundary: 256 tokens more does not fit
local p = tycho.plan("gemma3", { num_ctx = (ctx or 0) + 256, devices = "cpu=200M,cpu=400M", num_gpu = 19 })
check(p and not p.fits, "longest-context is the longest")

local svg = os.tmpname() .. ".svg"
out, err, rc = T.run({ dir .. "num-gpu-speed.lua", "smollm2", svg })
check(rc == 0 and out:find("fastest: num_gpu %d+") and select(2, out:gsub("| yes |", "")) == 4,
  "num-gpu-speed: " .. out .. err)
local _, _, xml = os.execute("python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' " .. T.quote(svg))
check(xml == 0 and (T.read(svg) or ""):find("num_gpu (layers)", 1, true), "num-gpu-speed writes its plot")
os.remove(svg)

out, err, rc = T.run({ dir .. "quant-for-8gb.lua" })
check(rc == 0 and out:find("| Q4_K_M | 4.58 | 33 of 33 | yes |", 1, true) and out:find("| F16 |", 1, true)
  and out:find("| no |", 1, true), "quant-for-8gb plans: " .. out .. err)
if tycho.quantized then
  check(out:find("choose Q", 1, true), "quant-for-8gb measures: " .. out)
else
  check(out:find("skip: measuring quantizations", 1, true), "quant-for-8gb says it skips")
end
T.done()
