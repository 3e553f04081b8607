-- synth.lua: `tycho synth ARCH SIZE QUANT OUT.gguf [--random]` and
-- `tycho synth --list`: synthetic models with the tensor tables of real ones
-- (tycho.synth), for planning at sizes no machine here downloads.

local tycho = require "tycho"

local synth = {}

synth.usage = [[
usage: tycho synth ARCH SIZE QUANT OUT.gguf [--random]
       tycho synth --list

Writes a GGUF with the exact tensor names, shapes and per-tensor types of a
known model in the quantization mix QUANT (llama.cpp's rules), its
hyperparameters and a stand-in vocabulary. The data is a hole (the file takes
no disk) unless --random fills it with random weights that load and run.

  ARCH SIZE    see --list (llama 1B/3B/8B/70B, gemma3 270M/1B/4B/12B/27B, smollm2 135M)
  QUANT        Q4_K_M, Q8_0, F16, Q4_0, Q4_1
  --random     random weights instead of a hole
  --list       print the known shapes and their tensor bytes per QUANT]]


local function gb(b) return string.format("%.2f GB", b / 1e9) end


-- The known shapes as a table, one line per shape.
function synth.list(out)
  out = out or io.stdout
  local quants = { "Q4_K_M", "Q8_0", "F16", "Q4_0", "Q4_1" }
  out:write(string.format("%-8s %-5s %-14s %6s %6s %6s %5s %4s %7s %7s %7s",
    "arch", "size", "model", "layers", "embd", "ff", "heads", "kv", "vocab", "ctx", "params"))
  for _, q in ipairs(quants) do out:write(string.format(" %9s", q)) end
  out:write("\n")
  for _, s in ipairs(tycho.synth_shapes()) do
    out:write(string.format("%-8s %-5s %-14s %6d %6d %6d %5d %4d %7d %7d %6.2fB",
      s.family, s.size, s.model, s.n_layer, s.n_embd, s.n_ff, s.n_head, s.n_head_kv,
      s.n_vocab, s.n_ctx, s.params / 1e9))
    for _, q in ipairs(quants) do out:write(string.format(" %9s", gb(s.bytes[q]))) end
    out:write("\n")
  end
  out:write("bytes: tensor data without the header (the vocabulary adds a few MB)\n")
end


-- Returns the exit status: 0 written or listed, 1 on an error (on stderr).
function synth.main(args)
  local pos, random = {}, false
  for _, a in ipairs(args) do
    if a == "--list" then synth.list(); return 0
    elseif a == "-h" or a == "--help" then print(synth.usage); return 0
    elseif a == "--random" then random = true
    elseif a:sub(1, 2) == "--" then
      io.stderr:write("tycho synth: unknown option '", a, "' (see tycho synth --help)\n")
      return 1
    else pos[#pos + 1] = a end
  end
  if #pos ~= 4 then
    io.stderr:write("tycho synth: expected ARCH SIZE QUANT OUT.gguf, got ", #pos,
      " argument(s) (see tycho synth --help)\n")
    return 1
  end
  local ok, msg = tycho.synth(pos[1], pos[2], pos[3], pos[4], { random = random })
  if not ok then
    io.stderr:write("tycho ", msg, "\n")
    return 1
  end
  for _, s in ipairs(tycho.synth_shapes()) do
    if s.family:lower() == pos[1]:lower() and s.size:lower() == pos[2]:lower() then
      print(string.format("%s: synthetic %s (%s %s), %s of tensors, %s", pos[4], s.model,
        s.family, s.size, gb(s.bytes[pos[3]:upper()]), random and "random" or "sparse"))
    end
  end
  return 0
end

return synth
