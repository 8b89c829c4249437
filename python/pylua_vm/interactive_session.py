"""InteractiveSession: a persistent session, one statement or expression at a time as at a
REPL prompt (``x = 1`` then ``x + 1``), over a LuaProcess of either backend."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .lua_process import LuaProcess


class InteractiveSession:
    """A REPL-like session over a LuaProcess: ``send(line)`` runs the line as an expression
    when it is one (``x + 1``), else as a statement (``x = 1``), in a state that persists,
    and returns the same dict as ``LuaProcess.execute`` (it never raises for Lua errors).
    ``history`` keeps every input with its result. Pass an existing ``process``, or the
    ``LuaProcess`` arguments (``sandbox="strict"``, ``timeout="2s"``...) to make one."""

    def __init__(self, process: Optional[LuaProcess] = None, **kwargs: Any) -> None:
        self.process = process if process is not None else LuaProcess(**kwargs)
        self.history: List[Dict[str, Any]] = []

    def send(self, line: str) -> Dict[str, Any]:
        """Runs ``line`` as an expression when it is one, else as a statement."""
        result = self.process._vm.execute(line, True)
        self.history.append({"input": line, "result": result})
        return result

    def close(self) -> None:
        """Closes the session's LuaProcess."""
        self.process.close()

    def __enter__(self) -> "InteractiveSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["InteractiveSession"]
