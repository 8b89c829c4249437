"""EnvironmentManager: the profile to work with, the configuration (the same config.toml
as the ``pylua`` CLI), the Lua interpreters on this machine, and checks that say what is
missing before anything runs."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional, Union

from . import _core
from .exceptions import EnvironmentError, PyLuaError
from .logger import set_debug


#: The ``format`` of an export file (``export_environment``).
EXPORT_FORMAT = "pylua-vm-environment"
#: Export files larger than this are refused before they are parsed.
MAX_EXPORT_BYTES = 1 << 20
_EXPORT_KEYS = {"format", "version", "profile", "debug_mode", "lua_executable", "config"}

PathLike = Union[str, "os.PathLike[str]"]


class EnvironmentManager:
    """The environment Python code works in: a profile, the configuration the ``pylua`` CLI
    reads too (servers, user profiles), and the Lua to use (``lua_executable``: None for the
    embedded Lua 5.4, else a version like ``"5.1"`` or an interpreter's path)."""

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
        """The path of the ``config.toml`` in use (``pylua config path``)."""
        return str(_core.config_path(self.config_path))

    def config(self) -> Dict[str, Any]:
        """The configuration as a dict (``servers``, ``cache-dir``, ``profiles``...), checked
        as the CLI checks it: an invalid file raises ``EnvironmentError``."""
        return _core.config_get(self.config_path)

    def set_config(self, key: str, value: str) -> None:
        """As ``pylua config set KEY VALUE``."""
        _core.config_set(key, value, self.config_path)

    def detected_interpreters(self) -> List[Dict[str, Any]]:
        """The Lua interpreters on this machine (``pylua lua list``): pylua's own first, then
        those on ``PATH``, each with its version, path and whether it can build C modules."""
        return _core.interpreters()

    def luarocks(self) -> Optional[str]:
        """The path of the ``luarocks`` command, or None (pylua does not need it)."""
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
        """Versions (pylua_vm, the embedded Lua, Python), the platform, the profile, the
        interpreters, pylua's directories and the configuration, in one dict."""
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
        """Every profile (built-in, from catalogs, the user's): ``name``, ``description``,
        ``extends``, ``packages``, ``source``."""
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

    def export_environment(self, path: Optional[PathLike] = None) -> Dict[str, Any]:
        """This environment as one document: the profile, ``debug_mode``,
        ``lua_executable`` and the configuration file (servers, user profiles...) without what
        belongs to this machine or user: local paths (``catalogs``, ``cache-dir``,
        ``ca-certs``) and credentials (``server-auth``). With ``path``, also written there as
        JSON. ``import_environment`` reads it back."""
        try:
            with open(self.config_file, encoding="utf-8") as f:
                config_text = f.read()
        except FileNotFoundError:
            config_text = ""
        doc = {"format": EXPORT_FORMAT, "version": 1, "profile": self.profile,
               "debug_mode": self.debug_mode, "lua_executable": self.lua_executable,
               "config": _core.config_portable(config_text)}
        if path is not None:
            _write_atomically(os.fspath(path), json.dumps(doc, indent=2) + "\n")
        return doc

    def import_environment(self, source: Union[PathLike, Dict[str, Any]]) -> Dict[str, Any]:
        """Makes this environment the exported one (a file ``export_environment`` wrote, or
        its dict). Everything is checked before anything changes — the format, every field's
        type, the configuration as the CLI would read it (servers, profiles, package names),
        the profile and the Lua — and an import that fails changes nothing. An export is
        untrusted input: settings naming local paths or trust (``catalogs``, ``cache-dir``,
        ``ca-certs``) and credentials (``server-auth``) are refused in it."""
        doc = _read_export(source) if not isinstance(source, dict) else source
        where = "export" if isinstance(source, dict) else os.fspath(source)

        def bad(why: str) -> EnvironmentError:
            return EnvironmentError(f"{where}: {why}", kind="project_file",
                                    details={"file": where})

        if not isinstance(doc, dict):
            raise bad("not a pylua_vm environment export (expected a JSON object)")
        unknown = set(doc) - _EXPORT_KEYS
        if unknown:
            raise bad(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
        if doc.get("format") != EXPORT_FORMAT or doc.get("version") != 1:
            raise bad(f"expected format \"{EXPORT_FORMAT}\" and version 1")
        profile, debug = doc.get("profile"), doc.get("debug_mode", False)
        lua, config_text = doc.get("lua_executable"), doc.get("config", "")
        if not isinstance(profile, str) or not profile:
            raise bad("'profile' must be a profile name")
        if not isinstance(debug, bool):
            raise bad("'debug_mode' must be true or false")
        if lua is not None and (not isinstance(lua, str) or not lua or "\0" in lua):
            raise bad("'lua_executable' must be null, a Lua version or an interpreter path")
        if not isinstance(config_text, str) or len(config_text) > MAX_EXPORT_BYTES:
            raise bad("'config' must be the text of a config.toml")
        try:
            profiles = {p["name"] for p in _core.config_check(config_text)}
            if profile not in profiles:
                raise bad(f"profile '{profile}' is not defined (known: "
                          f"{', '.join(sorted(profiles))})")
            if lua is not None:
                _core.check_lua(lua)
        except PyLuaError as e:
            if isinstance(e, EnvironmentError) and e.message.startswith(where):
                raise
            raise EnvironmentError(f"{where}: {e.message}", kind=e.kind,
                                   details=dict(e.details, file=where)) from e
        _core.config_replace(config_text, self.config_path)
        self.profile, self.lua_executable, self.debug_mode = profile, lua, debug
        set_debug(debug)
        return {"profile": profile, "lua_executable": lua, "debug_mode": debug,
                "config_file": self.config_file, "profiles": sorted(profiles)}

    def __repr__(self) -> str:
        return f"<EnvironmentManager profile={self.profile!r} debug={self.debug_mode}>"


def _read_export(path: PathLike) -> Any:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_EXPORT_BYTES + 1)
    except OSError as e:
        raise EnvironmentError(f"cannot read {path}: {e.strerror}", kind="io",
                               details={"file": path}) from e
    if len(data) > MAX_EXPORT_BYTES:
        raise EnvironmentError(f"{path}: larger than {MAX_EXPORT_BYTES} bytes: not an export",
                               kind="project_file", details={"file": path})
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise EnvironmentError(f"{path}: not a pylua_vm environment export: {e}",
                               kind="project_file", details={"file": path}) from e


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, staged = tempfile.mkstemp(dir=directory, prefix=".export-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(staged, path)
    except BaseException:
        if os.path.exists(staged):
            os.unlink(staged)
        raise


__all__ = ["EnvironmentManager", "EXPORT_FORMAT"]
