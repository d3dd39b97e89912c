"""Shared test helpers: paths to the shared data, an `eventually` helper without sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"shared data directory missing: {SHARED_DATA} (CI places ../shared beside the repo)"
        )
    return SHARED_DATA


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
