package = "cmake-thing"
version = "scm-1"
source = { url = "git://example.org/cmake-thing.git", branch = "main" }
dependencies = { "lua ~> 5.4" }
build = {
   type = "cmake",
   variables = { CMAKE_INSTALL_PREFIX = "$(PREFIX)", BUILD_SHARED = 1 },
}
