"""Shared fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # a clone that is not beside ../shared
    SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: Any) -> Generator[None]:
    """Let Home Assistant load custom_components/meterit in every test."""
    return


@pytest.fixture
def fixtures_dir() -> Path:
    """The shared fixture folder (real device and API payloads)."""
    return FIXTURES
