-- The interpreter's side of a process VM session (see runtime/process.rs). It runs inside an
-- external interpreter — Lua 5.1, 5.2, 5.3, 5.4 or LuaJIT, so it sticks to what they share —
-- reads requests on fd 3, writes replies on fd 4, installs the sandbox policy (policy.lua,
-- compiled ahead of this file as `apply_policy`) and the limits,
-- and keeps the state of the session between requests.
--
-- Requests: one header line `<op> <len> <len> ...`, then the fields, back to back.
-- Replies: frames `<kind><len>\n<payload>`: `o` output, `p` a path to check (the host answers
-- `1` or `0` on a line), `n` a `net` request (the host answers in the request format: `k`
-- status, headers, body or `x` message), `h` hello, `r` the returned values (JSON), `e` an
-- error (JSON).
local rin, rout = ...

-- Everything used here is captured before user code runs: the session works whatever the
-- user's code does to the globals and the library tables.
local G = _G
local type, tostring, tonumber, select, error, next, rawget, rawset =
  type, tostring, tonumber, select, error, next, rawget, rawset
local pcall, xpcall, setmetatable, getmetatable = pcall, xpcall, setmetatable, getmetatable
local load, loadstring, loadfile = load, loadstring, loadfile
local unpack = table.unpack or unpack
local format, byte, sub, gsub, find, gmatch =
  string.format, string.byte, string.sub, string.gsub, string.find, string.gmatch
local concat = table.concat
local floor, huge, mtype = math.floor, math.huge, math.type
local collectgarbage = collectgarbage
local sethook, gethook, getinfo, traceback =
  debug.sethook, debug.gethook, debug.getinfo, debug.traceback
local cocreate, coresume, costatus, coclose =
  coroutine.create, coroutine.resume, coroutine.status, coroutine.close
local exit = os.exit
local read, write, flush, setvbuf = rin.read, rout.write, rout.flush, rout.setvbuf
local open = io.open
local jit = rawget(G, "jit")
-- Pure Lua 5.1 has no load modes; everything else (LuaJIT included) has them.
local PLAIN51 = G._VERSION == "Lua 5.1" and not jit
local SOURCE = "=pylua.session"

setvbuf(rout, "full", 65536)

local function send(kind, payload)
  write(rout, kind, tostring(#payload), "\n", payload)
end

local function read_request()
  local header = read(rin, "*l")
  if header == nil then exit(0) end -- the host is gone
  local fields = {}
  for len in gmatch(header, "%d+") do
    len = tonumber(len)
    fields[#fields + 1] = len == 0 and "" or read(rin, len)
  end
  return sub(header, 1, 1), fields
end

local function pack(...) return { n = select("#", ...), ... } end

------------------------------------------------------------------------------------------
-- JSON for replies: the same rules as the embedded VM's conversion (runtime/value.rs).

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape_char(c) return escapes[c] or format("\\u%04x", byte(c)) end
local function json_string(s) return '"' .. (gsub(s, '[%c"\\]', escape_char)) .. '"' end

local function json_number(x)
  if x ~= x or x == huge or x == -huge then return '"' .. tostring(x) .. '"' end
  if mtype then
    if mtype(x) == "integer" then return format("%d", x) end
    local s = format("%.17g", x)
    if not find(s, "[%.eEn]") then s = s .. ".0" end
    return s
  end
  -- One number type (5.1, 5.2, LuaJIT): integral values print as integers, as Lua does.
  if x == floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53 then return format("%.0f", x) end
  return format("%.17g", x)
end

local function key_string(k)
  local t = type(k)
  if t == "string" then return k end
  if t == "number" then
    if mtype and mtype(k) == "integer" then return format("%d", k) end
    return tostring(k)
  end
  if t == "boolean" then return tostring(k) end
  return "<" .. t .. ">"
end

local function encode(v, buf, seen, depth)
  local t = type(v)
  if t == "nil" then
    buf[#buf + 1] = "null"
  elseif t == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif t == "number" then
    buf[#buf + 1] = json_number(v)
  elseif t == "string" then
    buf[#buf + 1] = json_string(v)
  elseif t == "table" then
    if depth >= 64 or seen[v] then
      buf[#buf + 1] = '"<cycle>"'
      return
    end
    seen[v] = true
    local n = 0
    for _ in next, v do n = n + 1 end
    local array = n > 0
    if array then
      for k in next, v do
        if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then
          array = false
          break
        end
      end
    end
    if array then
      buf[#buf + 1] = "["
      for i = 1, n do
        if i > 1 then buf[#buf + 1] = "," end
        encode(rawget(v, i), buf, seen, depth + 1)
      end
      buf[#buf + 1] = "]"
    else
      buf[#buf + 1] = "{"
      local first = true
      for k, x in next, v do
        if not first then buf[#buf + 1] = "," end
        first = false
        buf[#buf + 1] = json_string(key_string(k))
        buf[#buf + 1] = ":"
        encode(x, buf, seen, depth + 1)
      end
      buf[#buf + 1] = "}"
    end
    seen[v] = nil
  else
    buf[#buf + 1] = '"<' .. t .. '>"'
  end
end

local function encode_values(r, from)
  local buf = { "[" }
  for i = from, r.n do
    if i > from then buf[#buf + 1] = "," end
    encode(r[i], buf, {}, 0)
  end
  buf[#buf + 1] = "]"
  return concat(buf)
end

local function send_error(kind, message, tb, incomplete)
  local buf = { '{"kind":', json_string(kind), ',"message":', json_string(message) }
  if tb then buf[#buf + 1] = ',"traceback":' .. json_string(tb) end
  if incomplete then buf[#buf + 1] = ',"incomplete":true' end
  buf[#buf + 1] = "}"
  send("e", concat(buf))
end

------------------------------------------------------------------------------------------
-- Loading text only: bytecode is not verified by Lua and can corrupt the interpreter.

local BINARY = "attempt to load a binary chunk (mode is 't')"

-- An explicit nil environment is an argument too (`load(s, n, "t", nil)`): keep the count.
local function load_text(chunk, name, ...)
  if PLAIN51 then
    if type(chunk) == "function" then
      local parts = {}
      while true do
        local piece = chunk()
        if piece == nil or piece == "" then break end
        if type(piece) ~= "string" then return nil, "reader function must return a string" end
        parts[#parts + 1] = piece
      end
      chunk = concat(parts)
    end
    if type(chunk) == "string" and byte(chunk, 1) == 27 then return nil, BINARY end
    return loadstring(chunk, name)
  end
  if select("#", ...) > 0 then return load(chunk, name, "t", (...)) end
  return load(chunk, name, "t")
end

-- Pure Lua 5.1's loadfile has no mode: read the file and refuse bytecode by hand.
local function loadfile_text(path, ...)
  if not PLAIN51 then
    if select("#", ...) > 0 then return loadfile(path, "t", (...)) end
    return loadfile(path, "t")
  end
  if path == nil then return loadfile() end -- standard input
  local f, err = open(path, "rb")
  if not f then return nil, "cannot open " .. tostring(err) end
  local text = f:read("*a")
  f:close()
  if byte(text, 1) == 35 then text = "--" .. text end -- a `#!` line, kept for line numbers
  if byte(text, 1) == 27 then return nil, BINARY end
  return loadstring(text, "@" .. path)
end

local function compile(source, name)
  if byte(source, 1) == 27 then return nil, BINARY end
  return load_text(source, name)
end

------------------------------------------------------------------------------------------
-- Configuration (the first request) and the sandbox policy.

local op0, fields0 = read_request()
if op0 ~= "c" then error("pylua session: expected the configuration first") end
local config = assert(compile("return " .. fields0[1], "=pylua.config"))()
local policy = config.policy
local stream = config.stream
local limit_instructions = config.instructions
local limit_kb = config.memory and config.memory / 1024
local hooking = limit_instructions ~= nil or limit_kb ~= nil

local function emit(s)
  send("o", s)
  if stream then flush(rout) end
end

-- Arguments are packed once: `select(i, ...)` in a loop would copy them n times over, and
-- `print(table.unpack(t))` passes thousands.
local function captured_print(...)
  local args = pack(...)
  local parts = {}
  for i = 1, args.n do parts[i] = tostring(args[i]) end
  emit(concat(parts, "\t") .. "\n")
end

local function captured_write(...)
  local args = pack(...)
  local parts = {}
  for i = 1, args.n do
    local v = args[i]
    local t = type(v)
    if t == "string" then
      parts[i] = v
    elseif t == "number" then
      parts[i] = (mtype and mtype(v) == "integer") and format("%d", v) or format("%.14g", v)
    else
      error(format("bad argument #%d to 'write' (string expected, got %s)", i, t), 3)
    end
  end
  emit(concat(parts))
end

local function allowed(path, writing)
  send("p", (writing and "w" or "r") .. path)
  flush(rout)
  return read(rin, "*l") == "1"
end

apply_policy(G, policy, captured_print, captured_write, allowed, load_text, loadfile_text,
  config.luasocket_cpath)
G.arg = nil
if config.path and G.package then G.package.path = config.path end
if config.cpath and G.package and policy == "none" then G.package.cpath = config.cpath end

-- `net`, with a network policy: the embedded VM's net.lua over a `raw` that asks the host,
-- which checks and performs every request (see runtime/net/remote.rs).
if config.net then
  local function raw(url, method, headers, body, timeout)
    if type(url) ~= "string" or type(method) ~= "string" or type(headers) ~= "string" then
      error("net: url, method and headers must be strings")
    end
    local fields = { url, method, headers, body and ("+" .. body) or "-",
      timeout and format("%.17g", timeout) or "" }
    local lens = {}
    for i = 1, #fields do lens[i] = tostring(#fields[i]) end
    local head = concat(lens, " ") .. "\n"
    send("n", head .. concat(fields))
    flush(rout)
    local op, reply = read_request()
    if op == "k" then return tonumber(reply[1]), reply[2], reply[3] end
    return nil, reply[1]
  end
  local net = assert(compile(config.net, "=pylua.net"))(raw)
  G.net = net
  if G.package then G.package.loaded.net = net end
end

------------------------------------------------------------------------------------------
-- Limits inside the interpreter: a count hook for the instruction budget and the Lua heap
-- (the host kills the process for a timeout, and caps its address space with RLIMIT_AS).
-- Once a limit fires it stays fired until the request ends: the hook fires on every
-- instruction and pcall, xpcall and coroutine.resume raise again, so code that catches the
-- error meets it again at once.

local INTERVAL = 1000
local MESSAGES = {
  instructions = "instruction limit exceeded",
  memory = "not enough memory (memory limit exceeded)",
}
local aborted = nil
local budget = 0
local hook

local function abort(kind)
  if not aborted then aborted = kind end
  sethook(hook, "", 1)
  error(MESSAGES[aborted], 0)
end

hook = function()
  if aborted then
    local info = getinfo(2, "S")
    if info and info.source ~= SOURCE then error(MESSAGES[aborted], 0) end
    return
  end
  local _, _, count = gethook()
  if count ~= INTERVAL then sethook(hook, "", INTERVAL) end
  if limit_instructions then
    budget = budget - (count or INTERVAL)
    if budget < 0 then abort("instructions") end
  end
  if limit_kb and collectgarbage("count") > limit_kb then
    collectgarbage() -- garbage does not count: only what is still reachable
    if collectgarbage("count") > limit_kb then abort("memory") end
  end
end

-- Allocation failures: Lua's own error, or a library's message about it (5.3's buffers).
local function out_of_memory(e)
  return limit_kb ~= nil and type(e) == "string" and find(e, "not enough memory", 1, true) ~= nil
end

local function after(ok, ...)
  if aborted then error(MESSAGES[aborted], 0) end
  if not ok and out_of_memory((...)) then abort("memory") end
  return ok, ...
end

if hooking then
  if jit then
    -- LuaJIT runs no hooks inside compiled code.
    jit.off()
    jit.flush()
  end
  G.pcall = function(f, ...) return after(pcall(f, ...)) end
  G.xpcall = function(f, handler, ...)
    return after(xpcall(f, function(...)
      -- A handler called for a fired limit is skipped: it could loop or allocate.
      if aborted then return ... end
      return handler(...)
    end, ...))
  end
  local co = G.coroutine
  local function arm(c) sethook(c, hook, "", INTERVAL) return c end
  co.create = function(f) return arm(cocreate(f)) end
  co.resume = function(c, ...) return after(coresume(c, ...)) end
  co.wrap = function(f)
    local c = arm(cocreate(f))
    local function finish(ok, ...)
      if aborted then error(MESSAGES[aborted], 0) end
      if ok then return ... end
      local e = ...
      if out_of_memory(e) then abort("memory") end
      if coclose and costatus(c) == "dead" then coclose(c) end
      error(e, 0)
    end
    return function(...) return finish(coresume(c, ...)) end
  end
  if G.debug and G.debug.sethook then
    G.debug.sethook = function()
      error("debug.sethook is not available while limits are set", 2)
    end
  end
  if jit and G.jit == jit then
    jit.on = function()
      error("jit.on is not available while limits are set", 2)
    end
  end
end

------------------------------------------------------------------------------------------
-- Running code.

-- Tracebacks show the user's frames only: the session's own, and the frames that called
-- into it, are dropped.
local function clean_traceback(tb)
  local lines = {}
  for line in gmatch(tb, "[^\n]+") do
    if not find(line, "pylua.session", 1, true) then lines[#lines + 1] = line end
  end
  while #lines > 1 do
    local last = lines[#lines]
    if find(last, "^%s*%[C%]:") or find(last, "(command line)", 1, true)
        or find(last, "(...tail calls...)", 1, true) or find(last, "(tail call)", 1, true) then
      lines[#lines] = nil
    else
      break
    end
  end
  if #lines <= 1 then return nil end
  return concat(lines, "\n")
end

local function describe(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return format("(error object is a %s value)", type(e))
end

local function handler(e)
  if aborted then return e end
  if out_of_memory(e) then
    aborted = "memory"
    return e
  end
  local message = describe(e)
  return { message = message, traceback = traceback("", 2) }
end

local function run(f, ...)
  local args = pack(...)
  local call = args.n == 0 and f or function() return f(unpack(args, 1, args.n)) end
  aborted, budget = nil, limit_instructions or 0
  if hooking then sethook(hook, "", INTERVAL) end
  local r = pack(xpcall(call, handler))
  if hooking then sethook() end
  local fired = aborted
  aborted = nil
  if fired then
    r = nil
    collectgarbage()
    return send_error(fired == "memory" and "memory_limit" or "instruction_limit", MESSAGES[fired])
  end
  if not r[1] then
    local e = r[2]
    if type(e) == "table" and type(e.message) == "string" then
      local tb = e.traceback and clean_traceback(e.traceback)
      return send_error("runtime", e.message, tb)
    end
    r = nil
    collectgarbage()
    if out_of_memory(e) then return send_error("memory_limit", MESSAGES.memory) end
    return send_error("runtime", describe(e))
  end
  local ok, json = pcall(encode_values, r, 2)
  if not ok then
    r = nil
    collectgarbage()
    if limit_kb then return send_error("memory_limit", MESSAGES.memory) end
    return send_error("runtime", "cannot convert the returned values: " .. describe(json))
  end
  send("r", json)
end

local function syntax_error(message)
  local incomplete = find(message, "<eof>$") ~= nil or find(message, "'<eof>'$") ~= nil
  return send_error("syntax", message, nil, incomplete)
end

local cache, cached = {}, 0

local handlers = {}

-- x: run a chunk (name, source); chunks named "=eval" are compiled once and cached.
handlers.x = function(f)
  local name, source = f[1], f[2]
  local fn = name == "=eval" and cache[source]
  if not fn then
    local err
    fn, err = compile(source, name)
    if not fn then return syntax_error(err) end
    if name == "=eval" then
      if cached >= 256 then cache, cached = {}, 0 end
      cache[source], cached = fn, cached + 1
    end
  end
  return run(fn)
end

-- i: a line typed at a prompt: an expression when it is one, else a statement.
handlers.i = function(f)
  local fn = compile("return " .. f[1], "=stdin")
  if not fn then
    local err
    fn, err = compile(f[1], "=stdin")
    if not fn then return syntax_error(err) end
  end
  return run(fn)
end

-- f: a script file (chunk name, source, arg[0], args...).
handlers.f = function(f)
  local fn, err = compile(f[2], f[1])
  if not fn then return syntax_error(err) end
  local arg = { [-1] = "pylua", [0] = f[3] }
  for i = 4, #f do arg[i - 3] = f[i] end
  G.arg = arg
  return run(fn, unpack(f, 4, #f))
end

-- c: call a global function (name, `return {args...}`, count). A table constructor, not a
-- list of values: Lua's parser takes only about 250 values in a `return` list.
handlers.c = function(f)
  local name = f[1]
  local fn = G[name]
  if type(fn) ~= "function" then
    return send_error("runtime", "'" .. name .. "' is not a function (it is " .. type(fn) .. ")")
  end
  local args = assert(compile(f[2], "=pylua.args"))()
  return run(fn, unpack(args, 1, tonumber(f[3])))
end

-- s: set a global (name, `return value`).
handlers.s = function(f)
  rawset(G, f[1], (assert(compile(f[2], "=pylua.value"))()))
  send("r", "[]")
end

-- g: read a global.
handlers.g = function(f)
  send("r", encode_values(pack(rawget(G, f[1])), 1))
end

-- m: bytes the Lua heap holds.
handlers.m = function()
  send("r", "[" .. format("%.0f", collectgarbage("count") * 1024) .. "]")
end

handlers.q = function() flush(rout) exit(0) end

local function hello()
  local buf = { '{"version":', json_string(G._VERSION) }
  if jit then buf[#buf + 1] = ',"jit":' .. json_string(jit.version) end
  buf[#buf + 1] = "}"
  send("h", concat(buf))
end

hello()
flush(rout)
while true do
  local op, fields = read_request()
  local h = handlers[op]
  local ok, err
  if h then
    ok, err = pcall(h, fields)
  else
    ok, err = false, "unknown request '" .. op .. "'"
  end
  if not ok then
    if hooking then sethook() end
    aborted = nil
    pcall(send_error, "runtime", "pylua session: " .. describe(err))
  end
  flush(rout)
end
