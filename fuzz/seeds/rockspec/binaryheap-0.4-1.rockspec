package = "binaryheap"
version = "0.4-1"
source = {
  dir = "binaryheap.lua-version_0v4",
  url = "file:///tmp/realrocks.work/binaryheap-0.4.tar.gz"
}
description = {
  detailed = "      Binary heaps are an efficient sorting algorithm. This module\
      implements a plain binary heap (without reverse lookup) and a\
      'unique' binary heap (with unique payloads and reverse lookup).\
   ",
  homepage = "https://github.com/Tieske/binaryheap.lua",
  license = "MIT/X11",
  summary = "Binary heap implementation in pure Lua"
}
dependencies = {
  "lua >= 5.1"
}
build = {
  modules = {
    binaryheap = "src/binaryheap.lua"
  },
  type = "builtin"
}
