-- check.lua: what the Lua tests share: check(cond, what) counts failures,
-- checkerr(pattern, f, ...) expects an error containing pattern, done()
-- reports and exits. Loaded with dofile from each test.

local M = { failures = 0 }

function M.check(cond, what)
  if not cond then
    M.failures = M.failures + 1
    print("FAIL " .. what)
  end
end

function M.checkerr(pattern, f, ...)
  local ok, msg = pcall(f, ...)
  M.check(not ok and tostring(msg):find(pattern, 1, true), "error '" .. pattern .. "', got " .. tostring(msg))
end

-- A string quoted for the shell.
function M.quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end


-- A whole file's bytes, or nil.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end


-- Runs the tycho program (arg[-1]) with the arguments in list, stdin from
-- the string given or /dev/null; returns stdout, stderr and the exit status.
-- prefix, when given, goes before the program (e.g. "env NAME=value ").
function M.run(list, stdin, prefix)
  local errf, inf = os.tmpname(), nil
  local cmd = (prefix or "") .. M.quote(arg[-1])
  for _, a in ipairs(list) do cmd = cmd .. " " .. M.quote(a) end
  if stdin then
    inf = os.tmpname()
    local f = assert(io.open(inf, "wb"))
    f:write(stdin)
    f:close()
  end
  local p = io.popen(cmd .. " < " .. (inf and M.quote(inf) or "/dev/null") .. " 2>" .. M.quote(errf))
  local out = p:read("a")
  local _, _, rc = p:close()
  local err = M.read(errf) or ""
  os.remove(errf)
  if inf then os.remove(inf) end
  return out, err, rc
end


-- Writes data to path, making its folder first.
function M.write(path, data)
  os.execute("mkdir -p " .. M.quote(path:match("^(.*)/")))
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end


-- The output of a shell command.
function M.sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end


-- "sha256:HEX" of a file, by coreutils (independent of tycho's own hashing).
function M.sha256(path) return "sha256:" .. M.sh("sha256sum " .. M.quote(path)):match("^(%x+)") end


function M.done()
  if M.failures > 0 then
    print(M.failures .. " failed")
    os.exit(1)
  end
  print("ok")
end

return M
