from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repo (reference data: read in tests, never shipped)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (CI and developers have it beside the repo)")
    return SHARED
