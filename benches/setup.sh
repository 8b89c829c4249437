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
