-- quant-for-8gb.lua: which quantization for 8 GB.
-- usage: tycho docs/recipes/quant-for-8gb.lua [MODEL] [BUDGET]
-- Part 1 plans llama 8B in each quantization tycho.synth writes (the files
-- are holes: nothing is downloaded) on one 8 GB GPU at 8192 tokens of
-- context, and says which fit entirely. Part 2 measures the quantizations
-- of a real model (tycho.quantized makes each variant once) on a budget
-- scaled to it: plan each, then speed and perplexity for the ones that fit.

local tycho = require "tycho"
local sweep = require "tycho.sweep"

-- ---------------------------------------------------------------- part 1: plan
print("llama 8B on one 8 GB GPU, num_ctx 8192:")
print("| quant | weights GiB | layers on the GPU | fits entirely |")
print("| --- | ---: | ---: | --- |")
for _, q in ipairs { "F16", "Q8_0", "Q4_K_M", "Q4_1", "Q4_0" } do
  local path = os.tmpname() .. ".gguf"
  assert(tycho.synth("llama", "8B", q, path))
  local p = assert(tycho.plan(path, { gpus = "8G", num_ctx = 8192 }))
  os.remove(path)
  print(string.format("| %s | %.2f | %d of %d | %s |", q, p.model.weights / 2^30, p.num_gpu, p.model.n_layer + 1,
    p.num_gpu == p.model.n_layer + 1 and "yes" or "no"))
end

-- ---------------------------------------------------------------- part 2: measure
local model = arg[1] or "smollm2"
local budget = arg[2] or "cpu=64M,cpu=128M"          -- the second device plays the 8 GB GPU
if not tycho.quantized then
  print("skip: measuring quantizations needs tycho.quantized, which this build lacks")
  return 0
end
local quants = { "Q8_0", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K" }
local all = assert(tycho.info(model)).block_count + 1
local fit = {}
for _, q in ipairs(quants) do
  local path = assert(tycho.quantized(tycho.find(model), q))
  local p = assert(tycho.plan(path, { devices = budget, num_ctx = 512, num_gpu = all }))
  if p.fits then fit[#fit + 1] = q end
  print(string.format("%s on %s with every layer on the second device: %s", q, budget,
    p.fits and "fits" or "does not fit"))
end
if #fit == 0 then print("none fits " .. budget); return 0 end
local license = "/usr/share/common-licenses/GPL-3"
local r = sweep.run { model = model, grid = { quant = fit }, settings = { devices = budget, num_ctx = 512, num_gpu = all },
  prompt = 32, num_predict = 8, repeats = 1,
  quality = io.open(license) and { text = license, num_ctx = 128, max_chunks = 4 } or nil }
io.write(r:to_markdown())
local best = r:best { maximize = "eval_rate", subject_to = { fits = true, max_ppl_increase = 0.10 } }
  or r:best { maximize = "eval_rate", subject_to = { fits = true } }
print(best and ("choose " .. best.quant) or "no quantization fits")
return 0
