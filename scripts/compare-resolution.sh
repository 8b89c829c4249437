#!/usr/bin/env bash
# Compares the package set `pylua install --dry-run` plans with what LuaRocks installs for
# the same request, package by package, on a local rocks server (default: the realrocks
# mirror built by ../shared/realrocks/build-mirror.py).
# usage: scripts/compare-resolution.sh [SERVER_DIR] [PACKAGE...]
set -euo pipefail
server=${1:-/tmp/realrocks}
shift || true
pylua=${PYLUA:-target/release/pylua}
# The reference tool and the headers it insists on, from Debian.
if ! command -v luarocks >/dev/null || [ ! -f /usr/include/lua5.4/lua.h ]; then
  apt-get update -qq && apt-get install -y -qq lua5.4 liblua5.4-dev luarocks >/dev/null
fi
[ -x "$pylua" ] || cargo build --release --locked -p pylua-cli >/dev/null
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  mapfile -t packages < <("$pylua" search "" --only-server "$server" --json |
    python3 -c 'import json,sys; print("\n".join(h["name"] for h in json.load(sys.stdin)["result"]))')
fi
same=0; differ=0
for p in "${packages[@]}"; do
  ours=$("$pylua" install --dry-run --json "$p" --only-server "$server" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(x["name"].lower()+" "+x["version"] for x in d["result"]["packages"])) if d["ok"] else "ERROR")')
  tree=$(mktemp -d)
  if luarocks --lua-version=5.4 --tree "$tree" --only-server="$server" install "$p" >"$tree.log" 2>&1; then
    theirs=$(luarocks --lua-version=5.4 --tree "$tree" list --porcelain | awk '{print tolower($1)" "$2}' | sort | tr '\n' ' ' | sed 's/ $//')
  else
    theirs="ERROR"
  fi
  ours_sorted=$(echo "$ours" | tr ' ' '\n' | paste - - -d' ' | sort | tr '\n' ' ' | sed 's/ $//')
  if [ "$ours_sorted" = "$theirs" ]; then same=$((same+1)); verdict=same; else differ=$((differ+1)); verdict=DIFFERENT; fi
  printf '%-18s %-9s pylua: %s | luarocks: %s\n' "$p" "$verdict" "$ours_sorted" "$theirs"
  rm -rf "$tree" "$tree.log"
done
echo "$same same, $differ different"
