package = "lua-MessagePack"
version = "0.5.2-1"
source = {
  dir = "lua-MessagePack-0.5.2",
  url = "file:///tmp/realrocks.work/lua-messagepack-0.5.2.tar.gz"
}
description = {
  detailed = "        MessagePack is an efficient binary serialization format.\
\
        It lets you exchange data among multiple languages like JSON but it's faster and smaller.\
    ",
  homepage = "https://fperrad.frama.io/lua-MessagePack/",
  license = "MIT/X11",
  maintainer = "Francois Perrad",
  summary = "a pure Lua implementation of the MessagePack serialization format"
}
dependencies = {
  "lua >= 5.1"
}
build = {
  copy_directories = {
    "docs",
    "test"
  },
  modules = {
    MessagePack = "src/MessagePack.lua"
  },
  type = "builtin"
}
