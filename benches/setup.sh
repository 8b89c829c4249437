#!/usr/bin/env bash
# Installs the references the benchmarks compare against: Debian's lua5.4 and lupa.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v lua5.4 >/dev/null; then
    $SUDO apt-get update
    $SUDO apt-get install -y lua5.4
fi
python3 -m pip install 'lupa==2.8'
lua5.4 -v
python3 -c 'import lupa, lupa.lua54; print("lupa", lupa.__version__)'
# The Python module's benchmark (benches/python_vs_lupa.py) runs in the test virtualenv that
# scripts/test-all.sh builds: lupa goes there too when it exists.
venv="$(dirname "$0")/../target/py-venv"
if [ -x "$venv/bin/python" ]; then
    "$venv/bin/python" -m pip install -q 'lupa==2.8'
fi
