-- test_create.lua: `tycho create` and tycho.create (FROM a path, a cache name,
-- a stored model, Ollama's store), inherited layers, show --modelfile read
-- back, the manifest and its digests, a bad Modelfile leaving nothing, and
-- `tycho run` applying the layers (template, system, params, messages), and
-- run pulling a registry name that is not in the store. Everything happens
-- in a TYCHO_HOME of its own, with a small random synthetic model.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, q = T.check, T.quote

if not tycho.list() then
  print("skip: built without the store")
  os.exit(77)
end

-- the test runs again under its own TYCHO_HOME and OLLAMA_MODELS, so that
-- tycho.show and tycho.create here see the same store as the commands
local tmp = os.getenv("TYCHO_CREATE_TEST")
if not tmp then
  tmp = os.tmpname()
  os.remove(tmp)
  local ok, _, code = os.execute("env TYCHO_CREATE_TEST=" .. q(tmp) .. " TYCHO_HOME=" .. q(tmp .. "/home") ..
    " OLLAMA_MODELS=" .. q(tmp .. "/ollama") .. " " .. q(arg[-1]) .. " " .. q(arg[0]))
  os.execute("rm -rf " .. q(tmp))
  os.exit(ok and 0 or code)
end
local home, oll = tmp .. "/home", tmp .. "/ollama"
local store = home .. "/models"
os.execute("mkdir -p " .. q(store) .. " " .. q(oll))

local function write(path, data)
  os.execute("mkdir -p " .. q(path:match("^(.*)/")))
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("a")
  p:close()
  return s
end

local function sha256(path) return "sha256:" .. sh("sha256sum " .. q(path)):match("^(%x+)") end

-- Runs tycho with args under the test's store.
local function tycho_run(args, extra_env)
  local cmd = "env TYCHO_HOME=" .. q(home) .. " OLLAMA_MODELS=" .. q(oll) .. " " .. (extra_env or "") ..
    " " .. q(arg[-1])
  for _, a in ipairs(args) do cmd = cmd .. " " .. q(a) end
  local errf = os.tmpname()
  local p = io.popen(cmd .. " </dev/null 2>" .. q(errf))
  local out = p:read("a")
  local _, _, rc = p:close()
  local err = T.read(errf) or ""
  os.remove(errf)
  return out, err, rc
end

local function blobs() return sh("ls " .. q(store .. "/blobs") .. " 2>/dev/null | sort") end

-- a small model: smollm2's shapes with random weights, in a folder of its own
local gguf = tmp .. "/src/tiny.gguf"
os.execute("mkdir -p " .. q(tmp .. "/src"))
assert(tycho.synth("smollm2", "135M", "Q4_0", gguf, { random = true }))
local gdigest = sha256(gguf)

-- 1. FROM a path relative to the Modelfile, every layer
write(tmp .. "/src/Modelfile", [[
FROM ./tiny.gguf
TEMPLATE """{{ if .System }}[S]{{ .System }}[/S]{{ end }}[U]{{ .Prompt }}[A]"""
SYSTEM You answer tersely.
PARAMETER temperature 0
PARAMETER num_ctx 128
PARAMETER num_predict 3
PARAMETER stop "[U]"
MESSAGE user first question
MESSAGE assistant first answer
LICENSE MIT License
]])
local out, err, rc = tycho_run { "create", "demo", "-f", tmp .. "/src/Modelfile" }
check(rc == 0 and out == "success\n", "create from a path: " .. err)
check(err:find("copying file", 1, true) and err:find("writing manifest", 1, true),
  "create prints Ollama's steps: " .. err)

-- the manifest reads back (ty_store_manifest through tycho.show) and every digest is its blob's
local mpath = store .. "/manifests/registry.ollama.ai/library/demo/latest"
local man = tycho.json.decode(T.read(mpath))
check(man.schemaVersion == 2 and man.mediaType == "application/vnd.docker.distribution.manifest.v2+json",
  "a Docker v2 manifest")
local want = { "model", "template", "system", "license", "params", "messages" }
for i, l in ipairs(man.layers) do
  check(l.mediaType == "application/vnd.ollama.image." .. want[i], "layer " .. i .. " is " .. l.mediaType)
end
check(#man.layers == #want, "six layers")
check(man.layers[1].digest == gdigest, "the model layer is the file's SHA-256")
for _, l in ipairs { man.config, table.unpack(man.layers) } do
  local p = store .. "/blobs/sha256-" .. l.digest:sub(8)
  check(sha256(p) == l.digest, "blob " .. l.digest .. " matches its digest")
  check(#T.read(p) == l.size, "blob " .. l.digest .. " has its size")
end
local cfg = tycho.json.decode(T.read(store .. "/blobs/sha256-" .. man.config.digest:sub(8)))
check(cfg.model_format == "gguf" and cfg.model_family == "llama" and cfg.file_type == "Q4_0" and
  cfg.model_type == "134.52M" and cfg.rootfs.type == "layers" and #cfg.rootfs.diff_ids == 6,
  "the config is Ollama's ConfigV2: " .. tycho.json.encode(cfg))
local params = T.read(store .. "/blobs/sha256-" .. man.layers[5].digest:sub(8))
check(params == '{"num_ctx":128,"num_predict":3,"stop":["[U]"],"temperature":0}\n', "the params layer as Ollama writes it: " .. params)

local s = assert(tycho.show("demo"))
check(s.system == "You answer tersely." and s.params.num_predict == 3 and s.license == "MIT License" and
  #s.messages == 2 and s.messages[2].content == "first answer", "tycho.show gives the layers")

-- 2. show --modelfile parses back to the same Modelfile
out, err, rc = tycho_run { "show", "demo", "--modelfile" }
check(rc == 0 and out:find('^# Modelfile generated by "tycho show"'), "show --modelfile header: " .. out .. err)
local back = tycho.modelfile.parse(out)
local orig = tycho.modelfile.read(tmp .. "/src/Modelfile")
check(back.from == store .. "/blobs/sha256-" .. gdigest:sub(8), "FROM is the blob's path: " .. tostring(back.from))
for _, k in ipairs { "template", "system", "license" } do
  check(back[k] == orig[k], "show --modelfile keeps " .. k .. ": " .. tostring(back[k]))
end
check(tycho.json.encode(back.parameters) == tycho.json.encode(orig.parameters), "and the parameters")
check(tycho.json.encode(back.messages) == tycho.json.encode(orig.messages), "and the messages")
-- and that printed Modelfile creates the same model again
write(tmp .. "/again", out)
out, err, rc = tycho_run { "create", "again", "-f", tmp .. "/again" }
check(rc == 0, "the printed Modelfile creates a model: " .. err)
check(T.read(store .. "/manifests/registry.ollama.ai/library/again/latest") == T.read(mpath),
  "... with the same manifest")

-- 3. FROM a stored model: its layers are inherited, the model blob is not copied again
local before = blobs()
write(tmp .. "/child", "FROM demo\nSYSTEM Be verbose.\nPARAMETER top_k 7\nPARAMETER temperature 0.5\n")
out, err, rc = tycho_run { "create", "child", "-f", tmp .. "/child" }
check(rc == 0 and not err:find("copying", 1, true), "create from a stored model, nothing copied: " .. err)
s = assert(tycho.show("child"))
check(s.template == orig.template and s.license == "MIT License" and #s.messages == 2,
  "template, license and messages are inherited")
check(s.system == "Be verbose.", "SYSTEM replaces the inherited one")
check(s.params.top_k == 7 and s.params.temperature == 0.5 and s.params.num_predict == 3 and
  s.params.stop[1] == "[U]", "params merge key by key: " .. tycho.json.encode(s.params))
local added = 0
for _ in (sh("ls " .. q(store .. "/blobs") .. " | sort") .. ""):gmatch("[^\n]+") do added = added + 1 end
for _ in before:gmatch("[^\n]+") do added = added - 1 end
check(added == 3, "only the system, params and config blobs are new (" .. added .. ")")

-- 4. FROM a cache name, and tycho.create from a table in Lua
os.execute("cp " .. q(gguf) .. " " .. q(store .. "/tinycache.gguf"))
write(tmp .. "/cache", "FROM tinycache\n")
out, err, rc = tycho_run { "create", "fromcache", "-f", tmp .. "/cache" }
check(rc == 0, "create from a cache name: " .. err)
local lua = tmp .. "/create.lua"
write(lua, [[
local tycho = require "tycho"
local steps = {}
assert(tycho.create("fromtable", { from = "demo", parameters = { seed = 42 } },
  { progress = function(s) steps[#steps + 1] = s end }))
assert(steps[#steps] == "writing manifest", steps[#steps])
print(tycho.show("fromtable").params.seed)
]])
out, err, rc = tycho_run { lua }
check(rc == 0 and out == "42\n", "tycho.create from a table: " .. out .. err)

-- 5. FROM a model in Ollama's store: its blobs are copied in, Ollama's store is not written
os.execute("mkdir -p " .. q(oll .. "/blobs"))
local ocfg = oll .. "/blobs/cfg"
write(ocfg, "{}")
local ocd = sha256(ocfg)
os.rename(ocfg, oll .. "/blobs/sha256-" .. ocd:sub(8))
local otext = oll .. "/blobs/t"
write(otext, "{{ .Prompt }}!")
local otd = sha256(otext)
os.rename(otext, oll .. "/blobs/sha256-" .. otd:sub(8))
os.execute("cp " .. q(gguf) .. " " .. q(oll .. "/blobs/sha256-" .. gdigest:sub(8)))
write(oll .. "/manifests/registry.ollama.ai/library/ollm/latest", tycho.json.encode {
  schemaVersion = 2, mediaType = "application/vnd.docker.distribution.manifest.v2+json",
  config = { mediaType = "application/vnd.docker.container.image.v1+json", digest = ocd, size = 2 },
  layers = { { mediaType = "application/vnd.ollama.image.model", digest = gdigest, size = man.layers[1].size },
    { mediaType = "application/vnd.ollama.image.template", digest = otd, size = 14 } } })
local olist = sh("find " .. q(oll) .. " -type f | sort")
write(tmp .. "/oll", "FROM ollm\nSYSTEM hi\n")
out, err, rc = tycho_run { "create", "fromollama", "-f", tmp .. "/oll" }
check(rc == 0 and tycho.show("fromollama").template == "{{ .Prompt }}!", "create from Ollama's store: " .. err)
check(T.read(store .. "/blobs/sha256-" .. otd:sub(8)) == "{{ .Prompt }}!", "its template blob copied in")
check(sh("find " .. q(oll) .. " -type f | sort") == olist, "Ollama's store untouched")

-- 6. bad Modelfiles: a line-numbered error and nothing in the store
before = blobs()
local bad = {
  { "FROM ./tiny.gguf\nPARAMETER num_cxt 5\n", "Modelfile:2: unknown parameter 'num_cxt'" },
  { "FROM ./tiny.gguf\nPARAMETER temperature hot\n", "Modelfile:2:" },
  { "FROM ./tiny.gguf\nBADCOMMAND x\n", "Modelfile:2: unknown instruction" },
  { "FROM ./tiny.gguf\nADAPTER ./lora.gguf\n", "Modelfile:2: ADAPTER is not supported yet" },
  { "FROM ./tiny.gguf\nTEMPLATE {{ .Prompt\n", "Modelfile:2: TEMPLATE:" },
  { "FROM ./nothere.gguf\n", "Modelfile:1: FROM ./nothere.gguf is neither" },
}
for _, b in ipairs(bad) do
  write(tmp .. "/src/Modelfile", b[1])
  out, err, rc = tycho_run { "create", "broken", "-f", tmp .. "/src/Modelfile" }
  check(rc ~= 0 and err:find(b[2]:gsub("^Modelfile", tmp .. "/src/Modelfile"), 1, true) and
    select(2, err:gsub("tycho create:", "")) == 1, "bad Modelfile '" .. b[1]:gsub("\n", "|") .. "': " .. err)
end
check(blobs() == before and not T.read(store .. "/manifests/registry.ollama.ai/library/broken/latest"),
  "a bad Modelfile leaves nothing in the store")

-- 7. tycho run applies the layers: template, system, messages, params (command line wins)
out, err, rc = tycho_run { "run", "demo", "Hi", "--format", "json" }
local r = rc == 0 and tycho.json.decode(out)
check(r and r.eval_count == 3 and r.done_reason == "length", "PARAMETER num_predict 3 honoured: " .. out .. err)
out, err, rc = tycho_run { "run", "demo", "Hi", "--format", "json", "-n", "5" }
r = rc == 0 and tycho.json.decode(out)
check(r and r.eval_count == 5, "the command line wins over the params layer: " .. out .. err)
local a1 = tycho_run { "run", "demo", "Hi" }
local a2 = tycho_run { "run", "demo", "Hi" }
check(#a1 > 0 and a1 == a2, "temperature 0 from the params layer: the same answer twice")
write(lua, [[
local tycho = require "tycho"
local s = tycho.show("demo")
local m <close> = assert(tycho.load(s.path, { num_ctx = 128 }))
m:set_template(s.template)
local msgs = { table.unpack(s.messages) }
msgs[#msgs + 1] = { role = "user", content = "Hi" }
io.write(m:render(msgs, { system = s.system }))
]])
out, err, rc = tycho_run { lua }
check(out == "[S]You answer tersely.[/S][U]first question[A]first answer[U]Hi[A]",
  "the template, system and messages render the prompt: " .. out .. err)
-- run renders the conversation through the layers; --raw sends the prompt alone
out = tycho_run { "run", "demo", "Hi", "--format", "json", "--raw" }
local raw = tycho.json.decode(out)
out = tycho_run { "run", "demo", "Hi", "--format", "json" }
local full = tycho.json.decode(out)
check(raw and full and full.prompt_eval_count > raw.prompt_eval_count + 10,
  "run sends the rendered conversation, --raw the prompt alone")

T.done()
