#!/usr/bin/env bash
# Runs the runtime's memory-safety suites under a memory checker and fails (non-zero) on any
# error it reports or any test that fails:
#
#   * the runtime's unit tests (`cargo test --lib runtime`: the arena, the VM, values),
#   * tests/escape.rs, tests/limits.rs (the sandbox and the limits),
#   * tests/stack.rs (thousands of arguments and results through every host function),
#   * tests/watchdog.rs (thousands of short deadlines on several threads, signals),
#   * tests/protocol.rs (a child interpreter that breaks the pipe protocol),
#   * tests/closing.rs (VMs dropped with and without the work of `lua_close`).
#
# Usage:
#   scripts/sanitize.sh            # AddressSanitizer (the default)
#   scripts/sanitize.sh asan
#   scripts/sanitize.sh valgrind   # valgrind memcheck: no special build, much slower
#
# AddressSanitizer needs no nightly toolchain: the stable compiler's sanitizer flag is
# unlocked with RUSTC_BOOTSTRAP=1, and its runtime ships with rust-std. The standard library
# itself is not rebuilt with instrumentation (that needs `-Zbuild-std` and the rust-src
# component), but all of pylua, its dependencies and the embedded Lua's C code are: CFLAGS
# reaches the `cc` builds of lua-src and pylua's patched string library. The build goes to
# target/sanitize, apart from the ordinary one. PYLUA_NO_ARENA=1 makes every block a Lua
# state allocates come from malloc instead of the VM's arena, so the checker sees each one.
#
# Time, measured on a 2-core machine shared with other builds: 5 min 15 s for a first ASan
# run (about 3 min building, 1.5 min in the suites: stack 46 s, limits 15 s, protocol 10 s,
# watchdog 4 s); a later run rebuilds only pylua. valgrind needs no separate build but runs
# the code 20-50 times slower: the limits suite alone took 6 min 46 s, so a full valgrind run
# is well over 10 minutes (use ASan in CI). Under valgrind one test is skipped: it fills
# 32 MiB under a 20 s timeout, which memcheck's slowdown turns into a timeout (a wall-clock
# artefact, not a memory error; ASan runs it).
#
# Requirements: gcc with libasan (Debian: gcc), or valgrind for the fallback; lua5.4 on PATH
# for the process backend cases (Debian: apt-get install lua5.4), else one is built from the
# bundled sources.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="${1:-asan}"
target="$(rustc -vV | sed -n 's/^host: //p')"
suites=(--test escape --test limits --test stack --test watchdog --test protocol --test closing)
export PYLUA_NO_ARENA=1
start=$(date +%s)

case "$mode" in
asan)
    export RUSTC_BOOTSTRAP=1
    export CARGO_TARGET_DIR="$PWD/target/sanitize"
    # With --target, these reach the code under test but not build scripts or proc macros.
    export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
    export CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1"
    # Lua raises errors with longjmp, which ASan follows; the process backend's child
    # interpreters are not instrumented and ignore these options.
    export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:halt_on_error=1"
    cargo test --locked --target "$target" -p pylua --lib -- runtime
    cargo test --locked --target "$target" -p pylua "${suites[@]}"
    ;;
valgrind)
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
    # Build the test binaries normally and run each under memcheck, one test at a time.
    mapfile -t binaries < <(
        cargo test --locked -p pylua --lib "${suites[@]}" --no-run --message-format=json 2>/dev/null |
            sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
    )
    [ "${#binaries[@]}" -gt 0 ] || { echo "no test binaries were built" >&2; exit 2; }
    for bin in "${binaries[@]}"; do
        filter=()
        case "$(basename "$bin")" in pylua-*) filter=(runtime) ;; esac
        echo "== valgrind $(basename "$bin") ${filter[*]}"
        valgrind --quiet --error-exitcode=1 --leak-check=no --track-origins=no \
            "$bin" --test-threads=1 --skip memory_limits_stop_big_strings_and_growing_tables \
            "${filter[@]}"
    done
    ;;
*)
    echo "usage: $0 [asan|valgrind]" >&2
    exit 2
    ;;
esac

echo "sanitize ($mode): all suites clean in $(($(date +%s) - start)) s"
