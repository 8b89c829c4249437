rockspec_format = "3.0"
package = "@PACKAGE@"
version = "dev-1"
source = {
  url = "git+https://example.invalid/@PACKAGE@.git",
}
description = {
  summary = "The @MODULE@ module.",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
test_dependencies = {
  "busted",
}
test = {
  type = "busted",
}
build = {
  type = "builtin",
  modules = {
    ["@MODULE@"] = "src/@MODULE@.lua",
  },
}
