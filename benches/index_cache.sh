#!/usr/bin/env bash
# Search and resolution against a luarocks.org-sized server, whole process, with hyperfine:
# the first parse (no index in the cache), a warm search and a warm resolve, next to
# `lua5.4` loading the same manifest in the same run (see BENCHMARKS.md).
#
#   benches/index_cache.sh [PYLUA [BEFORE_PYLUA]]
#
# PYLUA defaults to target/release/pylua; BEFORE_PYLUA, when given, is measured in the same
# run (a build of another commit). The server is /tmp/idx-synth, made with the synthetic
# generator (seed 1, 5 000 packages) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYLUA=$(realpath "${1:-target/release/pylua}")
BEFORE=${2:+$(realpath "$2")}
DIR=/tmp/idx-synth
if [ ! -f "$DIR/manifest" ]; then
    mkdir -p "$DIR"
    cargo run --release -p pylua --features synthetic --example gen_manifest -- "$DIR/manifest"
fi
# One package to resolve: the first package with a single version, listed with a loose
# rockspec, gets a minimal one (the synthetic server has no rockspec files of its own).
read -r NAME VERSION < <(python3 - "$DIR/manifest" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'\n   \[?"?([A-Za-z0-9_.-]+)"?\]? = \{\n((?:      .*\n)+?)   \},', text):
    versions = re.findall(r'\["([^"]+)"\] = \{\n((?:         .*\n)*?)      \}', m.group(2))
    if len(versions) == 1 and 'arch = "rockspec"' in versions[0][1]:
        print(m.group(1), versions[0][0])
        sys.exit()
EOF
)
cat > "$DIR/$NAME-$VERSION.rockspec" <<EOF
package = "$NAME"
version = "$VERSION"
source = { url = "https://example.invalid/$NAME-$VERSION.tar.gz" }
dependencies = { "lua >= 5.1" }
build = { type = "builtin", modules = {} }
EOF
export PYLUA_HOME=/tmp/idx-bench-home
rm -rf "$PYLUA_HOME" /tmp/idx-bench-tree
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs; resolving $NAME $VERSION"
ls -l "$DIR/manifest"
SEARCH="search nomatch --only-server file://$DIR"
RESOLVE="install --dry-run $NAME --only-server file://$DIR --tree /tmp/idx-bench-tree"
"$PYLUA" $RESOLVE
# Each case: name, preparation, command (hyperfine wants one preparation per command).
cases=(
    "lua5.4 dofile" true "lua5.4 -e \"dofile('$DIR/manifest')\""
    "search, first parse" "rm -rf $PYLUA_HOME/cache/indexes" "$PYLUA $SEARCH"
    "search, warm" true "$PYLUA $SEARCH"
    "resolve, warm" true "$PYLUA $RESOLVE"
)
if [ -n "$BEFORE" ]; then
    cases+=("before: search" true "$BEFORE $SEARCH" "before: resolve" true "$BEFORE $RESOLVE")
fi
args=()
for ((i = 0; i < ${#cases[@]}; i += 3)); do
    args+=(-n "${cases[i]}" --prepare "${cases[i + 1]}" "${cases[i + 2]}")
done
hyperfine -N --warmup 3 --runs 30 --export-json /tmp/idx-bench.json "${args[@]}"
python3 - <<'EOF'
import json, statistics
results = json.load(open("/tmp/idx-bench.json"))["results"]
lua = statistics.median(next(r for r in results if r["command"] == "lua5.4 dofile")["times"])
print(f"\n{'case':<24} {'median':>10} {'vs lua5.4':>10}")
for r in results:
    m = statistics.median(r["times"])
    print(f"{r['command']:<24} {m * 1000:>8.1f} ms {m / lua:>9.2f}×")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
