-- Runs once in every new VM, before any user code: installs the sandbox policy (policy.lua,
-- compiled ahead of this file as `apply_policy`) and, when the VM has limits, what they need.
-- The host passes: the policy name, the captured print and write functions, the path checker
-- (standard policy), when the VM has limits the `aborted` flag reader (see runtime/guard.rs),
-- and the templates LuaSocket's C modules load from (standard policy with
-- --allow-luasocket; nil otherwise). Under limits the VM's `string` library is
-- already the interruptible build of Lua's own (see runtime/guard.rs), opened by the host.
--
-- `--@ NAME` lines split the file into sections; each (policy, limits) pair compiles only
-- the sections it needs (sandbox.rs).
--@ all
local policy, print, write, allowed, aborted, luasocket_cpath = ...
local G = _G
local select, error, load, loadfile = select, error, load, loadfile

-- An explicit nil environment is an argument too (`load(s, n, "t", nil)`): keep the count.
local function load_text(chunk, name, ...)
  if select("#", ...) > 0 then return load(chunk, name, "t", (...)) end
  return load(chunk, name, "t")
end
local function loadfile_text(path, ...)
  if select("#", ...) > 0 then return loadfile(path, "t", (...)) end
  return loadfile(path, "t")
end
apply_policy(G, policy, print, write, allowed, load_text, loadfile_text, luasocket_cpath)
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
  if G.debug and G.debug.sethook then
    G.debug.sethook = function()
      error("debug.sethook is not available while limits are set", 2)
    end
  end
end
