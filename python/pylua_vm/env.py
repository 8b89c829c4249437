"""EnvironmentManager: the profile to work with, the configuration (the same config.toml
as the ``pylua`` CLI), the Lua interpreters on this machine, and checks that say what is
missing before anything runs."""

from __future__ import annotations

import platform
import shutil
import sys
from typing import Any, Dict, List, Optional

from . import _core
from .exceptions import EnvironmentError, PyLuaError
from .logger import set_debug


class EnvironmentManager:
    def __init__(self, profile: str = "standard", debug_mode: bool = False,
                 config_path: Optional[str] = None) -> None:
        self.debug_mode = debug_mode
        self.config_path = config_path
        set_debug(debug_mode)
        self.profile = profile
        #: None: the embedded Lua 5.4, which needs nothing installed.
        self.lua_executable: Optional[str] = None

    @property
    def config_file(self) -> str:
        return str(_core.config_path(self.config_path))

    def config(self) -> Dict[str, Any]:
        return _core.config_get(self.config_path)

    def set_config(self, key: str, value: str) -> None:
        """As ``pylua config set KEY VALUE``."""
        _core.config_set(key, value, self.config_path)

    def detected_interpreters(self) -> List[Dict[str, Any]]:
        return _core.interpreters()

    def luarocks(self) -> Optional[str]:
        return shutil.which("luarocks")

    def validate_environment(self) -> List[str]:
        """Problems that stop this environment from working; empty when usable."""
        problems: List[str] = []
        try:
            config = self.config()
        except PyLuaError as e:
            return [f"configuration: {e}"]
        if not config.get("servers"):
            problems.append("no rocks server configured: pylua config set servers URL")
        try:
            _core.expand_profile(self.profile, config_path=self.config_path)
        except PyLuaError as e:
            problems.append(f"profile: {e}")
        try:
            vm = _core.Vm(sandbox="strict", lua_executable=self.lua_executable)
            if vm.eval("return 1 + 1") != 2:
                problems.append("the Lua VM does not compute 1 + 1")
            vm.close()
        except PyLuaError as e:
            problems.append(f"lua: {e}")
        return problems

    def get_system_info(self) -> Dict[str, Any]:
        return {
            "pylua_vm": _core.__version__,
            "embedded_lua": _core.LUA_RELEASE,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "profile": self.profile,
            "lua_executable": self.lua_executable,
            "interpreters": self.detected_interpreters(),
            "luarocks": self.luarocks(),
            "paths": _core.paths(),
            "config_file": self.config_file,
            "config": self.config(),
        }

    def list_profiles(self) -> List[Dict[str, Any]]:
        return _core.profiles(self.config_path)

    def switch_profile(self, name: str) -> str:
        """Makes ``name`` this manager's profile (it must exist); returns the old one."""
        known = {p["name"] for p in self.list_profiles()}
        if name not in known:
            raise EnvironmentError(f"unknown profile '{name}' (known: {', '.join(sorted(known))})",
                                   kind="unknown_profile", details={"profile": name})
        old, self.profile = self.profile, name
        return old

    def create_profile(self, name: str, packages: List[str], description: str = "",
                       extends: Optional[str] = None, replace: bool = False) -> Dict[str, Any]:
        """Adds the user's profile ``name`` to config.toml (as ``pylua profile create``)."""
        _core.create_profile(name, list(packages), description, extends, replace,
                             self.config_path)
        return next(p for p in self.list_profiles() if p["name"] == name)

    def export_environment(self) -> Dict[str, Any]:
        return {"profile": self.profile, "lua_executable": self.lua_executable,
                "config": self.config()}

    def import_environment(self, data: Dict[str, Any]) -> None:
        self.switch_profile(data.get("profile", self.profile))
        self.lua_executable = data.get("lua_executable")

    def __repr__(self) -> str:
        return f"<EnvironmentManager profile={self.profile!r} debug={self.debug_mode}>"


__all__ = ["EnvironmentManager"]
