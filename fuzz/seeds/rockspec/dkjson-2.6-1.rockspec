package = "dkjson"
version = "2.6-1"
source = { url = "file:///tmp/realrocks.work/dkjson-2.6.tar.gz", dir = "dkjson-2.6" }
description = { summary = "dkjson (rebuilt from Debian package lua-dkjson_2.6-2_all.deb)", license = "see upstream" }
dependencies = { "lua >= 5.1, < 5.5" }
build = {
  type = "builtin",
  modules = {
    ["dkjson"] = "src/dkjson.lua"
  },
}
