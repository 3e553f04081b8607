-- num-gpu-speed.lua: num_gpu against speed.
-- usage: tycho docs/recipes/num-gpu-speed.lua [MODEL] [OUT.svg] [DEVICES]
-- Sweeps the layers placed on the second device (Ollama's num_gpu) and
-- plots generation and prompt speed against it. With a GPU the devices are
-- "cpu,cuda:0"; without one, two CPU devices stand in, so the split's cost
-- (activations handed over at the layer boundary) is what shows.

local tycho = require "tycho"
local sweep = require "tycho.sweep"

local model = arg[1] or "smollm2"
local svg = arg[2] or os.tmpname() .. ".svg"
local devices = arg[3]
if not devices then
  devices = "cpu=1G,cpu=1G"
  for _, d in ipairs(tycho.devices()) do
    if d.kind == "cuda" then devices = "cpu,cuda:" .. d.index; break end
  end
end

local n = assert(tycho.info(model)).block_count + 1
local grid = { 0, n // 3, 2 * n // 3, n }
local r = sweep.run { model = model, settings = { devices = devices, num_ctx = 256 },
  grid = { num_gpu = grid }, prompt = 32, num_predict = 8, repeats = 1, progress = true }
io.write(r:to_markdown())
assert(r:plot(svg, { x = "num_gpu", y = "eval_rate", title = "generation speed against num_gpu on " .. devices }))
local best = assert(r:best { maximize = "eval_rate", subject_to = { fits = true } })
print(string.format("fastest: num_gpu %d at %.1f tokens/s; plot in %s", best.num_gpu, best.eval_rate, svg))
return 0
