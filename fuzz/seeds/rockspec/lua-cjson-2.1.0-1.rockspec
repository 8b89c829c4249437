package = "lua-cjson"
version = "2.1.0-1"
source = {
  dir = "lua-cjson-2.1.0+dfsg",
  url = "file:///tmp/realrocks.work/lua-cjson-2.1.0.tar.gz"
}
description = {
  detailed = "        The Lua CJSON module provides JSON support for Lua. It features:\
        - Fast, standards compliant encoding/parsing routines\
        - Full support for JSON with UTF-8, including decoding surrogate pairs\
        - Optional run-time support for common exceptions to the JSON specification\
          (infinity, NaN,..)\
        - No dependencies on other libraries\
    ",
  homepage = "http://www.kyne.com.au/~mark/software/lua-cjson.php",
  license = "MIT",
  summary = "A fast JSON encoding/parsing module"
}
dependencies = {
  "lua >= 5.1"
}
build = {
  copy_directories = {
    "tests"
  },
  install = {
    bin = {
      json2lua = "lua/json2lua.lua",
      lua2json = "lua/lua2json.lua"
    },
    lua = {
      ["cjson.util"] = "lua/cjson/util.lua"
    }
  },
  modules = {
    cjson = {
      defines = {},
      sources = {
        "lua_cjson.c",
        "strbuf.c",
        "fpconv.c"
      }
    }
  },
  platforms = {
    win32 = {
      modules = {
        cjson = {
          defines = {
            "DISABLE_INVALID_NUMBERS"
          }
        }
      }
    }
  },
  type = "builtin"
}
