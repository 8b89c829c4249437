package = "ansicolors"
version = "1.0.2-1"
source = {
  dir = "ansicolors.lua-1.0.2",
  url = "file:///tmp/realrocks.work/ansicolors-1.0.2.tar.gz"
}
description = {
  detailed = "    Ansicolors is a simple Lua function for printing to the console in color.\
  ",
  homepage = "https://github.com/kikito/ansicolors.lua",
  license = "MIT <http://opensource.org/licenses/MIT>",
  summary = "Library for color Manipulation."
}
dependencies = {
  "lua >= 5.1"
}
build = {
  modules = {
    ansicolors = "ansicolors.lua"
  },
  type = "builtin"
}
