#!/usr/bin/env bash
# A locked 10-package project (busted and its 9 dependencies, 3 of them with C modules)
# installed with an empty cache: from the realrocks mirror's sources (compiling), and from a
# server `pylua server build --binary` wrote, with the C compiler hidden (CC=false). Same
# hyperfine run (see BENCHMARKS.md).
#
#   benches/server_compare.sh [MIRROR_DIR] [RUNS]
#
# Needs hyperfine, a C compiler and Lua 5.4 headers for the source case; builds the mirror
# (../shared/realrocks/build-mirror.py) and pylua (release) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=$(realpath -m "${1:-/tmp/pylua-realrocks}")
RUNS=${2:-10}
if [ ! -f "$MIRROR/manifest" ]; then
    python3 ../shared/realrocks/build-mirror.py "$MIRROR"
fi
cargo build --release --locked -p pylua-cli >/dev/null 2>&1
PYLUA=$(realpath target/release/pylua)
WORK=$(mktemp -d /tmp/pylua-server-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export PYLUA_HOME="$WORK/home"

# The project against the mirror (sources), then the team server written from its lock.
mkdir -p "$WORK/source" "$WORK/binary"
(cd "$WORK/source" && "$PYLUA" -q init --name source --server "$MIRROR" && "$PYLUA" -q add busted)
"$PYLUA" -q server build "$WORK/server" --from-lock "$WORK/source/pylua.lock" --binary
# The same project locked against the team server (which it then installs from).
(cd "$WORK/binary" && "$PYLUA" -q init --name binary --server "$WORK/server" && "$PYLUA" -q add busted)
grep -c '\.linux-x86_64\.rock"' "$WORK/binary/pylua.lock" | sed 's/^/binary rocks in the lock: /'
grep -c '^\[\[package\]\]' "$WORK/binary/pylua.lock" | sed 's/^/packages in the lock: /'

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json /tmp/server-bench.json \
    --prepare "rm -rf $WORK/home $WORK/source/.pylua" \
    -n "from source (compiles lua-term, luafilesystem, luasystem)" \
    "$PYLUA -q sync --locked --project $WORK/source" \
    --prepare "rm -rf $WORK/home $WORK/binary/.pylua" \
    -n "from the pylua server, CC=false" \
    "env CC=false $PYLUA -q sync --locked --project $WORK/binary"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# busted really runs from the tree installed without a compiler.
(cd "$WORK/binary" && env CC=false "$PYLUA" -q sync --locked && "$PYLUA" run busted --version)
