-- shell.lua: `tycho shell`, an interactive Lua prompt with tycho loaded, as
-- lua5.4's own (lua.c: incomplete, addreturn, multiline, l_print), plus
-- readable results (tycho.inspect), tab completion and a history file.
-- shell.complete is plain Lua so tests can call it without a terminal.

local tycho = require "tycho"
local inspect = require "tycho.inspect"

local shell = {}

local HISTORY_MAX = 1000

-- One line per function, for help(); the integrator keeps it in step with
-- docs/lua-api.md.
local docs = {
  { "tycho.version", "version string" },
  { "tycho.now()", "seconds on a monotonic clock" },
  { "tycho.simd()", "CPU kernel level in use: avx512, avx2 or scalar" },
  { "tycho.load(path, opts)", "opens a GGUF model: Model | nil, msg, code (opts: num_ctx, num_batch, num_thread, kv_type)" },
  { "tycho.tokenizer(path)", "the vocabulary of a GGUF alone: Tokenizer | nil, msg, code" },
  { "tycho.sampler(opts)", "a Sampler with Ollama's sampling settings" },
  { "tycho.template(src)", "a chat Template from Go template or known Jinja text" },
  { "tycho.json.encode(v)", "JSON text (keys sorted); tycho.json.decode(s) the reverse" },
  { "tycho.readline(prompt)", "a line from the terminal with editing" },
  { "tycho.read_history(path)", "readline history; also append_history, write_history(path, max)" },
  { "tycho.dir(path)", "sorted names in a directory | nil, msg" },
  { "tycho.isatty(stream)", "whether stdin, stdout or stderr is a terminal" },
  { "m:generate(p, opts)", "an answer to a prompt or message list: {text, done_reason, ...}" },
  { "m:render(p)", "the text the model would see, chat template applied" },
  { "m:tokenize(text)", "token ids; m:detokenize(ids) the reverse" },
  { "m:eval(ids)", "runs ids at the current position; m:argmax(), m:logits()" },
  { "m:info()", "the model's shape, context, memory" },
  { "m:reset()", "forgets the context; m:close() frees the model" },
  { "inspect(v, opts)", "v as readable text (opts: depth, items, width)" },
  { "help()", "this list" },
}

local function help()
  local w = 0
  for _, d in ipairs(docs) do w = math.max(w, #d[1]) end
  for _, d in ipairs(docs) do print(string.format("  %-" .. w .. "s  %s", d[1], d[2])) end
  print("Ctrl-D leaves; Ctrl-C stops a running chunk; Tab completes names, fields and methods.")
end


-- ---------------------------------------------------------------- completion

local keywords = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
  "while" }


-- Whether the line ends inside a short string literal: then Tab completes
-- file names, not Lua names.
local function in_string(line)
  local q, i = nil, 1
  while i <= #line do
    local c = line:sub(i, i)
    if q then
      if c == "\\" then i = i + 1 elseif c == q then q = nil end
    elseif c == '"' or c == "'" then
      q = c
    elseif line:sub(i, i + 1) == "--" then
      return true                                 -- a comment: nothing to complete
    end
    i = i + 1
  end
  return q ~= nil
end


-- Indexes v[k] without running code: raw for tables, and through __index
-- tables (not functions: completing must not call anything).
local function peek(v, k)
  for _ = 1, 10 do
    if type(v) == "table" then
      local x = rawget(v, k)
      if x ~= nil then return x end
    end
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(idx) ~= "table" then return nil end
    v = idx
  end
end


-- The names reachable with v.name or v:name: own keys of a table, then the
-- keys of its __index tables (the methods of a userdata live there).
local function fields(v, methods_only, out)
  local seen = {}
  for _ = 1, 10 do
    if type(v) == "table" then
      for k, x in next, v do
        if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k]
          and (not methods_only or type(x) == "function") then
          seen[k] = true
          out[#out + 1] = k
        end
      end
    end
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(idx) ~= "table" then break end
    v = idx
  end
  return out
end


-- shell.complete(line_before_cursor [, env]) -> sorted list of the words
-- that may replace the Lua name path ending the line: "tycho.to" gives
-- {"tycho.tokenizer"}, "m:gen" gives {"m:generate"}. env defaults to _G.
function shell.complete(line, env)
  env = env or _G
  if in_string(line) then return {} end
  local word = line:match("[%w_%.:]*$")
  if word:match("^%d") or word:match("[%.:][%.:]") then return {} end
  local path, sep, prefix = word:match("^(.-)([%.:])([%w_]*)$")
  local names = {}
  if not path then
    prefix, path = word, ""                       -- a global or a keyword
    fields(env, false, names)
    for _, k in ipairs(keywords) do names[#names + 1] = k end
  else
    if sep == ":" and path:find(":", 1, true) then return {} end
    local v = env
    for part in path:gmatch("[^%.]+") do
      if not part:match("^[%a_][%w_]*$") then return {} end
      v = peek(v, part)
      if v == nil then return {} end
    end
    if type(v) ~= "table" and type(v) ~= "userdata" and type(v) ~= "string" then return {} end
    fields(v, sep == ":", names)
  end
  local out, seen = {}, {}
  for _, k in ipairs(names) do
    if k:sub(1, #prefix) == prefix and not seen[k] then
      seen[k] = true
      out[#out + 1] = path .. (sep or "") .. k
    end
  end
  table.sort(out)
  return out
end


-- What readline calls on Tab: nil inside a string, so readline completes
-- file names there (io.open("~/.cache/<TAB>).
local function readline_complete(line)
  if in_string(line) then return nil end
  return shell.complete(line)
end


-- ---------------------------------------------------------------- history

local function home()
  local h = os.getenv("TYCHO_HOME")
  if not h or h == "" then h = (os.getenv("HOME") or ".") .. "/.cache/tycho" end
  return h
end


function shell.history_path()
  return home() .. "/shell_history"
end


-- ---------------------------------------------------------------- evaluation

-- lua.c's incomplete(): a syntax error at <eof> means "go on reading".
local function incomplete(msg)
  return msg ~= nil and msg:sub(-5) == "<eof>"
end


-- Compiles a chunk as lua.c does: first as "return <line>" so expressions
-- print, then as the statements typed. Returns the function, or nil and
-- the message (which may say the chunk is incomplete).
local function compile(buf, first)
  if first then
    local f = load("return " .. buf, "=stdin", "t")
    if f then return f end
  end
  return load(buf, "=stdin", "t")
end


-- The error line lua.c would show: the message, and for a runtime error a
-- traceback cut where the shell's own frames start.
local function traceback(e)
  if type(e) ~= "string" then
    local mt = getmetatable(e)
    if mt and mt.__tostring then
      local ok, s = pcall(tostring, e)
      if ok then return s end
    end
    e = string.format("(error object is a %s value)", type(e))
  end
  if e:find("interrupted", 1, true) then return e end
  local tb = debug.traceback(e, 2)
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  if cut then tb = tb:sub(1, cut - 1) end
  return (tb:gsub("\nstack traceback:$", ""))
end


-- Prints the results of a chunk as lua.c does (tab separated), each as
-- inspect renders it.
local function print_results(res)
  if res.n == 0 then return end
  local parts = {}
  for i = 1, res.n do parts[i] = inspect(res[i]) end
  io.write(table.concat(parts, "\t"), "\n")
  io.stdout:flush()
end


local function report(msg)
  io.stdout:flush()
  io.stderr:write(msg, "\n")
  io.stderr:flush()
end


-- Runs one chunk and prints its results or its error.
local function execute(f)
  local res = table.pack(xpcall(f, traceback))
  if res[1] then
    table.remove(res, 1)
    res.n = res.n - 1
    print_results(res)
  else
    report(tostring(res[2]))
  end
end


-- ---------------------------------------------------------------- the loop

-- Line readers: readline with prompts on a terminal, plain lines without
-- prompts when stdin is a pipe or file (scripts and tests drive it so;
-- output then is only what the chunks print and their results).
local function tty_reader(state)
  return function(prompt)
    local line, why, partial = tycho.readline(prompt, readline_complete)
    if line == false then return false, partial end
    if line ~= nil and line:match("%S") then
      tycho.add_history(line)
      if state.history then
        local ok, err = tycho.append_history(state.history, HISTORY_MAX)
        if not ok and not state.made_dir then
          -- the first save in a fresh $TYCHO_HOME: make the folder, once
          state.made_dir = true
          os.execute("mkdir -p '" .. home():gsub("'", "'\\''") .. "' 2>/dev/null")
          ok, err = tycho.append_history(state.history, HISTORY_MAX)
        end
        if not ok then
          report("tycho: history: " .. tostring(err) .. " (not saved from now on)")
          state.history = nil
        end
      end
    end
    return line
  end
end


local function pipe_reader()
  return function()
    return io.stdin:read("l")
  end
end


-- One prompt-and-run step. Returns "exit" at end of input.
local function step(read, state)
  local line, partial = read("> ")
  if line == nil then return "exit" end
  if line == false then                           -- Ctrl-C at the prompt
    if partial ~= "" then state.ctrl_c = 0; return end
    state.ctrl_c = state.ctrl_c + 1
    if state.ctrl_c >= 2 then return "exit" end
    io.write("(Ctrl-C again or Ctrl-D to leave)\n")
    return
  end
  state.ctrl_c = 0
  if line:match("^=") then line = "return " .. line:sub(2) end   -- Lua 5.1's =expr
  local f, msg = compile(line, true)
  local buf = line
  while not f and incomplete(msg) do
    local more, p = read(state.prompt2)
    if more == false then return end               -- Ctrl-C drops the chunk
    if more == nil then break end
    buf = buf .. "\n" .. more
    f, msg = compile(buf, false)
  end
  if not f then report(msg); return end
  execute(f)
end


-- shell.run(args) -> exit status: the loop, until end of input.
function shell.run(args)
  if args and args[1] then
    io.stderr:write("tycho shell: takes no arguments; run a script with tycho SCRIPT.lua\n")
    return 1
  end
  _G.tycho = tycho
  _G.inspect = inspect
  _G.help = help
  local tty = tycho.isatty("stdin")
  local state = { ctrl_c = 0, prompt2 = ">> " }
  local read
  if tty then
    state.history = shell.history_path()
    tycho.read_history(state.history)              -- missing the first time: fine
    io.write(string.format("tycho %s (%s), %s. Ctrl-D to leave, help() for help\n",
      tycho.version, tycho.simd(), _VERSION))
    read = tty_reader(state)
  else
    read = pipe_reader()
  end
  while true do
    -- a Ctrl-C that lands between chunks (the hook raises "interrupted" in
    -- whatever Lua runs next) must not end the shell
    local ok, r = pcall(step, read, state)
    if ok and r == "exit" then break end
    if not ok then
      -- the hook's error names the shell's line, which means nothing here
      report(tostring(r):find("interrupted$") and "interrupted" or tostring(r))
    end
  end
  if tty then io.write("\n") end
  return 0
end

shell.help = help
return shell
