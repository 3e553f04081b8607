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

function M.done()
  if M.failures > 0 then
    print(M.failures .. " failed")
    os.exit(1)
  end
  print("ok")
end

return M
