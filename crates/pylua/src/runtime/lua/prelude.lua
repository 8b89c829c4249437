-- Runs once in every new VM, before any user code, to install the sandbox policy.
-- The host passes: the policy name, the captured print and write functions, the coroutine
-- path checker (standard policy), and, when the VM has limits, the coroutine arming function
-- and the `aborted` flag reader (see runtime/guard.rs). Under limits the VM's `string` library
-- is already the interruptible build of Lua's own (see runtime/guard.rs), opened by the host.
--
-- `--@ NAME` lines split the file into sections; each (policy, limits) pair compiles only
-- the sections it needs (sandbox.rs), so a strict VM does not load the standard policy's code.
--@ all
local policy, print, write, allowed, arm, aborted = ...
local G = _G
local type, select, error, load, pairs, setmetatable = type, select, error, load, pairs, setmetatable

-- Output: print, io.write and io.stdout:write go to the VM's output.
local out = setmetatable({}, { __name = "pylua.output" })
function out.write(self, ...) write(...) return self end
function out.flush(self) return self end
function out.setvbuf() return true end
function out.close() return nil, "the captured output cannot be closed" end
G.print = print
--@ strict
G.io = { write = function(...) write(...) return out end, stdout = out }
--@ standard none
G.io.write = function(...) write(...) return out end
G.io.stdout = out
--@ strict standard

-- Text chunks only: bytecode is not verified by Lua and can corrupt the VM.
local function text_only_load(chunk, name, mode, ...)
  if select("#", ...) > 0 then return load(chunk, name, "t", (...)) end
  return load(chunk, name, "t")
end

--@ strict
local function keep_only(t, names)
  local drop = {}
  for k in pairs(t) do if not names[k] then drop[#drop + 1] = k end end
  for _, k in ipairs(drop) do t[k] = nil end
end

do
  G.dofile, G.loadfile, G.require, G.package, G.debug = nil, nil, nil, nil, nil
  G.load = text_only_load
  local collectgarbage = collectgarbage
  G.collectgarbage = function(opt)
    if opt == "count" then return collectgarbage("count") end
    error("collectgarbage(" .. (opt == nil and "" or ("'" .. tostring(opt) .. "'"))
      .. ") is not available in the strict sandbox; only collectgarbage('count') is", 2)
  end
  G.string.dump = nil
  keep_only(G.os, { time = true, clock = true, date = true })
  getmetatable("").__metatable = false
end
--@ standard
do
  local io, os, package = G.io, G.os, G.package
  os.execute, os.exit, os.tmpname, io.popen, package.loadlib = nil, nil, nil, nil, nil
  package.cpath = ""
  local traceback = G.debug.traceback
  G.debug = { traceback = traceback }
  package.loaded.debug = G.debug
  G.load = text_only_load

  local function check(path, writing)
    if type(path) == "string" and not allowed(path, writing) then
      error("access to '" .. path .. "' is denied: it is outside the directories this sandbox allows", 3)
    end
  end
  local open, lines, input, output = io.open, io.lines, io.input, io.output
  local remove, rename, loadfile = os.remove, os.rename, G.loadfile
  io.open = function(path, mode, ...)
    check(path, type(mode) == "string" and mode:find("[wa+]") ~= nil)
    return open(path, mode, ...)
  end
  io.lines = function(path, ...) check(path, false) return lines(path, ...) end
  io.input = function(file) check(file, false) return input(file) end
  io.output = function(file) check(file, true) return output(file) end
  os.remove = function(path) check(path, true) return remove(path) end
  os.rename = function(from, to) check(from, true) check(to, true) return rename(from, to) end
  G.loadfile = function(path, mode, ...)
    check(path, false)
    if select("#", ...) > 0 then return loadfile(path, "t", (...)) end
    return loadfile(path, "t")
  end
  G.dofile = function(path)
    local f, err = G.loadfile(path)
    if not f then error(err, 2) end
    return f()
  end
  -- require: only Lua modules, and only from allowed directories.
  local function searchpath(name, path, sep, rep)
    sep, rep = sep or ".", rep or "/"
    if sep ~= "" then name = name:gsub("%" .. sep, rep) end
    local tried = {}
    for template in path:gmatch("[^;]+") do
      local file = template:gsub("%?", name)
      if allowed(file, false) then
        local f = open(file, "r")
        if f then f:close() return file end
      end
      tried[#tried + 1] = "\n\tno file '" .. file .. "'"
    end
    return nil, table.concat(tried)
  end
  package.searchpath = searchpath
  local preload = package.searchers[1]
  local function lua_searcher(name)
    local file, err = searchpath(name, package.path)
    if not file then return err end
    local f, msg = loadfile(file, "t")
    if not f then
      error("error loading module '" .. name .. "' from file '" .. file .. "':\n\t" .. msg, 3)
    end
    return f, file
  end
  package.searchers = { preload, lua_searcher }
end
--@ strict standard
do
  -- Lua runs finalizers with hooks disabled, so a looping `__gc` could never be stopped.
  local setmetatable, rawget = setmetatable, rawget
  G.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc metamethods are not available in the " .. policy
        .. " sandbox: finalizers run where limits cannot stop them", 2)
    end
    return setmetatable(t, mt)
  end
end
--@ limits
do
  -- A message handler called for a fired limit would run with hooks disabled: skip it.
  local xpcall = xpcall
  G.xpcall = function(f, handler, ...)
    return xpcall(f, function(...)
      if aborted() then return ... end
      return handler(...)
    end, ...)
  end
  -- Every coroutine gets the limit hook (see runtime/guard.rs).
  local co = G.coroutine
  local create, resume, status, close = co.create, co.resume, co.status, co.close
  co.create = function(f) local c = create(f) arm(c) return c end
  co.wrap = function(f)
    local c = create(f)
    arm(c)
    local function finish(ok, ...)
      if ok then return ... end
      if close and status(c) == "dead" then close(c) end
      error((...), 0)
    end
    return function(...) return finish(resume(c, ...)) end
  end
  if G.debug and G.debug.sethook then
    G.debug.sethook = function()
      error("debug.sethook is not available while limits are set", 2)
    end
  end
end
