-- memory_example.lua: the worked example of docs/memory.md, produced by tycho:
-- llama3.3:70b Q4_K_M (a sparse synthetic file with the real tensor table)
-- planned at four context lengths on 1x80G, 2x48G and 4x24G GPUs.
--   build/tycho scripts/memory_example.lua [/tmp/llama70b-q4km.gguf]
local tycho = require "tycho"
local path = arg[1] or "/tmp/llama70b-q4km.gguf"
assert(tycho.synth("llama", "70B", "Q4_K_M", path))
local G = 2 ^ 30
local function gib(b) return string.format("%.1f", b / G) end

print("| GPUs | num_ctx | per GPU: layers, used GiB (weights + kv + compute + reserve) | GPU total GiB | fits |")
print("|---|---|---|---|---|")
for _, gpus in ipairs { "80G", "48G,48G", "24G,24G,24G,24G" } do
  for _, ctx in ipairs { 2048, 8192, 32768, 131072 } do
    local p = assert(tycho.plan(path, { num_ctx = ctx, gpus = gpus }))
    local cells, total = {}, 0
    for _, d in ipairs(p.devices) do
      if d.kind == "cuda" then
        if d.n_layers > 0 or d.output_layer then
          cells[#cells + 1] = string.format("%s: %d-%d%s, %s (%s + %s + %s + %s)", d.name:match("^[^=]+"),
            d.first_layer, d.last_layer, d.output_layer and "+out" or "", gib(d.used), gib(d.weights),
            gib(d.kv), gib(d.compute + d.output), gib(d.overhead))
        else
          cells[#cells + 1] = d.name:match("^[^=]+") .. ": idle"
        end
        total = total + d.used
      end
    end
    print(string.format("| %s | %d | %s | %s | %s |", gpus, ctx, table.concat(cells, "; "), gib(total),
      p.fits and "yes" or "no"))
  end
end
os.remove(path)
