"""Shared fixtures for the whole suite."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

# pytest-homeassistant-custom-component turns SQLAlchemy's statement log on (INFO); the recorder
# thread then prints every statement between tests, hundreds of lines that hide real output.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

# ../shared beside the clone, or further up (a git worktree in a folder of worktrees).
SHARED = next(
    (p / "shared" for p in Path(__file__).resolve().parents[1:] if (p / "shared").is_dir()),
    Path(__file__).resolve().parents[2] / "shared",
)
FIXTURES = SHARED / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The shared fixture folder (real device and API payloads)."""
    return FIXTURES
