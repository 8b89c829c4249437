"""The examples run as users run them: a fresh Python process, against a local file:// rocks
server configured with `pylua config set servers` first."""

import os
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def run(name, timeout=1200):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_basic_usage():
    out = run("basic_usage.py", 120)
    assert "hello from Lua" in out and "hi python" in out
    assert "42" in out and "stopped: timeout" in out


def test_integration_demo(net_configured):
    out = run("integration_demo.py")
    for section in ("environment", "curator", "VMs", "networking", "profile switch", "health",
                    "errors and recovery"):
        assert f"== {section}\n" in out, section
    assert "usable: True" in out
    assert "call area(3, 4) = 12" in out and "kept function area(5, 6) = 30" in out
    assert "callback: SHOUT" in out and "session keeps state: [42]" in out
    assert "networking ready: True" in out
    assert "minimal -> demo-tools: installed ['inspect']" in out
    assert "re-imported profile: demo-tools" in out
    assert "healthy: True" in out
    for kind in ("syntax", "runtime", "timeout", "memory_limit"):
        assert f"kind={kind}" in out, kind
    assert "stopped from another thread: interrupted" in out
    assert "package error: not_found" in out or "package error: no_solution" in out
    assert "after reset, area is None" in out and "closed VM: closed" in out
