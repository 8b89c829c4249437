package = "argparse"
version = "0.7.1-1"
source = {
  dir = "argparse-0.7.1",
  url = "file:///tmp/realrocks.work/argparse-0.7.1.tar.gz"
}
description = {
  detailed = "Argparse supports positional arguments, options, flags, optional arguments, subcommands and more. Argparse automatically generates usage, help, and error messages, and can generate shell completion scripts.",
  homepage = "https://github.com/luarocks/argparse",
  license = "MIT",
  summary = "A feature-rich command-line argument parser"
}
dependencies = {
  "lua >= 5.1, < 5.5"
}
build = {
  modules = {
    argparse = "src/argparse.lua"
  },
  type = "builtin"
}
