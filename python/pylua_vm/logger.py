"""Logging: the Rust core's log events arrive in Python's ``logging`` under the ``pylua``
logger (``pylua.operations.install``...). ``debug_mode`` turns on DEBUG for them; the
libraries under the core (the HTTP client...) report from WARNING up, and everything at
``set_level("trace")``."""

from __future__ import annotations

import logging
from typing import Dict

from . import _core

LOGGER_NAME = "pylua"


_loggers: Dict[str, logging.Logger] = {}


def get_logger(name: str = "") -> logging.Logger:
    """The ``pylua`` logger, or its child ``pylua.NAME``. Remembered here: ``getLogger``
    takes the logging module's lock each time, and every new ``LuaProcess`` asks."""
    full = f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME
    logger = _loggers.get(full)
    if logger is None:
        logger = _loggers[full] = logging.getLogger(full)
    return logger


def set_debug(enabled: bool) -> None:
    """Forward the core's debug events (or only warnings and errors) to ``logging``."""
    set_level("debug" if enabled else "warning")


def set_level(level: str) -> None:
    """Forward the core's events from ``level`` up: ``"error"``, ``"warning"`` (the
    default), ``"info"``, ``"debug"``, or ``"trace"``, which adds the debug events of the
    libraries under the core (the HTTP client's requests, headers and connections). At
    ``"debug"`` and ``"trace"`` the ``pylua`` logger is set to DEBUG, with a handler on
    standard error when logging has none configured."""
    _core.set_log_level(level)
    logger = get_logger()
    if level.lower() in ("debug", "trace"):
        logger.setLevel(logging.DEBUG)
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)


__all__ = ["get_logger", "set_debug", "set_level", "LOGGER_NAME"]
