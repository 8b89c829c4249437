package = "penlight"
version = "1.13.1-1"
source = { url = "file:///tmp/realrocks.work/penlight-1.13.1.tar.gz", dir = "penlight-1.13.1" }
description = { summary = "penlight (rebuilt from Debian package lua-penlight_1.13.1-3_all.deb)", license = "see upstream" }
dependencies = { "lua >= 5.1", "luafilesystem" }
build = {
  type = "builtin",
  modules = {
    ["pl.Date"] = "src/pl/Date.lua",
    ["pl.List"] = "src/pl/List.lua",
    ["pl.Map"] = "src/pl/Map.lua",
    ["pl.MultiMap"] = "src/pl/MultiMap.lua",
    ["pl.OrderedMap"] = "src/pl/OrderedMap.lua",
    ["pl.Set"] = "src/pl/Set.lua",
    ["pl.app"] = "src/pl/app.lua",
    ["pl.array2d"] = "src/pl/array2d.lua",
    ["pl.class"] = "src/pl/class.lua",
    ["pl.compat"] = "src/pl/compat.lua",
    ["pl.comprehension"] = "src/pl/comprehension.lua",
    ["pl.config"] = "src/pl/config.lua",
    ["pl.data"] = "src/pl/data.lua",
    ["pl.dir"] = "src/pl/dir.lua",
    ["pl.file"] = "src/pl/file.lua",
    ["pl.func"] = "src/pl/func.lua",
    ["pl.import_into"] = "src/pl/import_into.lua",
    ["pl"] = "src/pl/init.lua",
    ["pl.input"] = "src/pl/input.lua",
    ["pl.lapp"] = "src/pl/lapp.lua",
    ["pl.lexer"] = "src/pl/lexer.lua",
    ["pl.luabalanced"] = "src/pl/luabalanced.lua",
    ["pl.operator"] = "src/pl/operator.lua",
    ["pl.path"] = "src/pl/path.lua",
    ["pl.permute"] = "src/pl/permute.lua",
    ["pl.pretty"] = "src/pl/pretty.lua",
    ["pl.seq"] = "src/pl/seq.lua",
    ["pl.sip"] = "src/pl/sip.lua",
    ["pl.strict"] = "src/pl/strict.lua",
    ["pl.stringio"] = "src/pl/stringio.lua",
    ["pl.stringx"] = "src/pl/stringx.lua",
    ["pl.tablex"] = "src/pl/tablex.lua",
    ["pl.template"] = "src/pl/template.lua",
    ["pl.test"] = "src/pl/test.lua",
    ["pl.text"] = "src/pl/text.lua",
    ["pl.types"] = "src/pl/types.lua",
    ["pl.url"] = "src/pl/url.lua",
    ["pl.utils"] = "src/pl/utils.lua",
    ["pl.xml"] = "src/pl/xml.lua"
  },
}
