#!/usr/bin/env bash
# Runs every benchmark in one go and prints the comparison table (see BENCHMARKS.md).
# Needs benches/setup.sh once. Extra arguments go to compare.py (e.g. --json FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v lua5.4 >/dev/null || ! python3 -c 'import lupa.lua54' 2>/dev/null; then
    echo "lua5.4 or lupa is missing: run benches/setup.sh first" >&2
    exit 1
fi
# Other work on the machine skews the figures: show how busy it was.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
cargo bench -p pylua --bench vm
python3 benches/compare.py "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
