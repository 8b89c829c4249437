"""NetworkedLuaVM: a LuaProcess with networking packages (LuaSocket first), checks that say
what works (sockets, a loopback TCP round trip, DNS, HTTP, TLS, a CA bundle) and
recommendations from the catalog. Networking needs C modules, so the sandbox is ``none``."""

from __future__ import annotations

import os
import ssl
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
    def __init__(self, name: str = "network", **kwargs: Any) -> None:
        kwargs.setdefault("sandbox", "none")
        super().__init__(name=name, **kwargs)

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
        return {"networking_ready": ok, "detail": detail, "packages_installed": installed,
                "packages_failed": failed}

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

    def check_networking_health(self) -> Dict[str, Any]:
        checks: List[Dict[str, Any]] = []

        def add(name: str, ok: bool, detail: str) -> None:
            checks.append({"name": name, "ok": ok, "detail": detail})

        have = {p["name"]: p for p in self.get_installed_packages()}
        add("luasocket_installed", CORE_PACKAGE in have,
            have[CORE_PACKAGE]["version"] if CORE_PACKAGE in have else "not installed")
        ok, detail = self._check_lua("return require('socket')._VERSION")
        add("luasocket_loads", ok, detail)
        ok, detail = self._round_trip()
        add("tcp_loopback", ok, detail)
        ok, detail = self._check_lua("return require('socket').dns.toip('localhost')")
        add("dns", ok, detail)
        ok, detail = self._check_lua("return type(require('socket.http').request)")
        add("http", ok, detail)
        ok, detail = self._check_lua("return require('ssl')._VERSION or 'luasec'")
        add("tls", ok, detail if ok else f"luasec: {detail}")
        paths = ssl.get_default_verify_paths()
        bundle = next((p for p in (paths.cafile, paths.openssl_cafile) if p and os.path.isfile(p)),
                      None)
        add("ca_bundle", bundle is not None, bundle or "no CA bundle found")
        passed = sum(1 for c in checks if c["ok"])
        return {
            "networking": {
                "networking_readiness_percentage": round(100.0 * passed / len(checks), 1),
                "networking_ready": all(c["ok"] for c in checks[:3]),
                "checks": checks,
            },
            "tree": self.tree,
            "lua": self.release,
        }

    def get_networking_recommendations(self) -> List[Dict[str, Any]]:
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
