package = "LPeg"
version = "1.0.2-1"
source = { url = "file:///tmp/realrocks.work/lpeg-1.0.2.tar.gz", dir = "lpeg-1.0.2" }
description = { summary = "Parsing Expression Grammars For Lua", license = "MIT/X11",
  homepage = "http://www.inf.puc-rio.br/~roberto/lpeg.html" }
dependencies = { "lua >= 5.1" }
build = {
  type = "builtin",
  modules = {
    lpeg = { "lpcap.c", "lpcode.c", "lpprint.c", "lptree.c", "lpvm.c" },
    re = "re.lua",
  },
}
