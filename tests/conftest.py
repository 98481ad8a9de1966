"""Shared fixtures for the whole suite."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

# pytest-homeassistant-custom-component turns SQLAlchemy's statement log on (INFO); the recorder
# thread then prints every statement between tests, hundreds of lines that hide real output.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # a clone that is not beside ../shared
    SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The shared fixture folder (real device and API payloads)."""
    return FIXTURES
