-- longest-context.lua: the longest context that fits on my GPUs.
-- usage: tycho docs/recipes/longest-context.lua [MODEL] [DEVICES] [KV_TYPE]
-- The plan answers from the model's header alone (a binary search over
-- num_ctx, all layers on the GPUs), then one load at that context confirms it
-- and measures a short generation. With no GPU (or DEVICES given, such as
-- "cpu=200M,cpu=400M"), virtual devices stand in: the second and later
-- device plays the GPU, as num_gpu counts layers there.

local tycho = require "tycho"
local sweep = require "tycho.sweep"

local model = arg[1] or "gemma3"
local devices = arg[2]
local kv_type = arg[3] or "f16"
if not devices then
  local gpus = {}
  for _, d in ipairs(tycho.devices()) do
    if d.kind == "cuda" then gpus[#gpus + 1] = "cuda:" .. d.index end
  end
  devices = #gpus > 0 and "cpu," .. table.concat(gpus, ",") or "cpu=200M,cpu=400M"
end

local info = assert(tycho.info(model))
local all = info.block_count + 1                 -- every layer and the output on the "GPUs"

-- fits(ctx): the plan holds all layers on the devices after the first
local function fits(ctx)
  local p = assert(tycho.plan(model, { num_ctx = ctx, devices = devices, kv_type = kv_type, num_gpu = all }))
  return p.fits, p
end

local lo, hi = 0, info.context_length or 131072
if not fits(256) then
  print(string.format("%s does not fit %s with every layer on the GPUs, even at 256 tokens", model, devices))
  print(select(2, fits(256)))
  return 1
end
lo = 256
while hi - lo > 256 do                            -- the answer to within 256 tokens
  local mid = (lo + hi) // 2 // 256 * 256
  if mid <= lo then break end
  if fits(mid) then lo = mid else hi = mid end
end
if fits(hi) then lo = hi end

print(string.format("%s on %s (kv %s): the longest context that fits is %d tokens", model, devices, kv_type, lo))
print(select(2, fits(lo)))

-- confirm: load at that context and generate a few tokens
local r = sweep.run { model = model, runs = { { num_ctx = lo, devices = devices, num_gpu = all, kv_type = kv_type } },
  prompt = 16, num_predict = 4, repeats = 1 }
local row = r.rows[1]
assert(row.fits and not row.error, row.error or row.reason)
print(string.format("loaded at num_ctx %d: %.1f MiB allocated (planned %.1f MiB), %.1f tokens/s", lo,
  row.memory / 2^20, row.planned / 2^20, row.eval_rate))
return 0
