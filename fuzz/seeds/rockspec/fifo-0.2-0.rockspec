package = "fifo"
version = "0.2-0"
source = {
  dir = "fifo.lua-0.2",
  url = "file:///tmp/realrocks.work/fifo-0.2.tar.gz"
}
description = {
  homepage = "https://github.com/daurnimator/fifo.lua",
  license = "MIT/X11",
  summary = "A lua library/'class' that implements a FIFO"
}
dependencies = {
  "lua"
}
build = {
  modules = {
    fifo = "fifo.lua"
  },
  type = "builtin"
}
