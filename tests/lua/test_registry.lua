-- test_registry.lua: pulls from a registry this test starts on 127.0.0.1
-- (tests/registry_server.py): plain, resumed, corrupted, 404/401/429/500,
-- parallel parts, plan before pull, two pulls at once, a stall, a full disk,
-- bad manifests and names; then list/show/rm, a model in a pre-populated
-- Ollama-layout folder that runs, and pulls of a .gguf by URL. Each tycho runs as a child process with its
-- own TYCHO_HOME, so nothing touches the user's store.

local tycho = require "tycho"
local src = os.getenv("TYCHO_SOURCE_DIR") or "."
local T = dofile(src .. "/tests/lua/check.lua")
local check, q = T.check, T.quote

local ok, msg = tycho.list()
if not ok and msg:find("without the model store", 1, true) then
  print("skipping: built without the store (TYCHO_CURL=OFF)")
  os.exit(77)
end
if not os.execute("python3 -c pass 2>/dev/null") then
  print("skipping: no python3 for the test registry")
  os.exit(77)
end

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp .. "/reg/blobs") .. " " .. q(tmp .. "/home")))
local reg, home = tmp .. "/reg", tmp .. "/home"

local write, sh, sha256 = T.write, T.sh, T.sha256

local function exists(path) return os.execute("test -e " .. q(path)) == true end

-- Puts data (or the file at path) in the registry as a blob; returns its layer.
local function blob(media, data, path)
  local tmpf = reg .. "/blobs/new"
  if path then os.execute("cp " .. q(path) .. " " .. q(tmpf)) else write(tmpf, data) end
  local d = sha256(tmpf)
  local size = tonumber(sh("stat -c %s " .. q(tmpf)))
  os.rename(tmpf, reg .. "/blobs/sha256-" .. d:sub(8))
  return { mediaType = media, digest = d, size = size }
end

local function manifest(name, layers, text)
  local config = blob("application/vnd.docker.container.image.v1+json", '{"model_format":"gguf"}')
  write(reg .. "/manifests/library/" .. name .. "/latest", text or tycho.json.encode {
    schemaVersion = 2, mediaType = "application/vnd.docker.distribution.manifest.v2+json",
    config = config, layers = layers })
end

local function config(t) write(reg .. "/config.json", tycho.json.encode(t)) end

local function stats()
  local f = io.open(reg .. "/stats.json")
  if not f then return { storage_bytes = 0, requests = {} } end
  local s = tycho.json.decode(f:read("a"))
  f:close()
  return s
end

-- The test models: a 3 MB "model" layer for the protocol cases (a pull does
-- not parse it), and a synthetic smollm2 (a sparse 90 MB GGUF) for show/plan.
local parts = {}
for i = 1, 3 * 1024 * 16 do parts[i] = string.format("%063d\n", i * 7919) end
local big = table.concat(parts)
local model = blob("application/vnd.ollama.image.model", big)
local template = blob("application/vnd.ollama.image.template", "{{ .Prompt }}")
local params = blob("application/vnd.ollama.image.params", '{"stop":["<|im_end|>"],"temperature":0.2}')
local license = blob("application/vnd.ollama.image.license", "Apache License\nVersion 2.0\n")
manifest("tiny", { model, template, params, license })
assert(tycho.synth("smollm2", "135M", "Q4_0", tmp .. "/synth.gguf"))
manifest("synth", { blob("application/vnd.ollama.image.model", nil, tmp .. "/synth.gguf"), template })

-- the registry
os.execute("python3 " .. q(src .. "/tests/registry_server.py") .. " " .. q(reg) ..
  " >/dev/null 2>&1 & echo $! > " .. q(tmp .. "/pid"))
local pid = T.read(tmp .. "/pid"):match("%d+")
for _ = 1, 100 do
  if exists(reg .. "/port") then break end
  os.execute("sleep 0.1")
end
local port = T.read(reg .. "/port")
assert(port, "the test registry did not start")
local base = "http://127.0.0.1:" .. port

-- Runs tycho with args under the test's store; returns stdout, stderr, exit status.
local function tycho_run(args, env, prefix)
  return T.run(args, nil, (prefix or "") .. "env TYCHO_HOME=" .. q(home) .. " TYCHO_REGISTRY=" ..
    q(base) .. " OLLAMA_MODELS=" .. q(env or tmp .. "/no-ollama") .. " ")
end

-- Runs a Lua snippet under the test's store (tycho.pull with options).
local function lua(code, prefix)
  local f0 = os.tmpname()
  local f = f0 .. ".lua"
  os.remove(f0)
  write(f, "local tycho = require 'tycho'\n" .. code)
  local out, err, rc = tycho_run({ f }, nil, prefix)
  os.remove(f)
  return out, err, rc
end

local store = home .. "/models"
local mpath = store .. "/manifests/registry.ollama.ai/library/"
local function blob_in_store(l) return exists(store .. "/blobs/sha256-" .. l.digest:sub(8)) end
local function leftovers() return sh("ls " .. q(store .. "/blobs") .. " 2>/dev/null | grep -c -e partial -e lock -e tmp || true"):match("%d+") end

-- 1. a plain pull, through a Bearer challenge; again: nothing fetched twice
config { auth = true }
local out, err, rc = tycho_run { "pull", "tiny" }
check(rc == 0 and out == "success\n", "plain pull: " .. out .. err)
check(exists(mpath .. "tiny/latest"), "the manifest is in the store")
check(blob_in_store(model) and blob_in_store(license), "the blobs are in the store")
check(leftovers() == "0", "no partial or lock files after a pull")
local sent = stats().storage_bytes
out, err, rc = tycho_run { "pull", "tiny" }
check(rc == 0 and stats().storage_bytes == sent, "a second pull fetches no blob again")

-- list, show, rm
out = tycho_run { "list" }
check(out:find("tiny:latest", 1, true) and out:find("3.1 MB", 1, true), "list: " .. out)
out, err, rc = lua [[
local s = assert(tycho.show("tiny"))
print(s.template, s.params.temperature, s.params.stop[1], s.license:match("^[^\n]+"), #s.layers)
]]
check(rc ~= 0 and (err:find("GGUF", 1, true) or err:find("magic", 1, true)), "show of a non-GGUF model layer fails clearly: " .. err)
config {}
out, err, rc = tycho_run { "pull", "synth" }
check(rc == 0, "pull synth: " .. err)
out, err, rc = tycho_run { "show", "synth" }
check(rc == 0 and out:find("architecture%s+llama") and out:find("Q4_0", 1, true)
  and out:find("{{ .Prompt }}", 1, true), "show: " .. out .. err)
out, err, rc = tycho_run { "rm", "tiny" }
check(rc == 0 and not exists(mpath .. "tiny/latest") and not blob_in_store(model)
  and not blob_in_store(license), "rm removes the manifest and its blobs: " .. err)
check(exists(mpath .. "synth/latest") and blob_in_store(template),
  "rm keeps the blobs another model uses (the template)")
out, err, rc = tycho_run { "rm", "tiny" }
check(rc ~= 0 and err:find("no such model", 1, true), "rm of a missing model: " .. err)

-- 2. resume after a dropped connection: one failed try leaves a partial file,
-- the next pull asks for the rest with Range
config { drop_after = 1000000, drops = 1 }
out, err, rc = lua "print(tycho.pull('tiny', { retries = 0 }))"
check(out:find("nil", 1, true) and out:find("resume", 1, true), "a dropped pull says so: " .. out .. err)
check(not exists(mpath .. "tiny/latest"), "no manifest after a failed pull")
local before = stats()
out, err, rc = tycho_run { "pull", "tiny" }
local after = stats()
local resumed = false
for i = #before.requests + 1, #after.requests do
  resumed = resumed or after.requests[i]:find("bytes=1000000-", 1, true) ~= nil
end
check(rc == 0 and resumed, "the second pull resumes with Range: " .. err)
check(after.storage_bytes - before.storage_bytes < model.size, "the resumed pull fetched only the rest")
check(blob_in_store(model) and leftovers() == "0", "the resumed blob is complete")
tycho_run { "rm", "tiny" }

-- a drop with retries resumes within one pull
config { drop_after = 500000, drops = 2 }
out, err, rc = lua "print(assert(tycho.pull('tiny', { backoff = 0.01 })))"
check(rc == 0 and blob_in_store(model), "a pull retries a dropped connection: " .. err)
tycho_run { "rm", "tiny" }

-- 3. corrupted bytes: rejected, nothing left
config { corrupt = true }
out, err, rc = tycho_run { "pull", "tiny" }
check(rc ~= 0 and err:find("corrupted", 1, true), "corruption is detected: " .. err)
check(not blob_in_store(model) and leftovers() == "0" and not exists(mpath .. "tiny/latest"),
  "a corrupted blob leaves nothing in the store")

-- 4. 404, 429, 500
config {}
out, err, rc = tycho_run { "pull", "nosuch" }
check(rc ~= 0 and err:find("404", 1, true) and err:find("not found", 1, true), "404: " .. err)
for _, status in ipairs { 429, 500 } do
  config { fail = { status = status, count = 2, match = "/" } }
  out, err, rc = lua "print(assert(tycho.pull('tiny', { backoff = 0.01 })))"
  check(rc == 0, status .. " is retried: " .. err)
  tycho_run { "rm", "tiny" }
end
config { fail = { status = 500, count = 10, match = "manifests" } }
out, err, rc = lua "print(tycho.pull('tiny', { retries = 1, backoff = 0.01 }))"
check(out:find("HTTP 500", 1, true), "persistent 500s give up: " .. out .. err)

-- 5. parallel parts
config {}
before = stats()
out, err, rc = lua "print(assert(tycho.pull('tiny', { parts = 4, part_size = 1 })))"
after = stats()
local ranges = 0
for i = #before.requests + 1, #after.requests do
  if after.requests[i]:find("^GET /storage/sha256%-" .. model.digest:sub(8) .. " bytes=") then ranges = ranges + 1 end
end
check(rc == 0 and ranges == 4 and blob_in_store(model), "4 parts in parallel: " .. ranges .. " " .. err)
check(sha256(store .. "/blobs/sha256-" .. model.digest:sub(8)) == model.digest, "the parts make the blob")
tycho_run { "rm", "tiny" }

-- 6. plan before pull: only the header is read
tycho_run { "rm", "synth" }
before = stats()
out, err, rc = tycho_run { "plan", "synth", "--ctx", "2048" }
after = stats()
local got = after.storage_bytes - before.storage_bytes
check(rc == 0 and out:find("cpu", 1, true), "plan before pull: " .. out .. err)
check(got > 0 and got < 8 * 1048576, "plan before pull read " .. got .. " bytes of a 90 MB blob")
check(not exists(mpath .. "synth/latest"), "planning pulls nothing into the store")

-- 7. two pulls at once
out = sh("(env TYCHO_HOME=" .. q(home) .. " TYCHO_REGISTRY=" .. q(base) .. " " .. q(arg[-1]) ..
  " pull tiny & env TYCHO_HOME=" .. q(home) .. " TYCHO_REGISTRY=" .. q(base) .. " " .. q(arg[-1]) ..
  " pull tiny; wait) 2>&1")
check(select(2, out:gsub("success", "")) == 2, "two pulls at once both succeed: " .. out)
check(sha256(store .. "/blobs/sha256-" .. model.digest:sub(8)) == model.digest and leftovers() == "0",
  "two pulls at once leave a sound store")
tycho_run { "rm", "tiny" }

-- 8. a stall: a trickling server is given up on
config { trickle = 0.5 }
local t0 = tycho.now()
out = lua "print(tycho.pull('tiny', { stall = 1, retries = 0 }))"
check(out:find("nil", 1, true) and tycho.now() - t0 < 20, "a stalled transfer fails: " .. out)
config {}
os.execute("rm -f " .. q(store .. "/blobs") .. "/*partial*")

-- 9. a full disk (a file size limit): a clear error, nothing complete-looking
out, err, rc = tycho_run({ "pull", "tiny" }, nil, "trap '' XFSZ; ulimit -f 1000; ")
check(rc ~= 0 and err:find("File too large", 1, true), "a full disk: " .. err)
check(not blob_in_store(model) and not exists(mpath .. "tiny/latest"), "a full disk leaves no blob or manifest")
os.execute("rm -f " .. q(store .. "/blobs") .. "/*partial*")

-- 10. bad manifests and names
manifest("broken", nil, "{ not json")
out, err, rc = tycho_run { "pull", "broken" }
check(rc ~= 0 and err:find("not valid JSON", 1, true), "a malformed manifest: " .. err)
manifest("escape", { { mediaType = "application/vnd.ollama.image.model", digest = "sha256:../../../etc/passwd", size = 1 } })
out, err, rc = tycho_run { "pull", "escape" }
check(rc ~= 0 and err:find("digest", 1, true), "a digest that would escape: " .. err)
check(not exists(mpath .. "broken") and not exists(mpath .. "escape"), "bad manifests are not stored")
for _, name in ipairs { "../x", "/etc/passwd", "a/b/c/d", "a/../b", "x:..", "x:a/b", ".hidden", "" } do
  out, err, rc = tycho_run { "pull", name }
  check(rc ~= 0 and err:find("model name", 1, true), "bad name '" .. name .. "': " .. err)
end

-- 11. a pre-populated Ollama-layout folder: list, show, run, and rm refused
local smol = tycho.find("smollm2")
if smol then
  local oll = tmp .. "/ollama"
  local d = sha256(smol)
  os.execute("mkdir -p " .. q(oll .. "/blobs") .. " && ln -s " .. q(smol) .. " " .. q(oll .. "/blobs/sha256-" .. d:sub(8)))
  local cfg = oll .. "/blobs/cfg"
  write(cfg, "{}")
  local cd = sha256(cfg)
  os.rename(cfg, oll .. "/blobs/sha256-" .. cd:sub(8))
  write(oll .. "/manifests/registry.ollama.ai/library/smol/latest", tycho.json.encode {
    schemaVersion = 2, mediaType = "application/vnd.docker.distribution.manifest.v2+json",
    config = { mediaType = "application/vnd.docker.container.image.v1+json", digest = cd, size = 2 },
    layers = { { mediaType = "application/vnd.ollama.image.model", digest = d, size = 1 } } })
  out = tycho_run({ "list" }, oll)
  check(out:find("smol:latest", 1, true), "list shows Ollama's models: " .. out)
  out, err, rc = tycho_run({ "run", "smol", "Hello", "-n", "4", "--temperature", "0" }, oll)
  check(rc == 0 and #out > 0, "a model in Ollama's store runs: " .. err)
  out, err, rc = tycho_run({ "rm", "smol" }, oll)
  check(rc ~= 0 and err:find("Ollama", 1, true) and exists(oll .. "/manifests/registry.ollama.ai/library/smol/latest"),
    "Ollama's store is read-only: " .. err)
else
  print("note: smollm2 is not in the cache; the Ollama-store run case is skipped")
end

-- 12. run pulls a registry name that is not in the store first, as ollama run does
tycho_run { "rm", "synth" }
out, err, rc = tycho_run { "run", "synth", "Hi", "-n", "2", "--ctx", "64" }
check(rc == 0 and exists(mpath .. "synth/latest"), "run pulls a model not in the store: " .. err)
tycho_run { "rm", "synth" }

-- 13. pulls by URL: a .gguf at a plain path, stored as HOST/url/STEM:TAG with
-- TAG the first 12 hex digits of the URL's SHA-256
config {}
os.execute("mkdir -p " .. q(reg .. "/files/m") .. " && ln -s " .. q(tmp .. "/synth.gguf") .. " " ..
  q(reg .. "/files/m/Synth-Q4_0.gguf"))
local url = base .. "/files/m/Synth-Q4_0.gguf"
local function url_name(u)
  return "127.0.0.1:" .. port .. "/url/Synth-Q4_0:" .. sh("printf %s " .. q(u) .. " | sha256sum"):sub(1, 12)
end
local uname = url_name(url)
local umanifest = store .. "/manifests/" .. uname:gsub(":(%x+)$", "/%1")
local synth_digest = sha256(tmp .. "/synth.gguf")
local synth_size = tonumber(sh("stat -c %s " .. q(tmp .. "/synth.gguf")))
local function url_blob() return exists(store .. "/blobs/sha256-" .. synth_digest:sub(8)) end
local function files_bytes(from)
  local s, n = stats(), 0
  for i = #from.requests + 1, #s.requests do n = n + (s.requests[i]:find("/files/", 1, true) and 1 or 0) end
  return s.storage_bytes - from.storage_bytes, n
end

-- run pulls it, then finds it: a second run and a pull fetch nothing
before = stats()
out, err, rc = tycho_run { "run", url, "Hi", "-n", "2", "--ctx", "64" }
check(rc == 0 and exists(umanifest) and url_blob(), "run pulls a URL into the store: " .. err)
check(files_bytes(before) >= synth_size, "run by URL downloaded the file")
check(leftovers() == "0", "no partial or lock files after a pull by URL")
before = stats()
out, err, rc = tycho_run { "run", url, "Hi", "-n", "2", "--ctx", "64" }
local bytes, reqs = files_bytes(before)
check(rc == 0 and bytes == 0 and reqs == 0, "a second run by URL downloads nothing: " .. bytes .. " " .. err)
out, err, rc = tycho_run { "pull", url }
bytes, reqs = files_bytes(before)
check(rc == 0 and out == "success\n" and bytes == 0 and reqs == 0, "a second pull by URL downloads nothing: " .. err)
out = tycho_run { "list" }
check(out:find(uname, 1, true), "list shows the URL's model: " .. out)
out, err, rc = tycho_run { "show", url }
check(rc == 0 and out:find("architecture%s+llama") and out:find("Q4_0", 1, true), "show by URL: " .. out .. err)
local cfg = tycho.json.decode(T.read(umanifest)).config
local conf = tycho.json.decode(T.read(store .. "/blobs/sha256-" .. cfg.digest:sub(8)))
check(cfg.mediaType == "application/vnd.docker.container.image.v1+json" and conf.model_family == "llama"
  and conf.rootfs.diff_ids[1] == synth_digest, "the config is ConfigV2: " .. T.read(umanifest))
out, err, rc = tycho_run { "pull", url .. "?v=2" }
check(rc == 0 and out == "success\n" and url_name(url .. "?v=2") ~= uname
  and select(2, tycho_run { "list" }:gsub("Synth%-Q4_0:", "")) == 2, "another URL of one file name is another model")
tycho_run { "rm", url .. "?v=2" }
out, err, rc = tycho_run { "rm", uname }
check(rc == 0 and not exists(umanifest) and not url_blob(), "rm by name removes it: " .. err)

-- pull by URL through tycho.pull, resumed after a dropped connection (the
-- first "drop" goes to the probe for the size, which asks for one byte)
config { drop_after = 1000000, drops = 2 }
out, err, rc = lua("print(tycho.pull(" .. string.format("%q", url) .. ", { retries = 0 }))")
check(out:find("nil", 1, true) and out:find("resume", 1, true), "a dropped pull by URL says so: " .. out .. err)
check(not exists(umanifest) and sh("ls " .. q(store .. "/blobs")):find("url%-%x+%-partial"), "a partial file, no manifest")
before = stats()
out, err, rc = lua("print(assert(tycho.pull(" .. string.format("%q", url) .. ")))")
after = stats()
resumed = #after.requests > #before.requests + 1     -- the probe, then Range requests
for i = #before.requests + 1, #after.requests do
  resumed = resumed and after.requests[i]:find(" bytes=%d+%-") ~= nil
end
check(rc == 0 and resumed and after.storage_bytes - before.storage_bytes < synth_size,
  "the pull by URL resumes with Range: " .. err)
check(url_blob() and sha256(store .. "/blobs/sha256-" .. synth_digest:sub(8)) == synth_digest
  and leftovers() == "0", "the resumed file is whole")
tycho_run { "rm", url }

-- parallel parts (the server gives Content-Length and takes Range)
config {}
before = stats()
out, err, rc = lua("print(assert(tycho.pull(" .. string.format("%q", url) .. ", { parts = 4, part_size = 1 })))")
after = stats()
ranges = 0
for i = #before.requests + 1, #after.requests do
  if after.requests[i]:find("^GET /files/.* bytes=") and not after.requests[i]:find("bytes=0-0", 1, true) then
    ranges = ranges + 1
  end
end
check(rc == 0 and ranges == 4 and url_blob(), "a URL in 4 parts: " .. ranges .. " " .. err)
check(sha256(store .. "/blobs/sha256-" .. synth_digest:sub(8)) == synth_digest, "the parts make the file")
tycho_run { "rm", url }

-- a server that ignores Range: one stream, whatever parts asks for
config { no_range = true }
before = stats()
out, err, rc = lua("print(assert(tycho.pull(" .. string.format("%q", url) .. ", { parts = 4, part_size = 1 })))")
bytes, reqs = files_bytes(before)
check(rc == 0 and reqs == 2 and url_blob() and sha256(store .. "/blobs/sha256-" .. synth_digest:sub(8)) == synth_digest,
  "a server without Range: the probe and one stream: " .. reqs .. " " .. err)
out, err, rc = tycho_run { "plan", base .. "/files/m/Synth-Q4_0.gguf?v=3" }
check(rc ~= 0 and err:find("Range", 1, true), "plan by URL needs Range: " .. err)
tycho_run { "rm", url }
config {}

-- plan before pull reads only the header
before = stats()
out, err, rc = tycho_run { "plan", url, "--ctx", "2048" }
bytes = files_bytes(before)
check(rc == 0 and out:find("cpu", 1, true) and bytes < 8 * 1048576 and not exists(umanifest),
  "plan by URL read " .. bytes .. " bytes: " .. out .. err)

-- two pulls of one URL at once: one downloads, the other waits for it and finds it
before = stats()
local both = "env TYCHO_HOME=" .. q(home) .. " " .. q(arg[-1]) .. " pull " .. q(url)
out = sh("(" .. both .. " & " .. both .. "; wait) 2>&1")
bytes = files_bytes(before)
check(select(2, out:gsub("success", "")) == 2 and url_blob() and leftovers() == "0" and bytes < 1.5 * synth_size,
  "two pulls of one URL at once: " .. bytes .. " bytes: " .. out)
tycho_run { "rm", url }

-- refused: plain http to another host, a file that is not a GGUF, a 404
out, err, rc = tycho_run { "pull", "http://example.com/m/x.gguf" }
check(rc ~= 0 and err:find("plain http is refused", 1, true), "http to another host: " .. err)
write(reg .. "/files/page.gguf", "<html>not a model</html>")
out, err, rc = tycho_run { "pull", base .. "/files/page.gguf" }
check(rc ~= 0 and err:find("not a GGUF", 1, true) and leftovers() == "0"
  and not sh("ls " .. q(store .. "/manifests")):find("127"), "a file that is no GGUF is not kept: " .. err)
out, err, rc = tycho_run { "pull", base .. "/files/none.gguf" }
check(rc ~= 0 and err:find("404", 1, true) and err:find("check the URL", 1, true), "a 404 by URL: " .. err)

os.execute("kill " .. pid)
os.execute("rm -rf " .. q(tmp))
T.done()
