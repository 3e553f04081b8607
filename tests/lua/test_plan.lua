-- test_plan.lua: tycho.plan(model, opts) and `tycho plan` as a user types it:
-- the table's fields, that it prints as the per-device table, --json that
-- parses back, refusals with alternatives, and errors (bad options raise,
-- a missing model returns nil, msg). Runs under the tycho program.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

if tycho.plan == nil then
  print("skip: tycho.plan is not registered (ltycho.c calls ty_lua_plan_open)")
  os.exit(77)
end

local tycho_cmd = T.run

local model = tycho.find("smollm2")
if not model then
  print("skip: smollm2 is not in the model cache")
  os.exit(77)
end

-- ------------------------------------------------ tycho.plan
do
  local p = assert(tycho.plan(model, { num_ctx = 2048, devices = "cpu" }))
  check(p.fits == true, "smollm2 fits one cpu")
  check(#p.devices == 1 and p.devices[1].name == "cpu", "one device")
  local d = p.devices[1]
  check(d.first_layer == 0 and d.last_layer == p.model.n_layer - 1 and d.input and d.output_layer,
    "the cpu holds everything")
  check(d.weights == p.model.weights, "weights = the tensor table's sum")
  -- predicted equals what tycho.load allocates (m:info().memory)
  local m <close> = assert(tycho.load(model, { num_ctx = 2048, num_thread = 1 }))
  local mem = m:info().memory
  check(d.weights == mem.weights and d.kv == mem.kv and d.compute + d.output == mem.compute and
    d.host == mem.host, string.format("predicted %d/%d/%d/%d, allocated %d/%d/%d/%d", d.weights,
    d.kv, d.compute + d.output, d.host, mem.weights, mem.kv, mem.compute, mem.host))
  check(p.totals.used == d.used, "totals")
  check(p.settings.num_ctx == 2048 and p.settings.kv_type == "f16" and p.settings.num_gpu == "auto",
    "settings echo")
  local text = tostring(p)
  check(text:find("device", 1, true) and text:find("fits", 1, true) and text:find("kv cache", 1, true),
    "prints as the table: " .. text)
  check(tostring(tycho.plan(model, { devices = "cpu" })) == tostring(tycho.plan(model, { devices = "cpu" })),
    "deterministic")

  -- virtual devices: two cpus, num_gpu layers on the second
  p = assert(tycho.plan(model, { devices = { "cpu=1G", "cpu=1G" }, num_gpu = 10 }))
  check(#p.devices == 2 and p.num_gpu == 10 and p.devices[2].n_layers == 10, "num_gpu 10 on the second cpu")
  check(p.devices[2].last_layer == p.model.n_layer - 1 and p.devices[1].output_layer, "the last 10")

  -- virtual GPUs: auto offloads everything, reserve counted
  p = assert(tycho.plan(model, { gpus = "24G,24G" }))
  check(#p.devices == 3 and p.devices[2].kind == "cuda" and p.devices[3].name == "cuda:1", "gpus shorthand")
  check(p.num_gpu == p.model.n_layer + 1 and p.devices[2].overhead > 0, "auto offloads all")
  p = assert(tycho.plan(model, { gpus = "24G,24G", split = { 1, 3 }, num_gpu = "auto" }))
  check(p.devices[3].n_layers > p.devices[2].n_layers, "split 1:3")

  -- a refusal: too small, with alternatives that fit
  -- (f16 cache at 8192: 30 x 2 x 8192 x 192 x 2 = 180 MiB; q4_0: 50.6 MiB)
  p = assert(tycho.plan(model, { devices = "cpu=200M", num_ctx = 8192 }))
  check(p.fits == false and p.devices[1].free < 0, "200M is too small at 8k")
  check(p.alternatives.num_ctx and p.alternatives.num_ctx < 8192, "a smaller num_ctx fits")
  local q = assert(tycho.plan(model, { devices = "cpu=200M", num_ctx = p.alternatives.num_ctx }))
  check(q.fits, "the alternative num_ctx fits")
  check(p.alternatives.kv_type == "q4_0", "a lighter kv type: " .. tostring(p.alternatives.kv_type))
  check(tostring(p):find("does not fit", 1, true), "the table says so")

  -- errors: misuse raises, a missing model returns nil, msg
  checkerr("unknown option 'ctx'", tycho.plan, model, { ctx = 1 })
  checkerr("unknown device 'gpu'", tycho.plan, model, { devices = "gpu=1G" })
  checkerr("num_gpu", tycho.plan, model, { num_gpu = "many" })
  checkerr("kv_type", tycho.plan, model, { kv_type = "q5" })
  checkerr("a size (cuda:9=24G)", tycho.plan, model, { devices = { "cpu", "cuda:9" } })
  local r, msg = tycho.plan("/nonexistent/model.gguf")
  check(r == nil and type(msg) == "string" and msg:find("nonexistent", 1, true), "missing model: " .. tostring(msg))
  r, msg = tycho.plan(model, { gpus = "24G", split = { 1, 2 } })
  check(r == nil and msg:find("split", 1, true), "split count: " .. tostring(msg))
end

-- ------------------------------------------------ tycho plan
do
  local out, err, rc = tycho_cmd({ "plan", model, "--num-ctx", "4096", "--gpus", "24G,24G" })
  check(rc == 0 and out:find("cuda:1", 1, true) and out:find("fits", 1, true), "tycho plan: " .. out .. err)
  out, err, rc = tycho_cmd({ "plan", model, "--devices=cpu=1G,cpu=1G", "--num-gpu", "5", "--json" })
  local j = rc == 0 and tycho.json.decode(out)
  check(j and j.num_gpu == 5 and #j.devices == 2 and j.devices[2].n_layers == 5, "--json parses: " .. out .. err)
  out, err, rc = tycho_cmd({ "plan", model, "--devices", "cpu=100M", "--num-ctx", "65536" })
  check(rc == 1 and out:find("would fit", 1, true), "refusal exits 1: " .. out .. err)
  out, err, rc = tycho_cmd({ "plan", model, "--kv-type", "q8_0", "--num-batch", "64", "--parallel", "2" })
  check(rc == 0 and out:find("q8_0", 1, true) and out:find("parallel 2", 1, true), "kv type and parallel: " .. out .. err)
  out, err, rc = tycho_cmd({ "plan", model, "--devices", "cuda:0=4X" })
  check(rc == 2 and err:find("bad size '4X'", 1, true) and not err:find("\n.", 1), "bad device: " .. err)
  out, err, rc = tycho_cmd({ "plan" })
  check(rc == 2 and err:find("a model is needed", 1, true), "no model: " .. err)
  out, err, rc = tycho_cmd({ "plan", model, "--num-gpu", "x" })
  check(rc == 2 and err:find("integer or auto", 1, true), "bad num-gpu: " .. err)
  out, err, rc = tycho_cmd({ "plan", "/nonexistent.gguf" })
  check(rc == 1 and err:find("nonexistent", 1, true), "missing model: " .. err)
  out, err, rc = tycho_cmd({ "plan", "--help" })
  check(rc == 0 and out:find("usage: tycho plan", 1, true), "help")
end

T.done()
