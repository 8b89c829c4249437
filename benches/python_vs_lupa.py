"""pylua_vm against lupa from Python: a fresh VM + snippet, a warm snippet, a call of a Lua
function, a Python callback from Lua; without limits and with them (lupa has only a memory
limit, so its "limited" rows set max_memory alone). Prints a Markdown table of µs per op."""

import sys
import time

import lupa.lua54 as lupa
from pylua_vm import LuaProcess


def per_op(fn, n):
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def pylua_rows(limits):
    kw = dict(sandbox="strict", memory="64M", timeout="5s", instructions=10**8) if limits else {}
    vm = LuaProcess("bench", **kw)
    vm.eval("function add(a, b) return a + b end")
    vm.register("host", lambda x: x)
    return {
        "fresh VM + snippet": per_op(lambda: LuaProcess("b", **kw).eval("return 1 + 1"), 300),
        "warm snippet": per_op(lambda: vm.execute("return 1 + 1"), 20000),
        "call add(1, 2)": per_op(lambda: vm.call("add", 1, 2), 20000),
        "host callback": per_op(lambda: vm.eval("return host(1)"), 5000),
    }


def lupa_rows(limits):
    kw = dict(max_memory=64 * 1024 * 1024) if limits else {}
    rt = lupa.LuaRuntime(**kw)
    add = rt.eval("function(a, b) return a + b end")
    rt.globals().host = lambda x: x
    return {
        "fresh VM + snippet": per_op(lambda: lupa.LuaRuntime(**kw).execute("return 1 + 1"), 300),
        "warm snippet": per_op(lambda: rt.execute("return 1 + 1"), 20000),
        "call add(1, 2)": per_op(lambda: add(1, 2), 20000),
        "host callback": per_op(lambda: rt.execute("return host(1)"), 5000),
    }


def main():
    print(f"Python {sys.version.split()[0]}, lupa {lupa.LUA_VERSION}")
    print("| case | limits | pylua_vm µs/op | lupa µs/op |")
    print("| --- | --- | ---: | ---: |")
    for limits in (False, True):
        ours, theirs = pylua_rows(limits), lupa_rows(limits)
        for case in ours:
            print(f"| {case} | {'yes' if limits else 'no'} | {ours[case]:.2f} | {theirs[case]:.2f} |")


if __name__ == "__main__":
    main()
