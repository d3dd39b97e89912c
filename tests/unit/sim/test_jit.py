"""Where the compiled replay's numba cache goes: somewhere the process can write."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from grvtmm.venues.sim.jit import cache_dir


def test_the_environment_chooses_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache_dir() == tmp_path / "chosen"


def test_the_user_cache_directory_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    found = cache_dir()
    assert found == tmp_path / "grvt-mm" / "numba" and found.is_dir()


def test_a_file_in_the_way_falls_back_to_a_temporary_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "grvt-mm").write_text("not a directory")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    found = cache_dir()
    assert found.is_relative_to(tempfile.gettempdir()) and os.access(found, os.W_OK)
