-- Rockspecs are Lua: locals, loops, string functions and long strings.
local major, minor = 2, 0
local base = ("computed-%d.%d"):format(major, minor)
package = "computed"
version = major .. "." .. minor .. "-3"
source = {
   url = "https://example.org/" .. base .. ".tar.gz",
   dir = base,
}
description = {
   summary = [[A rockspec that computes its fields]],
   detailed = [==[
      Several lines,
      with ]] inside.
   ]==],
   license = "MIT",
}
dependencies = {}
for _, d in ipairs({ "lua >= 5.1", "lpeg ~> 1.0", "penlight == 1.13.1-1" }) do
   dependencies[#dependencies + 1] = d
end
local modules = {}
for _, name in ipairs({ "a", "b", "c" }) do
   modules["computed." .. name] = "src/" .. name:upper() .. ".lua"
end
build = {
   type = "make",
   modules = modules,
   build_variables = { CFLAGS = "$(CFLAGS) -O2", LUA_INCDIR = "$(LUA_INCDIR)" },
   install_variables = { PREFIX = "$(PREFIX)" },
   platforms = {
      unix = { build_variables = { LIBFLAG = "-shared" } },
      win32 = { type = "command", build_command = "nmake" },
   },
}
