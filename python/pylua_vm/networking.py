"""NetworkedLuaVM: a LuaProcess for Lua that talks to the network, two ways: pylua's own
``net`` module under a policy (``allow_net=[...]``, works in the strict sandbox), or LuaSocket
installed in the tree (C modules, so the sandbox is ``none``, and no policy constrains it).
Health checks come from the library's networking doctor (``pylua doctor --only networking``)
plus LuaSocket's own round trip; recommendations come from the catalog."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from . import _core
from .exceptions import PyLuaError
from .lua_process import LuaProcess
from .utils import curator

#: The package networking cannot do without.
CORE_PACKAGE = "luasocket"

#: The catalog's categories as the networking categories users ask for.
_CATEGORY = {"networking": "core", "web": "web", "data": "data", "parsing": "data",
             "security": "security"}

_ROUND_TRIP = """
local socket = require("socket")
local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(5)
local _, port = server:getsockname()
local client = assert(socket.connect("127.0.0.1", port))
client:settimeout(5)
local conn = assert(server:accept())
conn:settimeout(5)
assert(client:send("ping\\n"))
local line = conn:receive("*l")
assert(conn:send(line .. "-pong\\n"))
local reply = client:receive("*l")
conn:close() client:close() server:close()
return reply
"""


class NetworkedLuaVM(LuaProcess):
    """A LuaProcess for Lua that talks to the network, two ways:

    - ``NetworkedLuaVM(allow_net=["api.example.com"])``: pylua's own ``net`` module
      (``net.get(url)``, ``net.request{url=, method=, headers=, body=}``) under a network
      policy; the sandbox then defaults to ``"strict"``. Refused requests raise
      ``LuaNetworkDeniedError``, caps ``LuaNetworkLimitError``, failures ``LuaNetworkError``.
    - Without ``allow_net``: LuaSocket in the tree, a C module no policy constrains, so the
      sandbox defaults to ``"none"``. ``setup_networking_packages()`` installs it (and more
      with ``include_advanced``) and proves it with a loopback TCP round trip.

    ``check_networking_health()`` and ``get_networking_recommendations()`` say what works
    and what to add. Other arguments are those of ``LuaProcess``."""

    def __init__(self, name: str = "network", allow_net: Optional[List[str]] = None,
                 **kwargs: Any) -> None:
        # With a policy the host's `net` is the way out, and strict keeps C modules away;
        # without one, LuaSocket (a C module) needs `none`.
        kwargs.setdefault("sandbox", "strict" if allow_net else "none")
        super().__init__(name=name, allow_net=allow_net, **kwargs)

    def _networking_catalog(self) -> List[Dict[str, Any]]:
        expansion = _core.expand_profile("networking", lua=self.tree_lua_version,
                                         config_path=self.config_path)
        wanted = {r["name"] for r in expansion["requirements"]}
        return [e for e in _core.catalog(self.config_path)
                if e["category"] in ("networking", "web") or e["name"] in wanted]

    def setup_networking_packages(self, include_advanced: bool = False,
                                  progress: Optional[Callable[..., None]] = None
                                  ) -> Dict[str, Any]:
        """Installs LuaSocket (and, with ``include_advanced``, the catalog's other networking
        and web packages), each on its own, then checks it works end to end."""
        names = [CORE_PACKAGE]
        if include_advanced:
            names += sorted({e["name"] for e in self._networking_catalog()} - {CORE_PACKAGE})
        catalog = {e["name"]: e for e in _core.catalog(self.config_path)}
        installed, failed = [], []
        for name in names:
            constraint = catalog.get(name, {}).get("constraint", "")
            try:
                report = curator.install_requests(
                    self, [f"{name}@{constraint}" if constraint else name], progress)
                version = next((p["version"] for p in report["packages"] if p["name"] == name),
                               None)
                installed.append({"package": name, "version": version})
            except PyLuaError as e:
                failed.append({"package": name, "kind": e.kind, "reason": str(e)})
        ok, detail = self._round_trip()
        health = _core.networking_health(self.tree, offline=True)
        return {"networking_ready": ok and health["luasocket_ready"], "detail": detail,
                "packages_installed": installed, "packages_failed": failed,
                "networking_readiness_percentage": health["readiness_percentage"]}

    def _round_trip(self) -> "tuple[bool, str]":
        """luasocket installed, loads, and a loopback TCP round trip works."""
        have = {p["name"] for p in self.get_installed_packages()}
        if CORE_PACKAGE not in have:
            return False, "luasocket is not installed: setup_networking_packages()"
        try:
            vm = self._fresh_vm(timeout=10)
        except PyLuaError as e:
            return False, str(e)
        try:
            reply = vm.eval(_ROUND_TRIP)
            return reply == "ping-pong", f"loopback TCP round trip returned {reply!r}"
        except PyLuaError as e:
            return False, f"loopback TCP round trip failed: {e.message}"
        finally:
            vm.close()

    def _check_lua(self, code: str) -> "tuple[bool, str]":
        try:
            vm = self._fresh_vm(timeout=10)
        except PyLuaError as e:
            return False, str(e)
        try:
            return True, str(vm.eval(code))
        except PyLuaError as e:
            return False, e.message
        finally:
            vm.close()

    def check_networking_health(self, offline: bool = True) -> Dict[str, Any]:
        """The library's networking checks (``pylua doctor --only networking``) on this VM's
        tree, plus LuaSocket's own: each check has ``name``, ``ok``, ``detail``, and
        ``severity``/``fix`` from the library. ``offline=False`` also resolves a public
        name."""
        health = _core.networking_health(self.tree, offline=offline)
        names = {"net.host": "net_module", "net.luasocket": "luasocket_loads",
                 "net.luasec": "tls", "net.dns": "dns", "net.loopback": "loopback",
                 "net.tls": "ca_bundle", "net.proxy": "proxy"}
        checks: List[Dict[str, Any]] = []

        def add(name: str, ok: bool, detail: str, severity: Optional[str] = None,
                fix: Optional[Dict[str, Any]] = None) -> None:
            checks.append({"name": name, "ok": ok, "detail": detail,
                           "severity": severity or ("ok" if ok else "error"), "fix": fix})

        have = {p["name"]: p for p in self.get_installed_packages()}
        add("luasocket_installed", CORE_PACKAGE in have,
            have[CORE_PACKAGE]["version"] if CORE_PACKAGE in have else "not installed",
            None if CORE_PACKAGE in have else "warning",
            None if CORE_PACKAGE in have else {"action": "add_package", "package": CORE_PACKAGE})
        for c in health["checks"]:
            detail = c["what"] + (f": {c['why']}" if c.get("why") else "")
            add(names.get(c["check"], c["check"]), c["severity"] == "ok", detail,
                c["severity"], c.get("fix"))
        ok, detail = self._round_trip()
        add("tcp_loopback", ok, detail, None if ok else "warning")
        ok, detail = self._check_lua("return type(require('socket.http').request)")
        if ok and detail != "function":
            ok, detail = False, f"socket.http.request is a {detail}, not a function"
        detail = ("LuaSocket's HTTP client loads (`socket.http`)" if ok
                  else f"LuaSocket's HTTP client does not load: {detail}")
        add("http", ok, detail, None if ok else "warning")
        weight = {"ok": 1.0, "warning": 0.5, "error": 0.0}
        score = sum(weight.get(c["severity"], 0.0) for c in checks)
        by_name = {c["name"]: c["ok"] for c in checks}
        return {
            "networking": {
                "networking_readiness_percentage": round(100.0 * score / len(checks), 1),
                "networking_ready": all(by_name[n] for n in
                                        ("luasocket_installed", "luasocket_loads",
                                         "tcp_loopback")),
                "net_module_ready": by_name.get("net_module", False),
                "checks": checks,
            },
            "tree": self.tree,
            "lua": self.release,
        }

    def get_networking_recommendations(self) -> List[Dict[str, Any]]:
        """The catalog's networking and web packages, LuaSocket first: ``package``,
        ``networking_category``, ``reason``, ``installed``, ``native`` (needs a C compiler)."""
        have = {p["name"] for p in self.get_installed_packages()}
        out = []
        for e in self._networking_catalog():
            out.append({
                "package": e["name"],
                "networking_category": _CATEGORY.get(e["category"], "utility"),
                "reason": e["summary"],
                "installed": e["name"] in have,
                "native": e["native"],
            })
        out.sort(key=lambda r: (r["installed"], r["package"] != CORE_PACKAGE,
                                r["networking_category"] != "core", r["package"]))
        return out


__all__ = ["NetworkedLuaVM"]
