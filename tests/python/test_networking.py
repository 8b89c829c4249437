from pylua_vm.networking import NetworkedLuaVM


def test_not_ready_without_luasocket_says_why():
    vm = NetworkedLuaVM(name="n")
    health = vm.check_networking_health()["networking"]
    assert health["networking_ready"] is False
    checks = {c["name"]: c for c in health["checks"]}
    assert not checks["luasocket_installed"]["ok"]
    # Each detail reads as a sentence: what is wrong, then why it matters.
    loads = checks["luasocket_loads"]["detail"]
    assert "is not installed in" in loads and ": Lua code that uses `require 'socket'`" in loads
    assert not checks["http"]["ok"]
    assert checks["http"]["detail"].startswith("LuaSocket's HTTP client does not load: ")
    assert health["networking_readiness_percentage"] < 100
    recs = vm.get_networking_recommendations()
    assert recs[0]["package"] == "luasocket" and recs[0]["networking_category"] == "core"
    assert all(r["networking_category"] in {"core", "web", "data", "security", "utility"}
               for r in recs)


def test_luasocket_from_debian_sources_round_trips(net_configured):
    vm = NetworkedLuaVM(name="n")
    result = vm.setup_networking_packages()
    assert result["networking_ready"] is True, result
    assert result["packages_installed"][0]["package"] == "luasocket"
    health = vm.check_networking_health()["networking"]
    checks = {c["name"]: c["ok"] for c in health["checks"]}
    assert checks["luasocket_loads"] and checks["tcp_loopback"] and checks["http"]
    http = next(c for c in health["checks"] if c["name"] == "http")
    assert http["detail"] == "LuaSocket's HTTP client loads (`socket.http`)"
    assert health["networking_readiness_percentage"] > 50
    rec = next(r for r in vm.get_networking_recommendations() if r["package"] == "luasocket")
    assert rec["installed"] is True


# -- allow_net: pylua's own `net` module under a policy, against a server on 127.0.0.1 -----

import http.server
import json
import threading
import time

import pytest

from pylua_vm.exceptions import LuaNetworkDeniedError, LuaNetworkLimitError
from pylua_vm.lua_process import LuaProcess


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def handle(self):
        # A client that gave up (the slow answer's test) is expected.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        if self.path == "/x":
            body, status = json.dumps({"ok": True, "n": [1, 2]}).encode(), 200
        elif self.path.startswith("/big/"):
            body, status = b"a" * int(self.path[5:]), 200
        elif self.path.startswith("/slow/"):
            time.sleep(int(self.path[6:]) / 1000)
            body, status = b"late", 200
        elif self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path[len("/redirect?to="):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            body, status = b"nope", 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_allow_net_gives_strict_code_net(server):
    vm = LuaProcess(name="n", sandbox="strict", allow_net=[f"127.0.0.1:{server}"],
                    allow_http=True)
    assert vm.eval(f"return net.get('http://127.0.0.1:{server}/x').status") == 200
    body = vm.eval(f"return net.get('http://127.0.0.1:{server}/x').body")
    assert json.loads(body) == {"ok": True, "n": [1, 2]}
    log = vm.net_audit()
    assert len(log) == 1 and log[0]["status"] == 200 and log[0]["method"] == "GET"
    assert log[0]["host"] == f"127.0.0.1:{server}" and log[0]["bytes"] == len(body)


def test_allow_net_in_a_process_vm(server):
    """An external interpreter gets `net` from the host, under the same policy."""
    vm = LuaProcess(name="p", sandbox="strict", lua_executable="5.1",
                    allow_net=[f"127.0.0.1:{server}"], allow_http=True)
    assert vm.backend == "process"
    assert vm.eval(f"return net.get('http://127.0.0.1:{server}/x').status") == 200
    assert vm.net_audit()[0]["status"] == 200
    with pytest.raises(LuaNetworkDeniedError):
        vm.eval("return net.get('http://127.0.0.1:9/x')")


def test_without_allow_net_there_is_no_net():
    for sandbox in ("strict", "standard", "none"):
        assert LuaProcess(name="n", sandbox=sandbox).eval("return net == nil") is True


def test_policy_errors_have_their_kinds(server):
    vm = LuaProcess(name="n", sandbox="strict", allow_net=[f"127.0.0.1:{server}"],
                    allow_http=True, net_limits={"max_response": 100, "timeout": 0.3})
    with pytest.raises(LuaNetworkDeniedError) as denied:
        vm.eval(f"return net.get('http://127.0.0.1:{server + 1}/x')")
    assert denied.value.kind == "network_denied"
    with pytest.raises(LuaNetworkDeniedError):
        vm.eval(f"return net.get('http://127.0.0.1:{server}/redirect?to="
                f"http://localhost:{server}/x')")
    with pytest.raises(LuaNetworkLimitError):
        vm.eval(f"return net.get('http://127.0.0.1:{server}/big/5000')")
    with pytest.raises(LuaNetworkLimitError):
        vm.eval(f"return net.get('http://127.0.0.1:{server}/slow/3000')")
    # `net.request` returns nil, err instead of raising.
    r, err = vm.eval(f"return net.request{{url = 'http://127.0.0.1:{server}/big/5000'}}")
    assert r is None and err.startswith("network_limit:")
    # https only without allow_http.
    strict_https = LuaProcess(name="n", sandbox="strict", allow_net=[f"127.0.0.1:{server}"])
    with pytest.raises(LuaNetworkDeniedError):
        strict_https.eval(f"return net.get('http://127.0.0.1:{server}/x')")


def test_bad_patterns_are_refused():
    with pytest.raises(ValueError):
        LuaProcess(name="n", allow_net=["http://example.com"])
    with pytest.raises(ValueError):
        LuaProcess(name="n", allow_net=["example.com"], net_limits={"bogus": 1})


def test_networked_vm_with_allow_net(server):
    vm = NetworkedLuaVM(name="n", allow_net=[f"127.0.0.1:{server}"], allow_http=True)
    assert vm.sandbox == "strict"
    assert vm.eval(f"return net.get('http://127.0.0.1:{server}/x').status") == 200
    health = vm.check_networking_health()["networking"]
    checks = {c["name"]: c for c in health["checks"]}
    assert checks["net_module"]["ok"] and checks["loopback"]["ok"]
    assert health["net_module_ready"] is True
    assert 0 < health["networking_readiness_percentage"] < 100
    # Every failed check says what to do.
    for c in health["checks"]:
        if not c["ok"]:
            assert c["fix"] or c["detail"], c


def test_http_client_template_luasocket_variant(net_configured, server, tmp_path):
    """The template's main.lua fetches through LuaSocket under `none` when there is no `net`."""
    from pylua_vm import _core
    net_vm = NetworkedLuaVM(name="n")
    assert net_vm.setup_networking_packages()["networking_ready"] is True
    project = tmp_path / "client"
    assert _core.cli_main(["pylua", "init", "--template", "http-client", str(project)]) == 0
    vm = LuaProcess(name="s", sandbox="none", tree=net_vm.tree)
    assert vm.eval("return net == nil") is True
    vm.run_file(project / "main.lua", f"http://127.0.0.1:{server}/x")
    out = vm.take_output()
    assert "ok: true" in out and "n: [" in out, out


def test_luasocket_under_standard_with_allow_luasocket(net_configured, server):
    """LuaSocket's C modules load under `standard` only when asked, and really talk TCP."""
    net_vm = NetworkedLuaVM(name="n")
    assert net_vm.setup_networking_packages()["networking_ready"] is True
    refused = LuaProcess(name="s", sandbox="standard", tree=net_vm.tree)
    result = refused.execute("return require('socket')")
    assert not result["success"]
    assert "--allow-luasocket" in result["error"]["message"]
    vm = LuaProcess(name="s", sandbox="standard", tree=net_vm.tree, allow_luasocket=True)
    got = vm.eval(f"""
        local http = require('socket.http')
        local body, status = http.request('http://127.0.0.1:{server}/x')
        return status
    """)
    assert got == 200
    # Scripts cannot write where the C modules load from.
    denied = vm.execute(f"return assert(io.open({json.dumps(net_vm.tree)} .. "
                        "'/lib/lua/5.4/socket/core.so', 'wb'))")
    assert not denied["success"] and "denied" in denied["error"]["message"]
    with pytest.raises(Exception, match="standard sandbox"):
        LuaProcess(name="s", sandbox="strict", tree=net_vm.tree, allow_luasocket=True)


def test_debug_mode_logs_pylua_not_the_http_clients_internals(server, caplog):
    import logging
    caplog.set_level(logging.DEBUG, logger="pylua")
    from pylua_vm.logger import set_debug
    try:
        vm = LuaProcess("dbg", sandbox="strict", allow_net=[f"127.0.0.1:{server}"],
                        allow_http=True, debug_mode=True)
        assert vm.eval(f"return net.get('http://127.0.0.1:{server}/x').status") == 200
    finally:
        set_debug(False)
    names = {r.name for r in caplog.records}
    assert "pylua.process.dbg" in names, names
    # The HTTP client's own debug lines (headers, streams) stay out; no build paths leak.
    assert not [r for r in caplog.records if "ureq" in r.name or "log.file" in r.getMessage()]
    # At "trace" they come through, under the client's own logger name.
    from pylua_vm.logger import set_level
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="pylua")
    set_level("trace")
    try:
        vm.eval(f"return net.get('http://127.0.0.1:{server}/x').status")
    finally:
        set_level("warning")
    client = [r for r in caplog.records if r.name.startswith("pylua.ureq")]
    assert client and not [r for r in client if "log.file" in r.getMessage()]
