"""InteractiveSession: a persistent session, one statement or expression at a time as at a
REPL prompt (``x = 1`` then ``x + 1``), over a LuaProcess of either backend."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .lua_process import LuaProcess


class InteractiveSession:
    """A REPL-like session over a LuaProcess: ``send(line)`` runs the line as an expression
    when it is one (``x + 1``), else as a statement (``x = 1``), in a state that persists,
    and returns the same dict as ``LuaProcess.execute`` (it never raises for Lua errors).
    Input that only lacks more lines (``for i = 1, 3 do``) is kept, as at the ``lua``
    prompt: ``send`` then returns ``incomplete: True`` and runs the whole text once a later
    line completes it (``pending`` holds it; ``discard()`` drops it). ``history`` keeps
    every input run with its result. Pass an existing ``process``, or the ``LuaProcess``
    arguments (``sandbox="strict"``, ``timeout="2s"``...) to make one."""

    def __init__(self, process: Optional[LuaProcess] = None, **kwargs: Any) -> None:
        self.process = process if process is not None else LuaProcess(**kwargs)
        self.history: List[Dict[str, Any]] = []
        self._pending: List[str] = []

    @property
    def pending(self) -> str:
        """The lines kept while they only lack more input ("" when none)."""
        return "\n".join(self._pending)

    def discard(self) -> None:
        """Drops the kept incomplete input."""
        self._pending.clear()

    def send(self, line: str) -> Dict[str, Any]:
        """Runs ``line`` (after any kept incomplete lines) as an expression when it is one,
        else as a statement; input that only lacks more lines is kept."""
        self._pending.append(line)
        text = "\n".join(self._pending)
        result = self.process._vm.execute(text, True)
        error = result.get("error")
        if error and error.get("incomplete"):
            return {"success": False, "incomplete": True, "values": [], "error": None,
                    "output": result.get("output", ""), "timings": result.get("timings", {})}
        self._pending.clear()
        result["incomplete"] = False
        self.history.append({"input": text, "result": result})
        return result

    def close(self) -> None:
        """Closes the session's LuaProcess."""
        self.process.close()

    def __enter__(self) -> "InteractiveSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["InteractiveSession"]
