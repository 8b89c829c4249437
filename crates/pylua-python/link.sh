#!/bin/sh
# Linker for the Python extension (maturin passes it with `-C linker=`, see pyproject.toml).
#
# Why: rustc links a cdylib with a version script that makes every symbol local except the
# module's PyInit function, so the Lua C API compiled into the extension is invisible to the
# Lua C modules (cjson.so, lpeg.so…) that `require` loads. A second version script cannot be
# combined with rustc's anonymous one, so this adds the Lua API to rustc's list before calling
# the real linker. With the extension imported RTLD_GLOBAL (pylua_vm/__init__.py), C modules
# then resolve lua_*/luaL_* against the embedded Lua — the same set the `pylua` binary exports
# (crates/pylua-cli/lua-api.list).
for arg in "$@"; do
  case "$arg" in
    -Wl,--version-script=*)
      script="${arg#-Wl,--version-script=}"
      if [ -f "$script" ] && ! grep -q 'luaL_\*' "$script"; then
        sed -i 's/^\([[:space:]]*\)global:/\1global:\n    lua_*;\n    luaL_*;\n    luaopen_*;/' "$script"
      fi
      ;;
  esac
done
exec "${PYLUA_LINK_CC:-cc}" "$@"
