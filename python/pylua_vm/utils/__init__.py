"""Helpers over the core: parsing sizes and durations as the CLI does, the catalog,
profiles, interpreters, configuration, and the curator functions LuaProcess uses."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from .. import _core
from . import curator


def parse_size(value: Union[int, str]) -> int:
    """Bytes from an int or ``"64M"`` (the CLI's rules: K, M, G, binary units)."""
    return _core.parse_size(value)


def parse_duration(value: Union[int, float, str]) -> float:
    """Seconds from a number or ``"2s"``, ``"500ms"``, ``"1m"``."""
    return _core.parse_duration(value)


def catalog(config_path: Optional[str] = None) -> List[Dict[str, Any]]:
    return _core.catalog(config_path)


def profiles(config_path: Optional[str] = None) -> List[Dict[str, Any]]:
    return _core.profiles(config_path)


def interpreters() -> List[Dict[str, Any]]:
    return _core.interpreters()


def config_path(path: Optional[str] = None) -> str:
    return str(_core.config_path(path))


__all__ = ["parse_size", "parse_duration", "catalog", "profiles", "interpreters",
           "config_path", "curator"]
