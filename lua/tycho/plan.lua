-- plan.lua: `tycho plan MODEL [options]`: the memory plan per device, from
-- the model's header alone (no weights are read), as a table or JSON.
-- plan.main(args) returns the exit code: 0 fits, 1 does not fit or cannot
-- be planned, 2 a usage error. cli.lua dispatches `plan` here.

local tycho = require "tycho"
local options = require "tycho.args"

local plan = {}

plan.usage = [[
usage: tycho plan MODEL [options]

the memory plan per device, without loading weights: which layers each
device holds and the bytes of weights, kv cache, compute scratch, output,
runtime overhead and what stays free. Sizes are binary: 1G = 2^30 bytes.

options:
  --num-ctx N, --ctx N      context length in tokens (default 2048)
  --num-batch N             tokens per forward chunk (default 512)
  --kv-type T               f16 (default), f32, q8_0 or q4_0
  --parallel N              sequences, each with its own cache (default 1)
  --devices LIST            cpu, cpu=2G, cuda:0=40G, ... comma-separated
  --gpus SIZES              virtual GPUs cuda:0..n-1: --gpus 24G,24G
  --num-gpu N|auto          layers on the GPUs, the output layer counting as
                            one (Ollama's num_gpu; default auto: as many as fit)
  --split A,B,...           proportions of the offloaded layers per GPU
  --json                    print the plan as JSON

exit status: 0 fits, 1 does not fit (the table says what would), 2 usage]]

local flags = {
  ["num-ctx"] = { "num_ctx", "count" }, ["ctx"] = { "num_ctx", "count" },
  ["num-batch"] = { "num_batch", "count" }, ["kv-type"] = { "kv_type", "str" },
  ["parallel"] = { "parallel", "count" }, ["devices"] = { "devices", "str" },
  ["gpus"] = { "gpus", "str" }, ["num-gpu"] = { "num_gpu", "gpu" },
  ["split"] = { "split", "split" }, ["json"] = { "json", "bool" },
  ["help"] = { "help", "bool" }, ["h"] = { "help", "bool" },
}


-- Parses the command line into (model, opts, json), (nil, message), or
-- (nil, nil, nil, true) for --help.
function plan.parse(list)
  local opts, rest = options.parse(list, flags)
  if not opts then return nil, rest end
  if opts.help then return nil, nil, nil, true end
  local json = opts.json or false
  opts.json, opts.help = nil, nil
  if #rest ~= 1 then
    return nil, #rest == 0 and "a model is needed" or "one model at a time"
  end
  return rest[1], opts, json
end


function plan.main(list)
  local model, opts, json, help = plan.parse(list)
  if help then
    print(plan.usage)
    return 0
  end
  if not model then
    io.stderr:write("tycho plan: ", opts, "\n", plan.usage, "\n")
    return 2
  end
  local ok, p, msg = pcall(tycho.plan, model, opts)
  if not ok then                       -- a bad option value: one line
    io.stderr:write("tycho plan: ", tostring(p):gsub("^[^:]*:%d+: ", ""), "\n")
    return 2
  end
  if not p then
    io.stderr:write("tycho plan: ", msg, "\n")
    return 1
  end
  if json then
    print(tycho.json.encode(p, { indent = true }))
  else
    io.write(tostring(p))
  end
  return p.fits and 0 or 1
end


return plan
