#!/usr/bin/env bash
# The whole test suite: the Rust tests, then the Python module built with maturin into a
# virtualenv (target/py-venv) and its pytest suite (tests/python), then the examples of the
# docs (scripts/test-docs.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
venv="${PYLUA_TEST_VENV:-target/py-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip show maturin >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q "maturin>=1.5,<2"
"$venv/bin/python" -m pip show pytest >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q pytest
# --no-build-isolation: build with the venv's maturin and this checkout's target/ directory.
CARGO_TARGET_DIR="$PWD/target" "$venv/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps .
(cd target && "../$venv/bin/python" -m pytest -q ../tests/python "$@")
# The examples of README.md and docs/ (marked code blocks), run against a local rocks server.
PYLUA_TEST_VENV="$venv" "$venv/bin/python" scripts/test-docs.py
