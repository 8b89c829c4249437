#!/usr/bin/env bash
# Every figure of the scale targets in one run, one after the other on the same machine, then
# a table of medians against the targets (see BENCHMARKS.md):
#
#   1. a luarocks.org-sized index: first parse, warm search, warm resolve, `lua5.4` loading
#      the same manifest (benches/index_cache.sh);
#   2. busted's tree (10 packages, 2 compiled) from the realrocks mirror: cold (empty home)
#      and warm, luarocks 3.8 in the same run;
#   3. limits, by criterion: warm `return 1+1`, a host call and fib(30), each with and
#      without memory + instruction + time limits;
#   4. a locked 10-package project from a `pylua server build --binary` directory with the
#      C compiler hidden, against the same from sources (benches/server_compare.sh).
#
#   benches/scale.sh [MIRROR_DIR]      (about 10 minutes; needs hyperfine, lua5.4, luarocks)
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=$(realpath -m "${1:-/tmp/pylua-realrocks}")
OUT=/tmp/pylua-scale
rm -rf "$OUT" && mkdir -p "$OUT"
for tool in hyperfine lua5.4 luarocks; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (benches/setup.sh)" >&2; exit 1; }
done
if [ ! -f "$MIRROR/manifest" ]; then
    python3 ../shared/realrocks/build-mirror.py "$MIRROR"
fi
cargo build --release --locked -p pylua-cli >/dev/null 2>&1
PYLUA=$(realpath target/release/pylua)
echo "== $(date -u +%FT%TZ), $(git rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

echo "== 1. index"
benches/index_cache.sh "$PYLUA"
cp /tmp/idx-bench.json "$OUT/index.json"

echo "== 2. busted's tree"
B=$OUT/busted
mkdir -p "$B"
# The warm home: caches and store filled once.
env PYLUA_HOME="$B/hw" "$PYLUA" -q install busted --only-server "$MIRROR" --tree "$B/t"
luarocks --lua-version=5.4 --tree "$B/lr" install busted --only-server="$MIRROR" >/dev/null
hyperfine -N --warmup 2 --runs 15 --export-json "$OUT/busted.json" \
    -n cold --prepare "rm -rf $B/t $B/hc && sync" \
    "env PYLUA_HOME=$B/hc $PYLUA install busted --only-server $MIRROR --tree $B/t" \
    -n warm --prepare "rm -rf $B/t" \
    "env PYLUA_HOME=$B/hw $PYLUA install busted --only-server $MIRROR --tree $B/t"
hyperfine -N --warmup 1 --runs 3 --export-json "$OUT/luarocks.json" \
    -n luarocks --prepare "rm -rf $B/lr" \
    "luarocks --lua-version=5.4 --tree $B/lr install busted --only-server=$MIRROR"
"$B/t/bin/busted" --version

echo "== 3. limits (criterion)"
cargo bench -p pylua --bench vm -- 'warm/eval$|warm/eval_limits$|call/vm_function|fib/vm' \
    2>&1 | grep -E '^(warm|call|fib)/|time:'

echo "== 4. a locked project from a pylua server, no compiler"
benches/server_compare.sh "$MIRROR" 10 | tee "$OUT/server.txt"
cp /tmp/server-bench.json "$OUT/server.json"

echo "== summary"
python3 - "$OUT" <<'EOF'
import json, os, re, sys
out = sys.argv[1]
crit = "target/criterion"

def hyper(file, name):
    for r in json.load(open(os.path.join(out, file)))["results"]:
        if r["command"] == name:
            return r["median"]
    raise KeyError(name)

def criterion(group, bench):
    est = json.load(open(f"{crit}/{group}/{bench}/new/estimates.json"))
    return est["median"]["point_estimate"]  # ns

rows = []
def row(case, value, unit, target, ok, note=""):
    rows.append((case, f"{value:.1f} {unit}", target, "pass" if ok else "miss", note))

lua = hyper("index.json", "lua5.4 dofile") * 1e3
first = hyper("index.json", "search, first parse") * 1e3
row("index: first parse", first, "ms", "≤ 60 ms", first <= 60, f"lua5.4 {lua:.1f} ms")
for case in ["search, warm", "resolve, warm"]:
    v = hyper("index.json", case) * 1e3
    row(f"index: {case}", v, "ms", "≤ 30 ms", v <= 30)
lr = hyper("luarocks.json", "luarocks")
cold = hyper("busted.json", "cold")
warm = hyper("busted.json", "warm")
row("busted tree: cold", cold * 1e3, "ms", "≤ 250 ms", cold <= 0.25, f"luarocks {lr:.2f} s: {lr / cold:.0f}×")
row("busted tree: warm", warm * 1e3, "ms", "≤ 30 ms", warm <= 0.03, f"{lr / warm:.0f}× luarocks")
w = criterion("warm", "eval_limits")
row("warm `return 1+1`, all limits", w, "ns", "≤ 300 ns", w <= 300, f"no limits {criterion('warm', 'eval'):.1f} ns")
c = criterion("call", "vm_function_call_limits")
row("host call, all limits", c, "ns", "≤ 80 ns", c <= 80, f"no limits {criterion('call', 'vm_function_call'):.1f} ns")
f0, f1 = criterion("fib", "vm"), criterion("fib", "vm_limits")
row("fib(30), all limits", f1 / f0, "×", "≤ 1.15×", f1 / f0 <= 1.15, f"{f1 / 1e6:.1f} vs {f0 / 1e6:.1f} ms")
source = hyper("server.json", "from source (compiles lua-term, luafilesystem, luasystem)")
binary = hyper("server.json", "from the pylua server, CC=false")
# server_compare.sh ends by running busted from the tree installed without a compiler.
runs = re.search(r"^\d+\.\d+\.\d+\s*$", open(os.path.join(out, "server.txt")).read(), re.M) is not None
row("locked busted project from a pylua server, CC=false", binary * 1e3, "ms", "installs, busted runs", runs, f"from source {source * 1e3:.0f} ms: {source / binary:.1f}×")
print("| case | median | target | verdict | note |")
print("| --- | ---: | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
