-- The sandbox policies (see runtime/sandbox.rs for the table of what each allows), written
-- once for both backends: the embedded VM (Lua 5.4, prelude.lua) and process VMs (Lua 5.1 to
-- 5.4 and LuaJIT, session.lua), so it sticks to what those share. The host compiles it as a
-- function `apply_policy` ahead of its own script and calls it once, before any user code:
--
--   apply_policy(G, policy, print, write, allowed, load_text, loadfile_text, luasocket_cpath)
--
--   G                          the globals table
--   policy                     "none", "standard" or "strict"
--   print(...), write(...)     the captured output
--   allowed(path, writing)     whether a path lies in an allowed directory (standard only)
--   load_text(chunk, name, ...)   `load` that refuses bytecode; `...` is the optional env
--   loadfile_text(path, ...)      `loadfile` that refuses bytecode; a nil path reads stdin
--   luasocket_cpath            standard only, with --allow-luasocket: the templates LuaSocket's
--                              and LuaSec's C modules load from ("" = the default cpath); nil
--                              otherwise
--
-- `--@ NAME` lines split the file into sections; a policy compiles only the sections tagged
-- with its name (or `all`), so a strict VM does not carry the standard policy's code.
--@ all
local G, policy, print, write, allowed, load_text, loadfile_text, luasocket_cpath = ...
local type, tostring, error, next, rawget, getmetatable, setmetatable =
  type, tostring, error, next, rawget, getmetatable, setmetatable

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
G.io.stdout = out
-- The default output file starts as the captured output; io.output(file) sends io.write to
-- that file, as in Lua.
do
  local io = G.io
  local output, close, current = io.output, io.close, out
  io.write = function(...)
    if current == out then write(...) return out end
    return current:write(...)
  end
  io.output = function(file)
    if file == nil then return current end
    if file == out then current = out return out end
    current = output(file)
    return current
  end
  io.close = function(file)
    if file == nil then file = current end
    if file == out then return out:close() end
    return close(file)
  end
end
--@ strict standard

-- Text chunks only: bytecode is not verified by Lua and can corrupt the VM.
G.load = function(chunk, name, mode, ...) return load_text(chunk, name, ...) end
if G.loadstring then G.loadstring = function(s, name) return load_text(s, name) end end

-- LuaJIT: no FFI (native code) and no switching the compiler back on (limits need it off).
local jit = rawget(G, "jit")
if jit then
  local safe = { version = jit.version, version_num = jit.version_num, os = jit.os,
    arch = jit.arch, status = jit.status }
  G.jit = safe
  local package = rawget(G, "package")
  if package then
    for _, name in next, { "ffi", "jit.util", "jit.profile", "jit.opt", "jit.p", "jit.v",
        "jit.dump", "jit.bcsave", "jit.zone" } do
      package.preload[name] = nil
      package.loaded[name] = nil
    end
    package.loaded.jit = safe
  end
end
--@ strict
do
  G.dofile, G.loadfile, G.require, G.package, G.debug = nil, nil, nil, nil, nil
  G.module, G.setfenv, G.getfenv, G.newproxy = nil, nil, nil, nil
  local collectgarbage = G.collectgarbage
  G.collectgarbage = function(opt)
    if opt == "count" then return collectgarbage("count") end
    error("collectgarbage(" .. (opt == nil and "" or ("'" .. tostring(opt) .. "'"))
      .. ") is not available in the strict sandbox; only collectgarbage('count') is", 2)
  end
  G.string.dump = nil
  local os, keep = G.os, { time = true, clock = true, date = true }
  local drop = {}
  for k in next, os do if not keep[k] then drop[#drop + 1] = k end end
  for i = 1, #drop do os[drop[i]] = nil end
  getmetatable("").__metatable = false
end
--@ standard
do
  local io, os, package = G.io, G.os, G.package
  local gsub, gmatch, find, match, concat =
    G.string.gsub, G.string.gmatch, G.string.find, G.string.match, G.table.concat
  local loadlib = package.loadlib
  if luasocket_cpath == "" then luasocket_cpath = package.cpath end
  os.execute, os.exit, os.tmpname, io.popen, package.loadlib = nil, nil, nil, nil, nil
  package.cpath = ""
  G.debug = { traceback = G.debug.traceback }
  package.loaded.debug = G.debug
  G.newproxy = nil

  local function check(path, writing)
    if type(path) == "string" and not allowed(path, writing) then
      if writing and allowed(path, false) then
        error("writing to '" .. path .. "' is denied: this sandbox may read it but not change"
          .. " it (the rocks tree, and the directories that hold it, are read-only)", 3)
      end
      error("access to '" .. path .. "' is denied: it is outside the directories this sandbox allows", 3)
    end
  end
  local open, lines, input, output = io.open, io.lines, io.input, io.output
  local remove, rename = os.remove, os.rename
  io.open = function(path, mode, ...)
    check(path, type(mode) == "string" and find(mode, "[wa+]") ~= nil)
    return open(path, mode, ...)
  end
  io.lines = function(path, ...) check(path, false) return lines(path, ...) end
  io.input = function(file) check(file, false) return input(file) end
  io.output = function(file) check(file, true) return output(file) end
  os.remove = function(path) check(path, true) return remove(path) end
  os.rename = function(from, to) check(from, true) check(to, true) return rename(from, to) end
  G.loadfile = function(path, mode, ...)
    check(path, false)
    return loadfile_text(path, ...)
  end
  G.dofile = function(path)
    local f, err = G.loadfile(path)
    if not f then error(err, 2) end
    return f()
  end
  -- require: only Lua modules, and only from allowed directories.
  local function searchpath(name, path, sep, rep)
    sep, rep = sep or ".", rep or "/"
    if sep ~= "" then name = gsub(name, "%" .. sep, rep) end
    local tried = {}
    for template in gmatch(path, "[^;]+") do
      local file = gsub(template, "%?", name)
      if allowed(file, false) then
        local f = open(file, "r")
        if f then f:close() return file end
      end
      tried[#tried + 1] = "\n\tno file '" .. file .. "'"
    end
    return nil, concat(tried)
  end
  package.searchpath = searchpath
  -- Cleared in place: Lua 5.1's `require` keeps its own reference to `package.loaders`.
  local searchers = package.searchers or package.loaders
  local preload = searchers[1]
  -- Network C modules get a clear refusal: no policy can constrain what a C module reaches.
  local function network_c_module(name)
    return name == "socket" or find(name, "^socket%.") or find(name, "^ssl") or name == "mime.core"
      or find(name, "^cqueues")
  end
  local function lua_searcher(name)
    local file, err = searchpath(name, package.path)
    if not file and network_c_module(name) and not luasocket_cpath then
      error("module '" .. name .. "' is LuaSocket/LuaSec C code, which the " .. policy
        .. " sandbox does not load (a network policy cannot constrain a C module): use `net`"
        .. " with --allow-net HOST; to load LuaSocket, --allow-luasocket (standard) or"
        .. " --sandbox none", 3)
    end
    if not file then return err end
    local f, msg = loadfile_text(file)
    if not f then
      error("error loading module '" .. name .. "' from file '" .. file .. "':\n\t" .. msg, 3)
    end
    return f, file
  end
  -- With --allow-luasocket: the network C modules, and only those, from the given templates,
  -- never from a directory this sandbox can write in (the host makes the templates'
  -- directories read-only), so a script cannot plant native code and load it.
  local function find_c(file_name)
    file_name = gsub(file_name, "%%", "%%%%")
    for template in gmatch(luasocket_cpath, "[^;]+") do
      local file = gsub(template, "%?", file_name)
      local f = open(file, "rb")
      if f then f:close() return file end
    end
  end
  local function luasocket_searcher(name)
    if not network_c_module(name) then return nil end
    -- `socket.core` is socket/core.so; `ssl.core` is also found in ssl.so (all-in-one).
    local file = find_c(gsub(name, "%.", "/")) or find_c(match(name, "^[^.]+"))
    if not file then return "\n\tno C module '" .. name .. "' in " .. luasocket_cpath end
    if allowed(file, true) then
      error("module '" .. name .. "' is not loaded from '" .. file .. "': the sandbox can"
        .. " write in that directory, and C modules load only from the tree", 3)
    end
    local f, err = loadlib(file, "luaopen_" .. gsub(name, "%.", "_"))
    if not f then
      error("error loading module '" .. name .. "' from file '" .. file .. "':\n\t" .. err, 3)
    end
    return f, file
  end
  for i = #searchers, 1, -1 do searchers[i] = nil end
  searchers[1], searchers[2] = preload, lua_searcher
  if luasocket_cpath and loadlib then searchers[3] = luasocket_searcher end
end
--@ strict standard
do
  -- Lua runs finalizers with hooks disabled, so a looping `__gc` could never be stopped.
  G.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc metamethods are not available in the " .. policy
        .. " sandbox: finalizers run where limits cannot stop them", 2)
    end
    return setmetatable(t, mt)
  end
end
