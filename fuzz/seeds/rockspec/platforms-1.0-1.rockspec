rockspec_format = "3.0"
package = "Platforms"
version = "1.0-1"
source = {
   url = "git+https://example.org/platforms.git",
   tag = "v1.0",
   platforms = {
      windows = { url = "https://example.org/platforms-1.0.zip", md5 = "0123456789abcdef" },
   },
}
description = {
   summary = "Platform overrides everywhere",
   labels = { "test", "platforms" },
   platforms = { linux = { homepage = "https://example.org/linux" } },
}
supported_platforms = { "unix", "!windows" }
dependencies = {
   "lua >= 5.1, < 5.5",
   "LuaSocket ~> 3.0",
   platforms = {
      unix = { "luaposix >= 33" },
      windows = { "winapi" },
   },
}
build_dependencies = { "luarocks-build-rust >= 0.1" }
test_dependencies = { "busted" }
external_dependencies = {
   ZLIB = { header = "zlib.h" },
   platforms = {
      linux = { ZLIB = { library = "z" } },
   },
}
build = {
   type = "builtin",
   modules = {
      platforms = "src/platforms.lua",
      ["platforms.core"] = {
         sources = { "src/core.c", "src/util.c" },
         incdirs = { "$(ZLIB_INCDIR)" },
         libdirs = { "$(ZLIB_LIBDIR)" },
         libraries = { "z" },
         defines = { "NDEBUG" },
      },
   },
   install = { bin = { "bin/platforms" }, conf = { ["platforms.conf"] = "conf/default.conf" } },
   copy_directories = { "doc" },
   platforms = {
      unix = {
         modules = { ["platforms.core"] = { defines = { "UNIX" } } },
      },
      linux = {
         modules = { ["platforms.core"] = { libraries = { "rt" } } },
      },
      macosx = { type = "make", makefile = "Makefile.macos" },
   },
}
test = { type = "busted", flags = { "--verbose" } }
