"""Ctrl-C and LuaProcess.interrupt(): a running script stops even in a pure-Lua loop that
never calls back into Python, on the embedded VM and on the process backend. The Ctrl-C
tests run a real Python process and send it a real SIGINT."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pylua_vm import LuaProcess
from pylua_vm.exceptions import LuaInterruptedError

from conftest import _need

CHILD = textwrap.dedent("""
    import sys, time
    from pylua_vm import LuaProcess
    exe = sys.argv[1] or None
    vm = LuaProcess("spin", lua_executable=exe)
    print("ready", flush=True)
    try:
        vm.execute("while true do end")
    except KeyboardInterrupt:
        # The VM is still usable after the interrupt.
        print("interrupted", vm.eval("1 + 1"), flush=True)
        sys.exit(0)
    print("returned", flush=True)
    sys.exit(3)
""")


def run_and_interrupt(exe=""):
    child = subprocess.Popen([sys.executable, "-c", CHILD, exe], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        # Let the loop start (a signal before it starts must work too, but this is the case
        # users meet).
        time.sleep(0.3)
        start = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        elapsed = time.monotonic() - start
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, (child.returncode, out, err)
    assert out.strip() == "interrupted 2", (out, err)
    assert elapsed < 10, elapsed


def test_ctrl_c_stops_a_pure_lua_loop_in_the_embedded_vm():
    run_and_interrupt()


def test_ctrl_c_stops_a_process_vm():
    exe = shutil.which("lua5.4") or shutil.which("lua5.1")
    _need(exe is not None, "lua5.4 or lua5.1 on PATH")
    run_and_interrupt(exe)


def test_ctrl_c_with_the_default_action_still_ends_the_process():
    # With SIGINT's default action restored before import, Ctrl-C ends the process, as it
    # would without pylua_vm (the handler chains to the default).
    code = ("import signal; signal.signal(signal.SIGINT, signal.SIG_DFL)\n" + CHILD)
    child = subprocess.Popen([sys.executable, "-c", code, ""], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGINT


def test_interrupt_from_another_thread():
    with LuaProcess("t") as vm:
        timer = threading.Timer(0.2, vm.interrupt)
        timer.start()
        start = time.monotonic()
        with pytest.raises(LuaInterruptedError) as e:
            vm.eval("while true do end")
        assert e.value.kind == "interrupted"
        assert time.monotonic() - start < 10
        timer.join()
        assert vm.eval("1 + 1") == 2
        r = None
        timer = threading.Timer(0.2, vm.interrupt)
        timer.start()
        r = vm.execute("local n = 0 while true do n = n + 1 end")
        timer.join()
        assert not r["success"] and r["error"]["kind"] == "interrupted"


def test_ctrl_c_reaches_only_the_main_threads_vm():
    # A VM busy on another thread keeps running through a Ctrl-C aimed at the main thread.
    code = textwrap.dedent("""
        import threading, time, signal, os
        from pylua_vm import LuaProcess
        bg = LuaProcess("bg")
        out = {}
        def work():
            out["n"] = bg.eval("local n = 0 for i = 1, 3e7 do n = n + 1 end return n")
        t = threading.Thread(target=work)
        t.start()
        main = LuaProcess("main")
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            main.execute("while true do end")
            print("returned")
        except KeyboardInterrupt:
            t.join()
            print("ok", out["n"])
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "ok 30000000", (result.stdout, result.stderr)


FORK_CHILD = textwrap.dedent("""
    import os, sys, threading, time, warnings
    from pylua_vm import LuaProcess
    # The parent's watchdog thread is running when it forks (as under multiprocessing).
    inherited = LuaProcess("parent", timeout=0.3)
    assert inherited.eval("1 + 1") == 2
    unlimited = LuaProcess("parent, no limits")
    assert unlimited.eval("1 + 1") == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 0
        for vm in (inherited, LuaProcess("child", timeout=0.3)):
            started = time.monotonic()
            result = vm.execute("while true do end")
            if result["success"] or result["error"]["kind"] != "timeout":
                print(result, flush=True)
                code = 3
            print(result["error"]["kind"], round(time.monotonic() - started, 2), flush=True)
        # Interrupts reach the child's thread, not the parent's.
        for vm in (unlimited, LuaProcess("child")):
            stop = threading.Timer(0.3, vm.interrupt)
            stop.start()
            result = vm.execute("while true do end")
            if result["success"] or result["error"]["kind"] != "interrupted":
                print(result, flush=True)
                code = 3
            print(result["error"]["kind"], flush=True)
        os._exit(code)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(os.waitstatus_to_exitcode(status))
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("the child's loop ran on past its timeout", flush=True)
    sys.exit(4)
""")


def test_timeouts_and_interrupts_stop_runs_in_a_forked_child():
    # A child of fork has no watchdog thread (threads do not survive fork) and another thread
    # id: the child's own VMs, and the copies of the parent's, must still be stopped at their
    # timeout and by an interrupt.
    out = subprocess.run([sys.executable, "-c", FORK_CHILD], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.split()
    assert lines.count("timeout") == 2 and lines.count("interrupted") == 2, out.stdout


FORK_CTRL_C = textwrap.dedent("""
    import os, sys, warnings
    from pylua_vm import LuaProcess
    assert LuaProcess("parent").eval("1 + 1") == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        vm = LuaProcess("spin")
        print("ready", os.getpid(), flush=True)
        try:
            vm.execute("while true do end")
        except KeyboardInterrupt:
            print("interrupted", vm.eval("1 + 1"), flush=True)
            os._exit(0)
        os._exit(3)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
""")


def test_ctrl_c_stops_a_loop_in_a_forked_child():
    # The child's main thread is the one that forked, not the parent's main thread.
    child = subprocess.Popen([sys.executable, "-c", FORK_CTRL_C], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    grandchild = None
    try:
        ready, pid = child.stdout.readline().split()
        assert ready == "ready"
        grandchild = int(pid)
        time.sleep(0.3)
        os.kill(grandchild, signal.SIGINT)
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            if grandchild:
                os.kill(grandchild, signal.SIGKILL)
            child.kill()
            child.wait()
    assert child.returncode == 0, (child.returncode, out, err)
    assert out.strip() == "interrupted 2", (out, err)
