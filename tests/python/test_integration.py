import os
import re
import subprocess
import sys
import threading
import time

import pytest

import pylua_vm
from pylua_vm import LuaProcess, InteractiveSession
from pylua_vm.exceptions import (EnvironmentError, LuaError, LuaInstructionLimitError,
                                 LuaMemoryError, LuaRuntimeError, LuaSyntaxError,
                                 LuaProcessClosedError, LuaTimeoutError, PyLuaError)


def test_execute_reports_values_output_and_errors():
    with LuaProcess("t") as vm:
        r = vm.execute("print('hi') return 1, 'two', {a = 1}, {1, 2}")
        assert r["success"] and r["error"] is None
        assert r["values"] == [1, "two", {"a": 1}, [1, 2]]
        assert r["output"] == "hi\n"
        assert r["timings"]["run_s"] >= 0
        bad = vm.execute("local x = nil\nreturn x.y")
        assert not bad["success"]
        assert bad["error"]["kind"] == "runtime" and bad["error"]["line"] == 2
        assert "traceback" in bad["error"]


def test_eval_call_globals_and_run_file(tmp_path):
    with LuaProcess("t") as vm:
        assert vm.eval("1 + 1") == 2
        assert vm.eval("return 1, 2") == (1, 2)
        vm.eval("function add(a, b) return a + b end")
        assert vm.call("add", 2, 3) == 5
        vm.globals["config"] = {"name": "x", "items": [1, 2.5, None, True]}
        assert vm.eval("return config.items[2]") == 2.5
        assert vm.globals["config"]["name"] == "x"
        script = tmp_path / "s.lua"
        script.write_text("return select('#', ...), arg[1]")
        assert vm.run_file(script, "a", "b") == (2, "a")


def test_errors_map_to_classes():
    with LuaProcess("t", memory="16M", timeout="1s", instructions=10**6) as vm:
        with pytest.raises(LuaSyntaxError) as e:
            vm.eval("x = = 1")
        assert e.value.kind == "syntax" and e.value.line == 1
        with pytest.raises(LuaRuntimeError):
            vm.eval("error('boom')")
        with pytest.raises(LuaInstructionLimitError):
            vm.eval("while true do end")
        with pytest.raises(LuaMemoryError):
            vm.eval("local t = {} while true do t[#t+1] = ('x'):rep(4096) end")
        assert vm.eval("1 + 1") == 2  # usable after a limit fired
    with LuaProcess("t", timeout=0.3) as vm:
        with pytest.raises(LuaTimeoutError):
            vm.eval("while true do pcall(function() end) end")
    assert issubclass(LuaTimeoutError, LuaError) and issubclass(LuaError, PyLuaError)


def test_limits_parse_like_the_cli():
    assert pylua_vm.utils.parse_size("64M") == 64 * 1024 * 1024
    assert pylua_vm.utils.parse_duration("500ms") == 0.5
    with pytest.raises(PyLuaError):
        LuaProcess("t", memory="lots")
    with pytest.raises(PyLuaError):
        LuaProcess("t", sandbox="banana")
    assert LuaProcess("t", memory="64M").limits["memory"] == 64 * 1024 * 1024


def test_hostile_settings_are_clear_errors_never_crashes():
    # Each wrong value names its argument; none builds a VM that cannot run.
    for kwargs, error, text in [
        (dict(memory=True), TypeError, "memory must be a number of bytes"),
        (dict(timeout=True), TypeError, "timeout must be seconds"),
        (dict(instructions=True), TypeError, "instructions must be a whole number"),
        (dict(instructions=1.5), TypeError, "instructions must be a whole number"),
        (dict(instructions=0), ValueError, "instructions must be a positive count, not 0"),
        (dict(instructions=-5), ValueError, "instructions must be a positive count, not -5"),
        (dict(instructions=2**70), ValueError, "instructions is too large"),
        (dict(memory=-1), ValueError, "memory must be a positive size, not -1"),
        (dict(sandbox="standard", allow_dirs=["/tmp\0x"]), ValueError, "contains a NUL"),
        (dict(net_limits={"max_response": -1}), ValueError,
         "net_limits['max_response'] must be a positive size"),
        (dict(net_limits={"max_requests": -1}), ValueError,
         "net_limits['max_requests'] must be a positive count"),
    ]:
        with pytest.raises(error, match=re.escape(text)):
            LuaProcess("t", **kwargs)
    # A memory limit smaller than the VM itself (it once crashed the process).
    for memory in (1, 1000, "10K"):
        with pytest.raises(LuaMemoryError, match="the VM itself needs more than"):
            LuaProcess("t", sandbox="strict", memory=memory)
    # The VM's own set-up is not charged to the instruction budget.
    assert LuaProcess("t", instructions=5).eval("return 1") == 1


def test_sandbox_strict_has_no_io_or_os_execute():
    with LuaProcess("t", sandbox="strict") as vm:
        assert vm.eval("return io.open == nil and os.execute == nil and require == nil") is True


def test_python_callbacks_cross_as_data():
    with LuaProcess("t", sandbox="strict") as vm:
        calls = []
        vm.register("host", lambda a, t: calls.append((a, t)) or {"n": a * 2})
        assert vm.eval("return host(21, {x = 1}).n") == 42
        assert calls == [(21, {"x": 1})]

        def fail():
            raise ValueError("nope")
        vm.register("fail", fail)
        assert "python: ValueError: nope" in vm.eval("return tostring(select(2, pcall(fail)))")
        with pytest.raises(LuaRuntimeError, match="ValueError"):
            vm.eval("fail()")
        with pytest.raises(TypeError):
            vm.register("x", 3)


def test_keyboard_interrupt_in_a_callback_reaches_python():
    with LuaProcess("t") as vm:
        def stop():
            raise KeyboardInterrupt
        vm.register("stop", stop)
        # Lua may catch the error the interrupt becomes, but the caller still gets the
        # KeyboardInterrupt when the run returns.
        with pytest.raises(KeyboardInterrupt):
            vm.eval("for i = 1, 3 do pcall(stop) end return 1")
        with pytest.raises(KeyboardInterrupt):
            vm.eval("stop()")
        assert vm.eval("1 + 1") == 2


def test_hostile_input_raises_cleanly():
    vm = LuaProcess("t")
    vm.eval("function f(...) return select('#', ...) end")
    with pytest.raises(OverflowError):
        vm.call("f", 2 ** 70)
    d = {}
    d["self"] = d
    with pytest.raises(ValueError):
        vm.call("f", d)
    with pytest.raises(TypeError):
        vm.call("f", {1: 2})
    with pytest.raises(TypeError):
        vm.call("f", object())
    with pytest.raises(ValueError):
        vm.call("f", float("nan"))
    with pytest.raises(ValueError):
        vm.register("a\0b", print)
    with pytest.raises(LuaError):
        vm.eval("x\0 = 1")
    with pytest.raises(LuaRuntimeError):
        vm.call("no\0such")
    assert vm.call("f", *range(10000)) == 10000
    deep = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(ValueError):
        vm.call("f", deep)
    vm.close()
    with pytest.raises(PyLuaError):
        vm.eval("1")


def test_threads_share_one_vm_and_run_several_in_parallel():
    vm = LuaProcess("shared")
    vm.eval("n = 0 function bump() n = n + 1 end")

    def work():
        for _ in range(500):
            vm.call("bump")
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert vm.globals["n"] == 2000

    # Lua runs without the GIL: a Python thread makes progress while Lua spins.
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)
    t = threading.Thread(target=ticker)
    t.start()
    busy = LuaProcess("busy")
    busy.eval("local x = 0 for i = 1, 3e7 do x = x + i end")
    done.set()
    t.join()
    assert len(ticks) > 5


def test_interactive_session_keeps_state():
    with InteractiveSession(name="s") as s:
        s.send("x = 40")
        assert s.send("x + 2")["values"] == [42]


@pytest.mark.parametrize("backend", ["embedded", "process"])
def test_interactive_session_continues_incomplete_input(backend):
    import shutil
    exe = None
    if backend == "process":
        exe = shutil.which("lua5.4")
        if exe is None:
            if os.environ.get("CI") == "true":
                pytest.fail("no lua5.4 on PATH under CI=true")
            pytest.skip("no lua5.4")
    with InteractiveSession(name="multi", lua_executable=exe) as s:
        first = s.send("function add(a, b)")
        assert first["incomplete"] is True and first["error"] is None
        assert s.send("  return a + b")["incomplete"] is True
        assert s.pending == "function add(a, b)\n  return a + b"
        done = s.send("end")
        assert done["success"] and done["incomplete"] is False and s.pending == ""
        assert s.send("add(40, 2)")["values"] == [42]
        # A real syntax error is reported at once, and nothing is kept.
        bad = s.send("x = = 1")
        assert bad["error"]["kind"] == "syntax" and not bad["incomplete"] and s.pending == ""
        s.send("for i = 1, 3 do")
        s.discard()
        assert s.pending == "" and s.send("1 + 1")["values"] == [2]
        assert [h["input"] for h in s.history][:2] == [
            "function add(a, b)\n  return a + b\nend", "add(40, 2)"]


def test_process_backend_with_a_system_interpreter():
    import shutil
    exe = shutil.which("lua5.1") or shutil.which("lua5.4")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no lua5.1/lua5.4 on PATH under CI=true")
        pytest.skip("no external Lua")
    with LuaProcess("ext", lua_executable=exe) as vm:
        assert vm.backend == "process"
        assert vm.eval("return 6 * 7") == 42
        with pytest.raises(PyLuaError):
            vm.register("f", print)


def test_python_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "pylua_vm", "eval", "1 + 1"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "2"
    bad = subprocess.run([sys.executable, "-m", "pylua_vm", "eval", "--memory", "lots", "1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2


def test_cjson_c_module_loads_in_the_embedded_vm(configured):
    with LuaProcess("cjson") as vm:
        report = vm.install_package("lua-cjson")
        assert any(p["name"] == "lua-cjson" for p in report["packages"])
        assert vm.eval("return require('cjson').encode({1, 2, 3})") == "[1,2,3]"
        assert "lua-cjson" in {p["name"] for p in vm.get_installed_packages()}


def test_spec_example_runs_verbatim(net_configured, path_without_lua):
    # On a machine with no Lua: no interpreter and no LuaRocks on PATH (the C compiler stays,
    # LuaSocket is built from source).
    import shutil
    assert shutil.which("lua5.4", path=path_without_lua) is None
    assert shutil.which("luarocks", path=path_without_lua) is None
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                           "integration_spec.py")
    env = dict(os.environ, PATH=path_without_lua)
    out = subprocess.run([sys.executable, example], capture_output=True, text=True,
                         timeout=1200, env=env)
    assert out.returncode == 0, out.stderr
    assert "Environment issues" not in out.stdout, out.stdout
    assert "Networking ready: True" in out.stdout
    assert "Network readiness: " in out.stdout
    assert "Category: core - luasocket" in out.stdout
    installed = int(out.stdout.split("Packages installed: ")[1].split()[0])
    assert installed > 0


def test_calls_take_any_values_and_kept_functions_keep_their_function():
    with LuaProcess("calls") as vm:
        vm.eval("function echo(...) return ... end function add(a, b) return a + b end")
        assert vm.call("echo", None, True, 7, 2.5, "s", b"b", [1, 2], {"k": "v"}) == (
            None, True, 7, 2.5, "s", "b", [1, 2], {"k": "v"})
        assert vm.call("echo", *range(20)) == tuple(range(20))
        with pytest.raises(LuaRuntimeError, match="'nope' is not a function"):
            vm.call("nope", 1)
        add = vm.function("add")
        assert add(1, 2) == 3 and add(0.5, 0.25) == 0.75 and "add" in repr(add)
        vm.eval("add = nil")
        assert add(2, 3) == 5  # the function as it was when kept
        with pytest.raises(LuaRuntimeError):
            add("x", {})
        with pytest.raises(LuaRuntimeError, match="not a function"):
            vm.function("add")
        for _ in range(1000):
            vm.function("echo")  # dropped handles let their function go
        vm.reset()
        vm.eval("function add(a, b) return a * b end")
        with pytest.raises(PyLuaError, match="another VM|before it was reset"):
            add(1, 2)
    with LuaProcess("limited", sandbox="strict", memory="16M", instructions=10**5) as vm:
        vm.eval("function spin() while true do end end")
        spin = vm.function("spin")
        with pytest.raises(LuaInstructionLimitError):
            spin()
        assert vm.eval("1 + 1") == 2


def test_kept_functions_are_a_type_of_their_own():
    from pylua_vm import _core
    vm = LuaProcess("kept")
    vm.eval("function echo(...) return ... end function big() return 2^63 end")
    echo = vm.function("echo")
    assert isinstance(echo, _core.LuaFunction) and echo.name == "echo"
    assert repr(echo) == "<LuaFunction echo>"
    # Every kind of result, scalars read in place and the rest as data.
    assert echo() is None and echo(None) is None
    assert echo(True, False, -2**63, 2**63 - 1, 1.5) == (True, False, -2**63, 2**63 - 1, 1.5)
    assert echo("é", [1, {"k": [2]}]) == ("é", [1, {"k": [2]}])
    assert vm.function("big")() == 2.0**63 and isinstance(vm.function("big")(), float)
    with pytest.raises(OverflowError):
        echo(2**63)
    with pytest.raises(ValueError, match="NaN"):
        echo(float("nan"))
    with pytest.raises(TypeError, match="positional"):
        echo(1, x=2)
    # Scalars before a string or a container, more scalars than are read in place, and the
    # tuple entry (`tp_call`) beside the vectorcall one.
    assert echo(1, 2.5, True, None, "s", [3]) == (1, 2.5, True, None, "s", [3])
    assert echo(*range(10)) == tuple(range(10)) and echo(*[], **{}) is None
    assert type(echo).__call__(echo, 1, "a") == (1, "a")
    with pytest.raises(TypeError, match="positional"):
        type(echo).__call__(echo, 1, x=2)
    assert list(map(echo, [1, 2], "ab")) == [(1, "a"), (2, "b")]
    with pytest.raises(TypeError, match="Vm.function"):
        _core.LuaFunction()
    with pytest.raises(TypeError):
        type("Sub", (_core.LuaFunction,), {})
    # One handle from several threads: calls wait for each other.
    results = []
    workers = [threading.Thread(target=lambda: results.append(sum(echo(i) for i in range(2000))))
               for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == [sum(range(2000))] * 4
    # The handle keeps its VM object alive; a closed VM says so.
    del vm
    assert echo(3) == 3
    echo_vm = LuaProcess("closing")
    echo_vm.eval("function f() return 1 end")
    f = echo_vm.function("f")
    echo_vm.close()
    with pytest.raises(PyLuaError, match="closed"):
        f()


def test_a_callback_cannot_run_code_on_the_vm_that_called_it():
    # It would wait for itself forever; it gets an error instead, and the VM stays usable.
    vm = LuaProcess("reentered")
    other = LuaProcess("other")
    vm.register("again", lambda: vm.eval("return 1"))
    vm.register("elsewhere", lambda: other.eval("return 41") + 1)
    with pytest.raises(PyLuaError, match="cannot run code on the VM that called it"):
        vm.eval("return again()")
    assert vm.eval("return elsewhere()") == 42
    assert vm.eval("return 1 + 1") == 2
    assert not vm.closed


def test_calls_that_wait_for_a_busy_vm_all_run_and_close_ends_them():
    vm = LuaProcess("busy-shared")
    vm.eval("n = 0 function slow() local t = os.clock() while os.clock() - t < 0.002 do end "
            "n = n + 1 end")
    slow = vm.function("slow")

    def work():
        for _ in range(25):
            slow()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert vm.globals["n"] == 100

    # Threads waiting for the VM when it closes get the closed error, none hangs.
    errors = []

    def until_closed():
        try:
            while True:
                slow()
        except LuaProcessClosedError as e:
            errors.append(e)
    threads = [threading.Thread(target=until_closed) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    vm.close()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 3 and vm.closed


def test_lua_process_passes_the_cores_parameters_in_order():
    # LuaProcess gives _core.Vm its settings by position: the order must be the core's.
    import inspect
    from pylua_vm import _core
    from pylua_vm.lua_process import _VM_PARAMETERS
    assert tuple(inspect.signature(_core.Vm).parameters) == _VM_PARAMETERS
    vm = LuaProcess("ordered", sandbox="strict", memory="8M", timeout=2, instructions=10**6,
                    allow_dirs=["/tmp"])
    assert vm.sandbox == "strict"
    assert vm.limits == {"memory": 8 << 20, "timeout": 2.0, "instructions": 10**6}
    assert vm._fresh_vm().limits == vm.limits and vm._fresh_vm(timeout=5).limits["timeout"] == 5
