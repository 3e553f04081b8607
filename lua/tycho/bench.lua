-- bench.lua: `tycho bench MODEL [grid options]`, a sweep from the command
-- line printed as llama-bench prints its results: one row per test (pp N:
-- a prompt of N tokens; tg N: N tokens generated), t/s as mean ± standard
-- deviation over the repetitions. bench.main(args) returns the exit code.

local tycho = require "tycho"
local options = require "tycho.args"
local sweep = require "tycho.sweep"

local bench = {}

bench.usage = [[
usage: tycho bench MODEL [options]

a sweep of MODEL over every combination of the listed settings, each in a
fresh load, printed as llama-bench's table: pp N is a prompt of N tokens, tg N
is N tokens generated, t/s is the mean ± standard deviation of the repetitions.
A list is comma-separated (--num-ctx 512,1024), or the option repeated.

options:
  -p, --n-prompt N          prompt tokens (default 512; 0: no pp test)
  -n, --n-gen N             tokens generated (default 128; 0: no tg test)
  -r, --repetitions N       repetitions of each test (default 5)
  --warmup N                unmeasured runs first (default 1)
  -t, --num-thread LIST     threads (default: all cores)
  --num-ctx LIST            context lengths (default 2048, or the prompt plus generation when larger)
  --num-batch LIST          prompt tokens per forward chunk
  --kv-type LIST            f16, f32, q8_0, q4_0
  --num-gpu LIST            layers on the devices after the first (or auto)
  --devices LIST            a device list per run; repeat the option for several
                            (--devices cpu=1G,cpu=200M --devices cpu)
  --gpus LIST               virtual GPUs per run, repeated as --devices
  --quant LIST              quantization variants (Q8_0, Q4_K_M, ...)
  -o, --output FORMAT       md (default), csv, json or jsonl
  --out FILE                append each run to FILE (JSON lines) and resume from it
  --recipe FILE.lua         write the sweep as a recipe (and FILE.lock.json)
  --quiet                   no progress lines on stderr]]

local flags = {
  ["p"] = { "n_prompt", "int" }, ["n-prompt"] = { "n_prompt", "int" },
  ["n"] = { "n_gen", "int" }, ["n-gen"] = { "n_gen", "int" },
  ["r"] = { "repetitions", "count" }, ["repetitions"] = { "repetitions", "count" },
  ["warmup"] = { "warmup", "int" },
  ["t"] = { "num_thread", "list" }, ["num-thread"] = { "num_thread", "list" }, ["threads"] = { "num_thread", "list" },
  ["num-ctx"] = { "num_ctx", "list" }, ["ctx"] = { "num_ctx", "list" },
  ["num-batch"] = { "num_batch", "list" }, ["kv-type"] = { "kv_type", "list" },
  ["num-gpu"] = { "num_gpu", "list" }, ["devices"] = { "devices", "list" }, ["gpus"] = { "gpus", "list" },
  ["quant"] = { "quant", "list" },
  ["o"] = { "output", "str" }, ["output"] = { "output", "str" }, ["out"] = { "out", "str" },
  ["recipe"] = { "recipe", "str" }, ["quiet"] = { "quiet", "bool" },
  ["help"] = { "help", "bool" }, ["h"] = { "help", "bool" },
}

-- grid options whose values are numbers, split at commas; devices and gpus
-- hold commas themselves, so each occurrence is one value
local numeric = { num_thread = true, num_ctx = true, num_batch = true, num_gpu = true }
local split = { kv_type = true, quant = true }


local function fail(code, fmt, ...)
  io.stderr:write("tycho: ", string.format(fmt, ...), "\n")
  return code
end


-- The grid from the options, or nil and the problem.
local function grid_of(opts)
  local grid = {}
  for k, vals in pairs(opts) do
    if numeric[k] or split[k] or k == "devices" or k == "gpus" then
      local list = {}
      for _, v in ipairs(vals) do
        if numeric[k] or split[k] then
          for part in v:gmatch("[^,]+") do
            local x = part
            if numeric[k] and not (k == "num_gpu" and part == "auto") then x = math.tointeger(tonumber(part)) end
            if x == nil then return nil, string.format("--%s needs integers, got '%s'", (k:gsub("_", "-")), part) end
            list[#list + 1] = x
          end
        else
          list[#list + 1] = v
        end
      end
      grid[k] = list
    end
  end
  return grid
end


-- "llama 135M Q4_1", size in GiB and parameters in billions, as llama-bench shows them
local function describe(path)
  local info = tycho.info(path) or {}
  local p = info.parameters or 0
  local size = p >= 1e9 and string.format("%.0fB", p / 1e9) or string.format("%.0fM", p / 1e6)
  return string.format("%s %s %s", info.architecture or "?", size, info.quantization or "?"),
    string.format("%.2f GiB", (info.size or 0) / 2^30), string.format("%.2f B", p / 1e9)
end


-- The table rows: two tests per run (pp, tg) with the columns llama-bench has.
function bench.table(res, n_prompt, n_gen)
  local cols = { "model", "size", "params", "backend", "threads" }
  local extra = {}
  for _, d in ipairs(res.dims) do
    if d ~= "num_thread" then extra[#extra + 1] = d; cols[#cols + 1] = d end
  end
  cols[#cols + 1] = "test"
  cols[#cols + 1] = "t/s"
  local right = { size = true, params = true, threads = true, num_ctx = true, num_batch = true, num_gpu = true,
    ["t/s"] = true }
  local lines = {}
  local cores = tycho.devices()[1].threads
  for _, row in ipairs(res.rows) do
    local model, size, params = describe(row.path or tycho.find(row.model) or row.model)
    local backend = "CPU"
    for _, d in ipairs(row.plan or {}) do
      if d.name:find("^cuda") then backend = "CUDA" end
    end
    local base = { model = model, size = size, params = params, backend = backend,
      threads = tostring(row.num_thread or cores) }
    for _, d in ipairs(extra) do
      local v = row[d]
      base[d] = type(v) == "table" and table.concat(v, ",") or v == nil and "" or tostring(v)
    end
    local tests = {}
    if n_prompt > 0 then tests[#tests + 1] = { "pp" .. n_prompt, "prompt_eval_rate" } end
    if n_gen > 0 then tests[#tests + 1] = { "tg" .. n_gen, "eval_rate" } end
    for _, t in ipairs(tests) do
      local r = {}
      for k, v in pairs(base) do r[k] = v end
      r.test = t[1]
      local mean = row[t[2] .. "_mean"]
      r["t/s"] = row.error and ("error: " .. row.error) or row.fits == false and "does not fit"
        or mean and string.format("%.2f ± %.2f", mean, row[t[2] .. "_sd"]) or ""
      lines[#lines + 1] = r
    end
  end
  -- widths as llama-bench: at least the header, model 30, t/s 16
  local width = {}
  for _, c in ipairs(cols) do
    width[c] = math.max(utf8.len(c), c == "model" and 30 or c == "t/s" and 16 or c == "size" and 10 or 0)
    for _, r in ipairs(lines) do width[c] = math.max(width[c], utf8.len(r[c]) or #r[c]) end
  end
  local function pad(c, s)
    local fill = string.rep(" ", width[c] - (utf8.len(s) or #s))
    return right[c] and fill .. s or s .. fill
  end
  local out = {}
  local h, rule = {}, {}
  for i, c in ipairs(cols) do
    h[i] = pad(c, c)
    rule[i] = string.rep("-", width[c] - (right[c] and 1 or 0)) .. (right[c] and ":" or "")
  end
  out[1] = "| " .. table.concat(h, " | ") .. " |"
  out[2] = "| " .. table.concat(rule, " | ") .. " |"
  for _, r in ipairs(lines) do
    local t = {}
    for i, c in ipairs(cols) do t[i] = pad(c, r[c]) end
    out[#out + 1] = "| " .. table.concat(t, " | ") .. " |"
  end
  return table.concat(out, "\n") .. "\n"
end


function bench.main(args)
  local opts, rest = options.parse(args, flags)
  if not opts then return fail(2, "%s (see tycho bench --help)", rest) end
  if opts.help then print(bench.usage); return 0 end
  if #rest ~= 1 then return fail(2, "bench: a model is needed (see tycho bench --help)") end
  local grid, err = grid_of(opts)
  if not grid then return fail(2, "bench: %s", err) end
  local n_prompt, n_gen = opts.n_prompt or 512, opts.n_gen or 128
  if n_prompt < 0 or n_gen < 0 then return fail(2, "bench: -p and -n must be >= 0") end
  local output = opts.output or "md"
  if not ({ md = true, csv = true, json = true, jsonl = true })[output] then
    return fail(2, "bench: --output must be md, csv, json or jsonl, got '%s'", output)
  end
  if not tycho.find(rest[1]) then return fail(1, "%s", select(2, tycho.find(rest[1]))) end
  -- the context must hold the test; llama-bench sizes it the same way
  if not grid.num_ctx and n_prompt + n_gen + 2 > 2048 then grid.num_ctx = { n_prompt + n_gen + 2 } end
  local ok, res = pcall(sweep.run, { model = rest[1], grid = grid, prompt = n_prompt, num_predict = n_gen,
    repeats = opts.repetitions or 5, warmup = opts.warmup or 1, out = opts.out, recipe = opts.recipe,
    progress = not opts.quiet })
  if not ok then return fail(1, "%s", tostring(res):gsub("^[^:]*:%d+: ", "")) end
  if output == "md" then io.write(bench.table(res, n_prompt, n_gen))
  elseif output == "csv" then io.write(res:to_csv())
  elseif output == "json" then io.write(res:to_json())
  else
    for _, row in ipairs(res.rows) do print(tycho.json.encode(row)) end
  end
  for _, row in ipairs(res.rows) do
    if row.error then return 1 end
  end
  return 0
end

return bench
