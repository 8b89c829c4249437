"""pylua_vm: Lua 5.4 VMs with sandboxes and limits, and LuaRocks environments, from Python.

A thin layer over the Rust library ``pylua`` (the compiled ``pylua_vm._core``).
"""

import os
import sys

# Lua C modules (cjson.so, socket/core.so...) loaded into the embedded VM take the Lua C API
# from the process's global symbols. Python opens extensions with RTLD_LOCAL, which would
# hide the API the extension exports, so this one import uses RTLD_GLOBAL (as lupa does).
_flags = sys.getdlopenflags()
try:
    sys.setdlopenflags(os.RTLD_NOW | os.RTLD_GLOBAL)
    from . import _core
finally:
    sys.setdlopenflags(_flags)
del _flags

# Ctrl-C stops a running script even in a pure-Lua loop: the core's SIGINT handler stops the
# VM the main thread is in, then calls Python's own handler (KeyboardInterrupt as usual).
# After ``signal.signal(SIGINT, ...)`` call install_sigint_handler() again to keep this.
install_sigint_handler = _core.install_sigint_handler
install_sigint_handler()

from .exceptions import (  # noqa: E402
    EnvironmentError,
    LuaError,
    LuaInstructionLimitError,
    LuaInterruptedError,
    LuaMemoryError,
    LuaRuntimeError,
    LuaSyntaxError,
    LuaTimeoutError,
    PackageError,
    PyLuaError,
)
from .lua_process import LuaProcess  # noqa: E402
from .env import EnvironmentManager  # noqa: E402
from .networking import NetworkedLuaVM  # noqa: E402
from .interactive_session import InteractiveSession  # noqa: E402

__version__ = _core.__version__
LUA_RELEASE = _core.LUA_RELEASE

__all__ = [
    "LuaProcess", "NetworkedLuaVM", "EnvironmentManager", "InteractiveSession",
    "PyLuaError", "LuaError", "LuaSyntaxError", "LuaRuntimeError", "LuaMemoryError",
    "LuaTimeoutError", "LuaInstructionLimitError", "LuaInterruptedError", "PackageError",
    "EnvironmentError", "LUA_RELEASE", "__version__", "install_sigint_handler",
]
