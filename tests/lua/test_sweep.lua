-- test_sweep.lua: tycho.sweep, tycho.results, tycho.recipe and `tycho bench`
-- on smollm2, kept tiny (2 cores): runs that fit and one the plan refuses,
-- a run that fails without stopping the sweep, resume from `out`, CSV/JSON/
-- markdown, best under constraints, an SVG that parses as XML with its
-- labels, a recipe and its lock rerun, the best settings as a Modelfile.
-- The quality and quant parts run once tycho.perplexity / tycho.quantized exist.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, checkerr = T.check, T.checkerr

local model = tycho.find("smollm2")
if not model then
  print("skip: smollm2 is not in the model cache")
  os.exit(77)
end
local sweep = require "tycho.sweep"
local results = require "tycho.results"
local recipe = require "tycho.recipe"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. T.quote(dir)))
local function clean() os.execute("rm -rf " .. T.quote(dir)) end

-- ------------------------------------------------ sweep.run
local out = dir .. "/runs.jsonl"
local seen = {}
local spec = { model = "smollm2", grid = { devices = { "cpu=1G,cpu=1G", "cpu=30M" }, num_gpu = { 10 } },
  runs = nil, settings = { num_ctx = 128, num_thread = 1 }, prompt = 8, num_predict = 4, repeats = 2,
  out = out, progress = function(i, n, config, eta) seen[#seen + 1] = { i, n, config, eta } end }
local r = sweep.run(spec)
check(#r == 2 and #seen == 2 and seen[2][2] == 2, "two runs, progress each")
local ok_row, no_row = r.rows[1], r.rows[2]
check(ok_row.fits == true and ok_row.eval_rate > 0 and ok_row.prompt_eval_rate > 0 and ok_row.ttft > 0,
  "measured: " .. tostring(ok_row.error))
check(ok_row.eval_rate_min <= ok_row.eval_rate and ok_row.eval_rate <= ok_row.eval_rate_max and
  #ok_row.samples.eval_rate == 2, "median and spread over 2 repeats")
check(#ok_row.plan == 2 and #ok_row.allocated == 2 and ok_row.plan[2].n_layers == 10, "per device plan and allocation")
check(ok_row.planned == ok_row.memory, "planned equals allocated")
check(ok_row.load_time > 0 and ok_row.prompt_tokens == 8 and ok_row.eval_count == 4, "load time, counts")
check(no_row.fits == false and no_row.reason:find("does not fit", 1, true) and no_row.eval_rate == nil,
  "refused by the plan, with the reason: " .. tostring(no_row.reason))

-- resume: a rerun measures nothing; an extra configuration runs alone
seen = {}
local r2 = sweep.run(spec)
check(#seen == 0 and #r2 == 2 and r2.rows[1].eval_rate == ok_row.eval_rate, "resume skips measured runs")
spec.grid.devices[3] = "cpu"
r2 = sweep.run(spec)
check(#seen == 1 and seen[1][1] == 3 and #r2 == 3, "resume runs only the new one")
spec.grid.devices[3] = nil
local lines = 0
for _ in io.lines(out) do lines = lines + 1 end
check(lines == 3, "one JSON line per run: " .. lines)
local back = assert(results.load(out))
check(#back == 3 and back.rows[1].key == ok_row.key and back.dims[1] == "devices", "results.load reads out")

-- a run that fails is recorded and the sweep goes on
local bad = sweep.run { model = "smollm2", runs = { { num_ctx = 64 }, { num_ctx = 96 } }, prompt = 100,
  num_predict = 2, repeats = 1, settings = { num_thread = 1 } }
check(bad.rows[1].error and bad.rows[2].error, "a prompt longer than num_ctx is an error row: " ..
  tostring(bad.rows[1].error))
check(bad.rows[1].error:find("do not fit num_ctx 64", 1, true), "says why: " .. tostring(bad.rows[1].error))
local mixed = sweep.run { model = "smollm2", runs = { { num_ctx = 16 }, { num_ctx = 128 } }, prompt = 24,
  num_predict = 2, repeats = 1, settings = { num_thread = 1 } }
check(mixed.rows[1].error and not mixed.rows[2].error and mixed.rows[2].eval_rate, "the next run still runs")
local missing = sweep.run { model = "no-such-model", runs = { {} }, repeats = 1 }
check(missing.rows[1].error:find("no-such-model", 1, true), "a missing model is an error row")

-- misuse raises
checkerr("unknown option 'repeat'", sweep.run, { model = "smollm2", ["repeat"] = 2 })
checkerr("grid: unknown setting 'ctx'", sweep.run, { model = "smollm2", grid = { ctx = { 1 } } })
checkerr("grid.num_ctx must be a non-empty list", sweep.run, { model = "smollm2", grid = { num_ctx = 512 } })
checkerr("'repeats' must be an integer >= 1", sweep.run, { model = "smollm2", repeats = 0 })
if not tycho.perplexity then
  checkerr("quality needs tycho.perplexity", sweep.run, { model = "smollm2", quality = { text = "/etc/hosts" } })
end

-- ------------------------------------------------ results
local csv = r:to_csv()
check(csv:match("^devices,num_gpu,num_ctx,num_thread,fits,reason,") and select(2, csv:gsub("\n", "")) == 3,
  "csv: header and two lines: " .. csv:sub(1, 80))
check(csv:find('"does not fit', 1, true) == nil or csv:find(',"', 1, true), "csv quotes fields with commas")
assert(r:to_csv(dir .. "/r.csv"))
check(T.read(dir .. "/r.csv") == csv, "to_csv(path)")
local j = tycho.json.decode(r:to_json())
check(#j == 2 and j[1].key == ok_row.key, "to_json parses back")
local md = r:to_markdown()
check(md:find("| devices | num_gpu |", 1, true) and md:find("no: does not fit", 1, true) and
  md:find("gen t/s", 1, true), "markdown: " .. md)
local best = r:best { maximize = "eval_rate", subject_to = { fits = true } }
check(best == ok_row, "best fits")
check(r:best { maximize = "eval_rate", subject_to = { max_memory = 1 } } == nil, "max_FIELD bound")
check(r:best { minimize = "ttft", subject_to = { devices = "cpu=1G,cpu=1G" } } == ok_row, "equality, minimize")
local fake = results.new { { num_ctx = 1, eval_rate = 10, ppl = 10.0, fits = true },
  { num_ctx = 2, eval_rate = 30, ppl = 12.0, fits = true }, { num_ctx = 3, eval_rate = 20, ppl = 10.4, fits = true },
  { num_ctx = 4, eval_rate = 99, fits = false } }
check(fake:best { maximize = "eval_rate", subject_to = { fits = true, max_ppl_increase = 0.05 } }.num_ctx == 3,
  "max_ppl_increase against the lowest perplexity")
checkerr("give one of 'maximize' or 'minimize'", r.best, r, {})

-- the plot: well-formed XML with labels, ticks and a legend
local svg = dir .. "/plot.svg"
local many = results.new { { quant = "Q4_0", num_ctx = 512, eval_rate = 30 }, { quant = "Q4_0", num_ctx = 1024, eval_rate = 25 },
  { quant = "Q8_0", num_ctx = 512, eval_rate = 20 }, { quant = "Q8_0", num_ctx = 1024, eval_rate = 18.5 } }
assert(many:plot(svg, { x = "num_ctx", y = "eval_rate", series = "quant" }))
local text = T.read(svg)
local _, _, rc = os.execute("python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' " .. T.quote(svg))
check(rc == 0, "the SVG parses as XML")
check(text:find("num_ctx (tokens)", 1, true) and text:find("eval_rate (tokens/s)", 1, true), "axis labels with units")
check(text:find("quant Q4_0", 1, true) and text:find("quant Q8_0", 1, true) and text:find('class="legend"', 1, true),
  "legend names the series")
check(text:find(">800<", 1, true) and text:find(">30<", 1, true), "ticks")
assert(r:plot(svg, { x = "devices", y = "memory" }))
check(T.read(svg):find("memory (MiB)", 1, true), "categorical x, bytes in MiB")
check(select(2, many:plot(svg, { x = "num_ctx", y = "ppl" })):find("no run has", 1, true), "nothing to plot")

-- ------------------------------------------------ recipes
local rp = dir .. "/speed.lua"
assert(recipe.write(r, rp))
local spec_back, lock = assert(recipe.load(rp))
check(spec_back.model == "smollm2" and spec_back.grid.num_gpu[1] == 10 and spec_back.out == nil, "the recipe's spec")
check(lock.tycho == tycho.version and lock.models[1].sha256 == tycho.sha256(model) and
  lock.devices[1].kind == "cpu" and #lock.results == 2, "the lock")
local new, list, n = recipe.run(rp, { print = false })
check(new and #new == 2 and #list >= 4, "recipe.run compares")
local fits_changed = false
for _, c in ipairs(list) do
  if c.figure == "allocated MiB" then check(not c.changed, "memory is the same") end
  if c.figure == "fits" then fits_changed = true end
end
check(not fits_changed and n >= 0, "fits unchanged")
check(recipe.changed({ x = 10, x_min = 9, x_max = 11 }, { x = 20, x_min = 19, x_max = 21 }, "x"), "beyond the spread")
check(not recipe.changed({ x = 10, x_min = 9, x_max = 11 }, { x = 11.5, x_min = 11, x_max = 12 }, "x"), "within")
local o, e, code = T.run({ "recipe", "run", rp, "--quiet" })
check(code == 0 and o:find("| configuration | figure | recorded | now |", 1, true) and
  o:find("changed beyond the measured spread", 1, true), "tycho recipe run: " .. o .. e)
o, e, code = T.run({ rp })
check(code == 0 and o:find("recorded", 1, true), "a recipe runs as a script: " .. e)
o, e, code = T.run({ "recipe", "run", dir .. "/none.lua" })
check(code == 1 and e:find("none.lua", 1, true), "a missing recipe: " .. e)

local mf, row = recipe.best(r, { maximize = "eval_rate", subject_to = { fits = true }, path = dir .. "/Modelfile" })
check(mf and row == ok_row, "recipe.best")
local parsed = assert(tycho.modelfile.read(dir .. "/Modelfile"))
check(parsed.from == "smollm2" and parsed.parameters.num_ctx == 128 and parsed.parameters.num_gpu == 10 and
  parsed.parameters.devices == "cpu=1G,cpu=1G", "the Modelfile: " .. tostring(mf))
mf = recipe.best(r, { maximize = "eval_rate", ollama = true })
check(not tostring(mf):find("devices", 1, true) and tostring(mf):find("PARAMETER num_thread 1", 1, true),
  "ollama = true leaves tycho's own parameters out")

-- ------------------------------------------------ tycho bench
o, e, code = T.run({ "bench", "smollm2", "-p", "8", "-n", "4", "-r", "2", "--warmup", "0", "-t", "1",
  "--num-ctx", "64,128", "--quiet" })
check(code == 0, "tycho bench: " .. e)
check(o:find("| model", 1, true) and o:find("| backend |", 1, true) and o:find("| threads |", 1, true) and
  o:find("| num_ctx |", 1, true) and o:find("t/s |", 1, true), "llama-bench columns: " .. o)
check(select(2, o:gsub("pp8", "")) == 2 and select(2, o:gsub("tg4", "")) == 2 and o:find("llama 135M Q4_1", 1, true)
  and o:find("%d+%.%d%d ± %d+%.%d%d"), "pp/tg rows with ± : " .. o)
o, e, code = T.run({ "bench", "smollm2", "-p", "8", "-n", "2", "-r", "1", "--warmup", "0", "-t", "1",
  "--num-ctx", "64", "--quiet", "-o", "csv" })
check(code == 0 and o:find("^num_ctx,num_thread,fits"), "bench -o csv: " .. o .. e)
o, e, code = T.run({ "bench", "smollm2", "--num-ctx", "x" })
check(code == 2 and e:find("--num-ctx needs integers", 1, true), "bad list: " .. e)
o, e, code = T.run({ "bench", "--help" })
check(code == 0 and o:find("usage: tycho bench", 1, true), "bench --help")

-- ------------------------------------------------ quality and quant (after the merge)
if tycho.perplexity then
  local q = sweep.run { model = "smollm2", runs = { { num_ctx = 128 } }, prompt = 8, num_predict = 2, repeats = 1,
    quality = { text = "/usr/share/common-licenses/GPL-3", num_ctx = 64, max_chunks = 2 } }
  check(q.rows[1].ppl and q.rows[1].ppl > 1, "perplexity in a sweep: " .. tostring(q.rows[1].error))
else
  print("skip part: tycho.perplexity is not in this build")
end
if tycho.quantized then
  local q = sweep.run { model = "smollm2", grid = { quant = { "Q4_1", "Q8_0" } }, settings = { num_ctx = 64 },
    prompt = 8, num_predict = 2, repeats = 1 }
  check(q.rows[1].path == model and q.rows[2].path ~= model and not q.rows[2].error, "a quant dimension")
else
  print("skip part: tycho.quantized is not in this build")
end

clean()
T.done()
