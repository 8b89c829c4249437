"""The ``pylua`` command line, run from Python: ``python -m pylua_vm ...`` and the ``pylua``
console script both call the very same CLI as the Rust binary (``pylua_cli::run``, compiled
into the extension), so nothing of it is re-implemented here. It is exposed through the
extension rather than shipped as a second binary in the wheel because maturin builds one
artifact per wheel, and one copy of the code keeps the wheel small and the two in step."""

from __future__ import annotations

import sys
from typing import List, Optional

from . import _core


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return int(_core.cli_main(["pylua"] + args))


def run() -> None:
    sys.exit(main())


__all__ = ["main", "run"]
