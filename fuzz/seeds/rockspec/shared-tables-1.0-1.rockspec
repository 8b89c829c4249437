-- Tables referred to from several places, a cycle, and a doubling loop: each reference is
-- read again, so the reader bounds the total size.
package = "shared-tables"
version = "1.0-1"
source = { url = "https://example.org/shared.tar.gz" }
local defines = { "NDEBUG", "SHARED" }
build = {
   type = "builtin",
   modules = {
      ["shared.a"] = { sources = { "a.c" }, defines = defines },
      ["shared.b"] = { sources = { "b.c" }, defines = defines },
   },
}
build.self = build
local t = { "leaf" }
for i = 1, 8 do t = { t, t } end
build.variables = { TREE = t, TEXT = ("x"):rep(64) }
return t
