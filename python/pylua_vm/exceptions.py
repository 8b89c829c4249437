"""Exceptions of pylua_vm. Every error carries ``kind`` (the library's stable name, as in
``pylua --json`` output) and ``details`` (a dict: chunk, line, traceback, file, package...).

``error_for`` is the one place that maps a library kind to a class; the compiled core calls
it for every error it raises.
"""

from __future__ import annotations

from typing import Any, Dict, Optional


class PyLuaError(Exception):
    """Base class of every pylua_vm error: ``kind`` is the library's stable name for what
    went wrong (as in ``pylua --json``), ``message`` the text, ``details`` a dict (``chunk``,
    ``line``, ``traceback``, ``file``, ``package``...)."""

    kind: str = "error"

    def __init__(self, message: str, kind: Optional[str] = None,
                 details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.details: Dict[str, Any] = dict(details or {})

    @property
    def traceback(self) -> Optional[str]:
        return self.details.get("traceback")

    @property
    def line(self) -> Optional[int]:
        return self.details.get("line")

    @property
    def chunk(self) -> Optional[str]:
        return self.details.get("chunk")


class LuaError(PyLuaError):
    """Lua code failed."""
    kind = "runtime"


class LuaSyntaxError(LuaError):
    """The code does not parse; ``line`` and ``chunk`` say where."""
    kind = "syntax"


class LuaRuntimeError(LuaError):
    """The code raised an error while running; ``traceback`` has Lua's stack traceback."""
    kind = "runtime"


class LuaMemoryError(LuaError):
    """The VM needed more memory than its ``memory`` limit. The VM stays usable."""
    kind = "memory_limit"


class LuaTimeoutError(LuaError):
    """The code ran longer than its ``timeout``. The VM stays usable."""
    kind = "timeout"


class LuaInstructionLimitError(LuaError):
    """The code ran more VM instructions than its ``instructions`` limit."""
    kind = "instruction_limit"


class LuaInterruptedError(LuaError):
    """The run was stopped by ``LuaProcess.interrupt()`` (Ctrl-C raises KeyboardInterrupt)."""
    kind = "interrupted"


class LuaNetworkError(LuaError):
    """A request through ``net`` failed: resolution, connection, TLS, a broken answer."""
    kind = "network_error"


class LuaNetworkDeniedError(LuaNetworkError):
    """The network policy refused a request (host, port, scheme, address or header)."""
    kind = "network_denied"


class LuaNetworkLimitError(LuaNetworkError):
    """A request went over a cap of the network policy (size, time, count)."""
    kind = "network_limit"


class PackageError(PyLuaError):
    """A package could not be found, resolved, fetched, built or installed."""
    kind = "package"


class PackageNotFoundError(PackageError):
    """No such package (or module) on the servers asked."""
    kind = "not_found"


class PackageResolutionError(PackageError):
    """No versions satisfy the request (``no_solution``)."""
    kind = "no_solution"


class PackageBuildError(PackageError):
    """A package failed to fetch, verify or build; nothing was installed."""
    kind = "build"


class PackageServerError(PackageError):
    """A rocks server, the cache or the tree could not be read or written."""
    kind = "server"


class EnvironmentError(PyLuaError):  # noqa: A001 - the name the specification gives
    """The configuration, a profile, an interpreter or a request is unusable."""
    kind = "environment"


class LuaProcessClosedError(PyLuaError):
    """The LuaProcess was closed."""
    kind = "closed"


_CLASSES = {
    "syntax": LuaSyntaxError,
    "runtime": LuaRuntimeError,
    "memory_limit": LuaMemoryError,
    "timeout": LuaTimeoutError,
    "instruction_limit": LuaInstructionLimitError,
    "interrupted": LuaInterruptedError,
    "network_error": LuaNetworkError,
    "network_denied": LuaNetworkDeniedError,
    "network_limit": LuaNetworkLimitError,
    "io": LuaError,
    "not_found": PackageNotFoundError,
    "no_solution": PackageResolutionError,
    "build": PackageBuildError,
    "server": PackageServerError,
    "tree": PackageServerError,
    "in_use": PackageError,
    "bad_request": PackageError,
    "usage": EnvironmentError,
    "config": EnvironmentError,
    "project_file": EnvironmentError,
    "unknown_profile": EnvironmentError,
    "interpreter": EnvironmentError,
    "closed": LuaProcessClosedError,
}


def error_for(kind: str, message: str, details: Optional[Dict[str, Any]] = None) -> PyLuaError:
    """The exception for a library error of ``kind``."""
    cls = _CLASSES.get(kind, PyLuaError)
    return cls(message, kind=kind, details=details)


__all__ = [
    "PyLuaError", "LuaError", "LuaSyntaxError", "LuaRuntimeError", "LuaMemoryError",
    "LuaTimeoutError", "LuaInstructionLimitError", "LuaInterruptedError", "LuaNetworkError",
    "LuaNetworkDeniedError", "LuaNetworkLimitError", "PackageError",
    "PackageNotFoundError",
    "PackageResolutionError", "PackageBuildError", "PackageServerError", "EnvironmentError",
    "LuaProcessClosedError", "error_for",
]
