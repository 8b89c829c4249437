"""LuaProcess: one Lua VM — the embedded Lua 5.4 (``lua_executable=None``) or an external
interpreter (a path, or a version such as ``"5.1"`` or ``"luajit"``) — with a sandbox policy,
limits, the packages of a rocks tree on its search paths, and the curator's package methods.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, List, Optional, Union

from . import _core
from .logger import get_logger, set_debug
from .utils import curator

Size = Union[int, str]
Seconds = Union[int, float, str]


_DIRECT = ("execute", "eval", "call", "function", "interrupt")

#: _core.Vm's parameters, in order (a test holds them to the core's signature).
_VM_PARAMETERS = ("sandbox", "memory", "timeout", "instructions", "lua_executable",
                  "package_path", "package_cpath", "allow_dirs", "allow_net", "deny_net",
                  "allow_http", "net_limits", "allow_luasocket", "read_only_dirs")
_direct_by_class: Dict[type, tuple] = {}


def _direct_methods(cls: type) -> tuple:
    """The hot methods a class does not override, which instances take from the core."""
    found = _direct_by_class.get(cls)
    if found is None:
        found = tuple(m for m in _DIRECT if getattr(cls, m) is getattr(LuaProcess, m))
        _direct_by_class[cls] = found
    return found


class Globals:
    """The VM's global variables: ``vm.globals["x"] = 1``, ``vm.globals["x"]``."""

    def __init__(self, vm: "_core.Vm") -> None:
        self._vm = vm

    def __getitem__(self, name: str) -> Any:
        return self._vm.get_global(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._vm.set_global(name, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._vm.get_global(name)


class LuaProcess:
    """A Lua VM: the embedded Lua 5.4 (``lua_executable=None``, nothing to install) or an
    external interpreter (``"5.1"``, ``"luajit"``, or a path), with a sandbox policy, limits
    and the packages of a rocks tree on its search paths. Use it as a context manager::

        with LuaProcess("demo", sandbox="strict", memory="64M", timeout="2s") as vm:
            vm.eval("1 + 1")                                 # 2
            vm.eval("function add(a, b) return a + b end")
            vm.call("add", 1, 2)                             # 3
            vm.register("double", lambda x: x * 2)           # Python, callable from Lua
            vm.eval("return double(21)")                     # 42

    Arguments (all optional, keyword):

    - ``sandbox``: ``"none"`` (the default: all of Lua, C modules too, like the ``lua``
      command), ``"standard"`` (no processes, no native code, files only in ``allow_dirs``
      and, read-only, the tree) or ``"strict"`` (pure computation). Use ``strict`` for code you do not
      trust.
    - ``memory`` (bytes or ``"64M"``), ``timeout`` (seconds or ``"2s"``/``"500ms"``),
      ``instructions`` (a count): limits that hold even inside ``pcall`` and coroutines; a
      run that reaches one raises ``LuaMemoryError``, ``LuaTimeoutError`` or
      ``LuaInstructionLimitError`` and the VM stays usable.
    - ``tree``: the rocks tree whose modules ``require`` finds (default: the project's
      ``.pylua/`` around ``project`` or the current directory, else the per-user tree).
    - ``allow_net`` (``["api.example.com", "*.cdn.example.com:443", "127.0.0.1:8080"]``)
      gives Lua the ``net`` module for those hosts (either backend: the host makes every
      request); ``deny_net`` wins, ``allow_http`` allows plain http, ``net_limits`` sets
      ``max_response``, ``timeout``, ``max_requests``, ``max_total``; ``net_audit()`` lists
      the requests of the last run.
    - ``allow_luasocket``: lets a ``"standard"`` sandbox load LuaSocket's and LuaSec's C
      modules from the tree (whose C module directory its scripts then cannot write in); no
      network policy constrains those, so prefer ``allow_net``.
    - ``config_path``: a ``config.toml`` other than the user's; ``debug_mode``: the core's
      DEBUG log events go to Python's ``logging`` (logger ``pylua``).

    Values cross between Python and Lua as data: None/nil, bools, ints, floats, str, lists
    and tuples (Lua sequences), dicts with str keys (tables). Several results come back as a
    tuple, none as None. Lua runs with the GIL released; calls on one VM from several
    threads wait for each other, several VMs run in parallel."""

    def __init__(self, name: str = "lua", lua_executable: Optional[str] = None,
                 debug_mode: bool = False, sandbox: str = "none",
                 memory: Optional[Size] = None, timeout: Optional[Seconds] = None,
                 instructions: Optional[int] = None, tree: Optional[str] = None,
                 project: Optional[str] = None, config_path: Optional[str] = None,
                 allow_dirs: Optional[List[str]] = None,
                 allow_net: Optional[List[str]] = None, deny_net: Optional[List[str]] = None,
                 allow_http: bool = False,
                 net_limits: Optional[Dict[str, Any]] = None,
                 allow_luasocket: bool = False) -> None:
        self.name = name
        self.lua_executable = lua_executable
        self.debug_mode = debug_mode
        self.config_path = config_path
        if debug_mode:
            set_debug(True)
        if tree is None and project is not None:
            tree = os.path.join(os.fspath(project), ".pylua")
        root, lua_version, package_path, package_cpath = _core.tree_info(tree, lua_executable)
        self.tree: str = root
        self.tree_lua_version: str = lua_version
        # In the order of _core.Vm's parameters (_VM_PARAMETERS): passed by position, which
        # Python and the core read faster than keywords.
        self._settings = (sandbox, memory, timeout, instructions, lua_executable, package_path,
                          package_cpath, list(allow_dirs or ()), list(allow_net or ()),
                          list(deny_net or ()), allow_http, net_limits, allow_luasocket,
                          [root])
        vm = self._vm = _core.Vm(*self._settings)
        # The hot methods straight from the core, unless a subclass overrides them: a call
        # then costs no Python frame (the methods below document them for help()).
        for method in _direct_methods(type(self)):
            setattr(self, method, getattr(vm, method))
        log = get_logger(f"process.{name}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("started %s (%s, sandbox %s)", name, vm.release, sandbox)

    @property
    def globals(self) -> Globals:
        """The VM's global variables: ``vm.globals["x"] = 1``, ``vm.globals["x"]``."""
        return Globals(self._vm)

    @property
    def log(self) -> logging.Logger:
        """This VM's logger, ``pylua.process.NAME``."""
        return get_logger(f"process.{self.name}")

    # -- running code ---------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``"embedded"`` (the Lua 5.4 inside pylua) or ``"process"`` (an interpreter)."""
        return self._vm.backend

    @property
    def release(self) -> str:
        """The Lua release the VM runs, e.g. ``"Lua 5.4.7"``."""
        return self._vm.release

    @property
    def sandbox(self) -> str:
        """The sandbox policy: ``"none"``, ``"standard"`` or ``"strict"``."""
        return self._vm.sandbox

    @property
    def limits(self) -> Dict[str, Any]:
        """The limits set: ``memory`` (bytes), ``timeout`` (seconds), ``instructions``."""
        return self._vm.limits

    def execute(self, code: str) -> Dict[str, Any]:
        """Runs ``code`` as a chunk: ``success``, ``values``, ``output``, ``error`` (``kind``,
        ``message``, ``traceback``, ``line``...) and ``timings``. Lua errors do not raise."""
        return self._vm.execute(code)

    def eval(self, code: str) -> Any:
        """Runs ``code`` (a chunk, or an expression like ``1 + 1``) and returns its value
        (a tuple for several, None for none). Raises a ``LuaError`` subclass on failure."""
        return self._vm.eval(code)

    def call(self, name: str, *args: Any) -> Any:
        """Calls the global Lua function ``name`` with ``args`` (None, bool, int, float, str,
        bytes, list, tuple, dict) and returns its result (a tuple for several, None for
        none)."""
        return self._vm.call(name, *args)

    def function(self, name: str) -> "_core.LuaFunction":
        """Keeps the global Lua function ``name`` as a Python callable: ``add =
        vm.function("add"); add(1, 2)``. The fastest way to call one function many times;
        it keeps calling that function even if the global changes (embedded VM only)."""
        return self._vm.function(name)

    def run_file(self, path: Union[str, "os.PathLike[str]"], *args: str) -> Any:
        """Runs a script as ``lua path args...`` would."""
        return self._vm.run_file(os.fspath(path), *[str(a) for a in args])

    def register(self, name: str, func: Callable[..., Any]) -> None:
        """Makes ``func`` callable from Lua as the global ``name`` (embedded VM only).
        Values cross as data: Lua never holds a Python object."""
        self._vm.register(name, func)

    def interrupt(self) -> None:
        """Stops the running script from any thread (with none running, the next one): the
        call raises ``LuaInterruptedError``. Ctrl-C does this for the main thread's call and
        raises ``KeyboardInterrupt``."""
        self._vm.interrupt()

    def take_output(self) -> str:
        """What the code printed since the last call (``execute`` returns a run's output
        itself, in ``output``)."""
        return self._vm.take_output()

    def reset(self) -> None:
        """A fresh Lua state with the same settings."""
        self._vm.reset()

    def close(self) -> None:
        """Ends the VM (an external interpreter exits). Later calls raise
        ``LuaProcessClosedError``; closing twice is harmless."""
        self._vm.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._vm.closed

    def __enter__(self) -> "LuaProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r} {self._vm.release} "
                f"sandbox={self._vm.sandbox} tree={self.tree!r}>")

    # -- packages (the curator) -----------------------------------------------------------

    def setup_packages(self, profile: str = "standard",
                       progress: Optional[Callable[..., None]] = None) -> Dict[str, Any]:
        """Installs the packages of ``profile`` that the servers have, one by one, so one
        missing package does not stop the rest: ``packages_installed``, ``packages_failed``
        (each with its ``reason``), ``profile``, ``duration_s``."""
        return curator.setup_packages(self, profile, progress=progress)

    def install_package(self, package_name: str, version: str = "latest",
                        progress: Optional[Callable[..., None]] = None) -> Dict[str, Any]:
        """Installs one package (and its dependencies) into the tree; raises PackageError."""
        return curator.install_package(self, package_name, version, progress=progress)

    def get_installed_packages(self) -> List[Dict[str, Any]]:
        """The packages in this VM's tree: ``name``, ``version``, ``modules``, ``commands``,
        ``dependencies``."""
        return curator.installed_packages(self)

    def check_environment_health(self) -> Dict[str, Any]:
        """Checks the VM, the servers, the tree and that each installed package loads:
        ``healthy``, ``issues`` and ``checks`` (each with ``ok``, ``detail`` and ``fix``)."""
        return curator.check_environment_health(self)

    def get_curator_manifest(self) -> Dict[str, Any]:
        """This VM and its environment in one dict: Lua, backend, sandbox, limits, tree,
        installed packages and configuration."""
        return curator.curator_manifest(self)

    def get_package_recommendations(self, profile: Optional[str] = None) -> List[Dict[str, Any]]:
        """Packages of ``profile`` (or of the catalog) not installed yet, with reasons."""
        return curator.package_recommendations(self, profile)

    # -- for the curator ----------------------------------------------------------------

    def _lua_for_packages(self) -> Optional[str]:
        return self.lua_executable

    def net_audit(self) -> List[Dict[str, Any]]:
        """The requests the last run made through ``net`` (``method``, ``url`` without its
        query, ``host``, ``status``, ``bytes``, ``ms``, ``error`` when one failed)."""
        return self._vm.net_audit()

    def _fresh_vm(self, **overrides: Any) -> "_core.Vm":
        """A new VM with this one's settings (to check packages without touching this state)."""
        settings = dict(zip(_VM_PARAMETERS, self._settings))
        settings.update(overrides)
        return _core.Vm(**settings)


__all__ = ["LuaProcess", "Globals"]
