"""Loading numba-compiled modules: on first use only, with the compilation cache in a directory
the process can write (installed packages may be read-only)."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

_CACHE_ENV = "NUMBA_CACHE_DIR"


def cache_dir() -> Path:
    """Where compiled functions are cached: $NUMBA_CACHE_DIR if set, else the user's cache
    directory (`$XDG_CACHE_HOME` or ~/.cache) under grvt-mm/numba, else a temporary one."""
    if os.environ.get(_CACHE_ENV):
        return Path(os.environ[_CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for candidate in (
        Path(base) / "grvt-mm" / "numba",
        Path(tempfile.gettempdir()) / f"grvt-mm-numba-{os.getuid()}",
    ):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.mkdtemp(prefix="grvt-mm-numba-"))


def load_compiled(name: str) -> ModuleType:
    """Import module `name` (which compiles with numba), pointing numba's cache at
    `cache_dir()` first unless the environment already chose one."""
    if "numba" not in sys.modules and not os.environ.get(_CACHE_ENV):
        os.environ[_CACHE_ENV] = str(cache_dir())
    return importlib.import_module(name)
