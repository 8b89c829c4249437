"""pylua_vm against lupa from Python, in one run: a fresh VM + snippet, a warm snippet (as a
value, and as execute()'s result dict), a call of a Lua function by name and through a kept
handle, a Python callback from Lua; without limits and with them. lupa has only a memory
limit, so its "limited" rows set max_memory alone; ours set memory, time and instruction
limits under the strict sandbox.

Every figure is the median of 31 repeats (garbage collector on), in µs per operation. The two
sides' repeats alternate, a millisecond or so each, so both meet the same load on a shared
machine; the ratio is the median of the 31 pairs' ratios (each pair measured back to back),
which the machine's slow spells move far less than a ratio of the two medians.

    target/py-venv/bin/python benches/python_vs_lupa.py [--json FILE]
"""

import json
import statistics
import sys
import timeit

import lupa as lupa_package
import lupa.lua54 as lupa
from pylua_vm import LuaProcess

REPEATS = 31

#: Operations per repeat, by case.
COUNTS = {"fresh VM + snippet": 50, "host callback": 1000}


def per_op(fn, n):
    fn()
    times = timeit.repeat(fn, number=n, repeat=REPEATS)
    return statistics.median(times) / n * 1e6


def paired(ours, theirs, n):
    """Medians of alternating repeats of two operations, in µs per operation, and the
    median of the pairs' ratios."""
    ours(), theirs()
    a, b = [], []
    for _ in range(REPEATS):
        a.append(timeit.timeit(ours, number=n) / n * 1e6)
        b.append(timeit.timeit(theirs, number=n) / n * 1e6)
    ratio = statistics.median(x / y for x, y in zip(a, b))
    return statistics.median(a), statistics.median(b), ratio


def pylua_rows(limits):
    kw = dict(sandbox="strict", memory="64M", timeout="5s", instructions=10**8) if limits else {}
    vm = LuaProcess("bench", **kw)
    vm.eval("function add(a, b) return a + b end")
    vm.register("host", lambda x: x)
    add = vm.function("add")
    return {
        "fresh VM + snippet": lambda: LuaProcess("b", **kw).eval("return 1 + 1"),
        "warm snippet, value": lambda: vm.eval("return 1 + 1"),
        "warm snippet, result dict": lambda: vm.execute("return 1 + 1"),
        "call add(1, 2) by name": lambda: vm.call("add", 1, 2),
        "call add(1, 2), kept function": lambda: add(1, 2),
        "host callback": lambda: vm.eval("return host(1)"),
    }


def lupa_rows(limits):
    kw = dict(max_memory=64 * 1024 * 1024) if limits else {}
    rt = lupa.LuaRuntime(**kw)
    rt.execute("function add(a, b) return a + b end")
    g = rt.globals()
    add = g.add
    g.host = lambda x: x
    return {
        "fresh VM + snippet": lambda: lupa.LuaRuntime(**kw).execute("return 1 + 1"),
        "warm snippet, value": lambda: rt.execute("return 1 + 1"),
        "warm snippet, result dict": lambda: rt.execute("return 1 + 1"),
        "call add(1, 2) by name": lambda: g.add(1, 2),
        "call add(1, 2), kept function": lambda: add(1, 2),
        "host callback": lambda: rt.execute("return host(1)"),
    }


def main():
    print(f"Python {sys.version.split()[0]}, lupa {lupa_package.__version__} (lupa.lua54, "
          f"Lua {'.'.join(map(str, lupa.LUA_VERSION))})")
    print("| case | limits | pylua_vm µs/op | lupa µs/op | pylua_vm / lupa |")
    print("| --- | --- | ---: | ---: | ---: |")
    results = {}
    for limits in (False, True):
        ours, theirs = pylua_rows(limits), lupa_rows(limits)
        for case in ours:
            label = "yes" if limits else "no"
            a, b, ratio = paired(ours[case], theirs[case], COUNTS.get(case, 5000))
            results[f"{case} / limits {label}"] = {"pylua_vm": a, "lupa": b, "ratio": ratio}
            print(f"| {case} | {label} | {a:.2f} | {b:.2f} | {ratio:.2f}× |", flush=True)
    # The throughput target: warm snippets under the strict sandbox with every limit,
    # each returning execute()'s full result dict.
    vm = LuaProcess("rate", sandbox="strict", memory="64M", timeout="5s", instructions=10**8)
    rate = 1e6 / per_op(lambda: vm.execute("return 1 + 1"), 50000)
    print(f"\nwarm sandboxed snippets per second (strict, all limits, execute): {rate:,.0f}")
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump({"rows": results, "sandboxed_snippets_per_s": rate}, f, indent=2)


if __name__ == "__main__":
    main()
