#!/usr/bin/env python3
"""The reference side of the benchmarks and the comparison table.

Measures lupa (Lua 5.4 from Python) in this process, reads the medians that
`cargo bench -p pylua --bench vm` just wrote (criterion's estimates.json), and
prints one markdown table: each figure, its target, the reference measured in
the same run, the ratio and a verdict. `benches/run.sh` runs both sides.

    python3 benches/compare.py [--criterion DIR] [--json FILE] [--quick]
"""

import argparse
import gc
import json
import os
import statistics
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIB_SOURCE = (ROOT / "crates/pylua/benches/fib.lua").read_text()


def median_per_call(stmt, setup_globals, number, repeat):
    """Median over `repeat` runs of the time of one call (seconds), garbage collector on."""
    timer = timeit.Timer(stmt, setup="gc.enable()", globals={**setup_globals, "gc": gc})
    times = timer.repeat(repeat=repeat, number=number)
    return statistics.median(t / number for t in times)


def measure_lupa(quick):
    """Medians in nanoseconds of the lupa figures."""
    try:
        import lupa
        import lupa.lua54 as lua54
    except ImportError:
        sys.exit("lupa is not installed: run benches/setup.sh")
    scale = 0.2 if quick else 1.0
    n = lambda k: max(1, int(k * scale))  # noqa: E731
    out = {"lupa_version": lupa.__version__}

    # (a) a new runtime running one snippet (built and freed each time).
    out["cold"] = median_per_call('LuaRuntime().eval("1+1")', {"LuaRuntime": lua54.LuaRuntime}, n(200), 25)
    # The same with lupa's default module (a newer Lua), for reference only.
    out["cold_default"] = median_per_call('LuaRuntime().eval("1+1")', {"LuaRuntime": lupa.LuaRuntime}, n(200), 15)

    lua = lua54.LuaRuntime()
    # (b) a snippet on a warm runtime, source text in, value out.
    out["warm"] = median_per_call('lua.eval("1+1")', {"lua": lua}, n(20000), 25)
    # (c) one Python -> Lua function call.
    lua.execute("function add(a, b) return a + b end")
    add = lua.globals().add
    assert add(1, 2) == 3
    out["call"] = median_per_call("add(1, 2)", {"add": add}, n(50000), 25)
    # fib(30) inside lupa, for reference only.
    lua.execute(FIB_SOURCE)
    fib = lua.globals().fib
    assert fib(30) == 832040
    out["fib"] = median_per_call("fib(30)", {"fib": fib}, 1, 3 if quick else 7)
    return {k: (v * 1e9 if isinstance(v, float) else v) for k, v in out.items()}


def criterion_medians(directory):
    """{'group/id': median ns} from criterion's output directory."""
    medians = {}
    for est in Path(directory).glob("*/*/new/estimates.json"):
        group, bench = est.parts[-4], est.parts[-3]
        medians[f"{group}/{bench}"] = json.loads(est.read_text())["median"]["point_estimate"]
    return medians


def fmt_time(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 100:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e3:.3f} µs"


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def verdict(ok):
    return "n/a" if ok is None else ("**pass**" if ok else "**miss**")


def build_rows(rust, ref):
    """The table rows: (case, measure, pylua ns, target, reference label, reference ns,
    ratio, verdict)."""
    rows = []

    def get(key):
        return rust.get(key)

    def row(case, what, ns, target, ref_label, ref_ns, ok, ratio=None):
        if ratio is None and ns is not None and ref_ns:
            ratio = ns / ref_ns
        rows.append([case, what, fmt_time(ns), target, ref_label, fmt_time(ref_ns) if ref_ns is not None else "—",
                     fmt_ratio(ratio), verdict(ok)])

    def le(ns, limit):
        return None if ns is None else ns <= limit

    # (a)
    a = get("startup/strict_build_eval")
    ok = None if a is None else (a <= 20_000 and a < ref["cold"])
    row("a", "new strict VM + `return 1+1` (built and dropped)", a, "≤ 20 µs and < lupa",
        "lupa `LuaRuntime().eval(\"1+1\")`", ref["cold"], ok)
    al = get("startup/strict_limits_build_eval")
    row("a", "… with memory, instruction and time limits", al, "≤ 20 µs and < lupa",
        "lupa `LuaRuntime().eval(\"1+1\")`", ref["cold"],
        None if al is None else (al <= 20_000 and al < ref["cold"]))
    row("a", "floor: bare mlua state, same libraries, no sandbox", get("startup/mlua_state_eval"), "—",
        "lupa `LuaRuntime().eval(\"1+1\")`", ref["cold"], None)
    row("a", "floor: bare state through the C API, same libraries, no sandbox", get("startup/raw_state_eval"), "—",
        "lupa `LuaRuntime().eval(\"1+1\")`", ref["cold"], None)
    # (b)
    b = get("warm/eval")
    row("b", "warm `vm.eval(\"return 1+1\")`", b, "≤ 0.7 µs", "lupa warm `lua.eval(\"1+1\")`", ref["warm"], le(b, 700))
    bl = get("warm/eval_limits")
    row("b", "… on a VM with limits (timeout armed per run)", bl, "≤ 0.7 µs", "lupa warm `lua.eval(\"1+1\")`",
        ref["warm"], le(bl, 700))
    row("b", "floor: the compiled chunk called through mlua", get("warm/mlua_compiled_chunk"), "—",
        "lupa warm `lua.eval(\"1+1\")`", ref["warm"], None)
    # (c)
    call_ref = "lupa `add(1, 2)` from Python"
    for key, what in [
        ("call/vm_call_json", "`vm.call(\"add\", &[json!(1), json!(2)])`"),
        ("call/globals_get_call", "`vm.lua().globals().get::<Function>(\"add\")?.call::<i64>((1, 2))`"),
        ("call/cached_function_call", "the same `Function` fetched once, `.call::<i64>((1, 2))`"),
        ("call/vm_function_call", "`vm.function(\"add\")` once, `vm.call_function::<_, i64>(&add, (1, 2))`"),
        ("call/vm_function_call_limits", "… on a VM with limits"),
    ]:
        ns = get(key)
        row("c", what, ns, "≤ 0.05 µs", call_ref, ref["call"], le(ns, 50))
    row("c", "floor: C API `lua_getglobal` + `lua_call` in one `exec_raw`", get("call/exec_raw_ffi"), "—",
        call_ref, ref["call"], None)
    raw = get("call/raw_pcall_x1000")
    row("c", "floor: C API `lua_getglobal` + `lua_pcall`, per call in a loop of 1000",
        None if raw is None else raw / 1000, "—", call_ref, ref["call"], None)
    # (d)
    lua_fib = get("fib/lua54_process")
    f = get("fib/vm")
    row("d", "`fib(30)` in the VM (`vm.call`)", f, "≤ 1.10× lua5.4", "`lua5.4` process, same code", lua_fib,
        None if f is None or lua_fib is None else f / lua_fib <= 1.10)
    fl = get("fib/vm_limits")
    row("d", "… on a VM with limits (instruction count hook)", fl, "≤ 1.10× lua5.4", "`lua5.4` process, same code",
        lua_fib, None if fl is None or lua_fib is None else fl / lua_fib <= 1.10)
    row("d", "reference: `fib(30)` in lupa", ref["fib"], "—", "`lua5.4` process, same code", lua_fib, None)
    # (e)
    spawn = get("spawn/lua54_eval")
    ratio = None if spawn is None or a is None else spawn / a
    rows.append(["e", "`lua5.4 -e 'return 1+1'`, one process per snippet", fmt_time(spawn),
                 "(a) ≥ 50× faster", "(a) new strict VM + `return 1+1`", fmt_time(a),
                 fmt_ratio(ratio) + " (spawn / a)", verdict(None if ratio is None else ratio >= 50)])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    parser.add_argument("--criterion", default=target / "criterion", type=Path,
                        help="criterion's output directory (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every median (ns) to this file")
    parser.add_argument("--quick", action="store_true", help="fewer lupa iterations")
    args = parser.parse_args()

    rust = criterion_medians(args.criterion)
    if not rust:
        sys.exit(f"no criterion results under {args.criterion}: run `cargo bench -p pylua --bench vm` first")
    ref = measure_lupa(args.quick)
    rows = build_rows(rust, ref)

    header = ["case", "measure", "pylua (median)", "target", "reference", "reference (median)",
              "ratio pylua / ref", "verdict"]
    print(f"\nlupa {ref['lupa_version']} (lupa.lua54); medians; "
          f"lupa default module cold `LuaRuntime().eval(\"1+1\")`: {fmt_time(ref['cold_default'])}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * len(header)) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.json:
        args.json.write_text(json.dumps({"pylua_ns": rust, "lupa_ns": ref}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
