"""The compiled half of pylua_vm (a PyO3 extension over the Rust library ``pylua``). Use the
classes of the ``pylua_vm`` package (``LuaProcess``...) rather than these directly."""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

__version__: str
LUA_RELEASE: str
MAX_DEPTH: int

class Vm:
    """One Lua VM; ``LuaProcess`` wraps it. Calls release the GIL while Lua runs."""
    backend: str
    release: str
    sandbox: str
    closed: bool
    limits: Dict[str, Any]
    def __init__(self, sandbox: str = "none", memory: Union[int, str, None] = None,
                 timeout: Union[int, float, str, None] = None, instructions: Optional[int] = None,
                 lua_executable: Optional[str] = None, package_path: Optional[str] = None,
                 package_cpath: Optional[str] = None, allow_dirs: List[str] = ...,
                 allow_net: List[str] = ..., deny_net: List[str] = ...,
                 allow_http: bool = False,
                 net_limits: Optional[Dict[str, Any]] = None,
                 allow_luasocket: bool = False,
                 read_only_dirs: List[str] = ...) -> None: ...
    def net_audit(self) -> List[Dict[str, Any]]:
        """The requests the last run made through ``net``."""
    def execute(self, code: str, interactive: bool = False) -> Dict[str, Any]:
        """Runs ``code`` and reports ``success``, ``values``, ``output``, ``error``,
        ``timings``; never raises for Lua errors. ``interactive``: as a REPL line."""
    def eval(self, code: str) -> Any:
        """Runs a chunk or an expression and returns its value(s); raises on errors."""
    def call(self, name: str, *args: Any) -> Any:
        """Calls the global function ``name``."""
    def function(self, name: str) -> LuaFunction:
        """The global function ``name`` as a Python callable (embedded VM only)."""
    def interrupt(self) -> None:
        """Stops the running script from any thread; the call raises LuaInterruptedError."""
    def run_file(self, path: str, *args: str) -> Any:
        """Runs a script file with ``args`` as ``arg`` and ``...``."""
    def get_global(self, name: str) -> Any: ...
    def set_global(self, name: str, value: Any) -> None: ...
    def take_output(self) -> str:
        """Output printed since the last call."""
    def register(self, name: str, func: Callable[..., Any]) -> None:
        """Makes ``func`` the global Lua function ``name``; values cross as data."""
    def reset(self) -> None:
        """A fresh Lua state with the same settings."""
    def close(self) -> None:
        """Ends the VM; later calls raise."""

class LuaFunction:
    """A global Lua function kept as a Python callable (``LuaProcess.function``)."""
    name: str
    def __call__(self, *args: Any) -> Any: ...

def install_sigint_handler() -> bool:
    """(Re)installs the SIGINT handler that stops the main thread's VM, then calls Python's."""
def parse_size(value: Union[int, str]) -> int:
    """Bytes from an int or a size as the CLI writes it (``64M``)."""
def parse_duration(value: Union[int, float, str]) -> float:
    """Seconds from a number or a duration as the CLI writes it (``2s``, ``500ms``)."""
def set_log_level(level: str) -> None: ...
def config_path(config_path: Optional[str] = None) -> str: ...
def config_get(config_path: Optional[str] = None) -> Dict[str, Any]: ...
def config_set(key: str, value: str, config_path: Optional[str] = None) -> None: ...
def config_check(text: str) -> List[Dict[str, Any]]: ...
def config_portable(text: str) -> str: ...
def config_replace(text: str, config_path: Optional[str] = None) -> None: ...
def check_lua(lua: str) -> str: ...
def profiles(config_path: Optional[str] = None) -> List[Dict[str, Any]]: ...
def expand_profile(name: str, lua: str = "5.4", config_path: Optional[str] = None) -> Dict[str, Any]: ...
def create_profile(name: str, packages: List[str], description: str = "", extends: Optional[str] = None,
                   replace: bool = False, config_path: Optional[str] = None) -> None: ...
def catalog(config_path: Optional[str] = None) -> List[Dict[str, Any]]: ...
def interpreters() -> List[Dict[str, Any]]: ...
def paths() -> Dict[str, str]: ...
def tree_info(tree: Optional[str] = None, lua: Optional[str] = None) -> Tuple[str, str, str, str]:
    """``(root, lua_version, package_path, package_cpath)`` of the tree a VM uses."""
def installed(tree: Optional[str] = None, lua: Optional[str] = None) -> List[Dict[str, Any]]: ...
def install(requests: List[str], tree: Optional[str] = None, lua: Optional[str] = None,
            servers: List[str] = ..., only_servers: List[str] = ..., config_path: Optional[str] = None,
            jobs: Optional[int] = None, offline: bool = False,
            progress: Optional[Callable[..., None]] = None) -> Dict[str, Any]: ...
def cli_main(argv: List[str]) -> int:
    """Runs the ``pylua`` command line (``argv[0]`` is the program name); the exit code."""
def doctor(project: Optional[str] = None, only: Optional[str] = None, offline: bool = False,
           fix: bool = False, config_path: Optional[str] = None) -> Dict[str, Any]: ...
def recommend(project: Optional[str] = None, tree: Optional[str] = None,
              config_path: Optional[str] = None) -> Dict[str, Any]: ...
def audit_env(project: Optional[str] = None, tree: Optional[str] = None,
              advisories: List[str] = ..., deny: List[str] = ..., builtin: bool = True,
              config_path: Optional[str] = None) -> Dict[str, Any]: ...
def test_packages(packages: List[str], pylua: str, lua: Optional[str] = None,
                  timeout: float = 300.0, servers: List[str] = ...,
                  config_path: Optional[str] = None) -> List[Dict[str, Any]]: ...
def bench(packages: List[str], lua: Optional[str] = None, runs: int = 7,
          servers: List[str] = ..., config_path: Optional[str] = None) -> List[Dict[str, Any]]: ...
def networking_health(tree: str, offline: bool = True) -> Dict[str, Any]: ...
