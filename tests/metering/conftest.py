"""Fixtures for the metering tests: a MeterStore in the test's own folder."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from custom_components.meterit.metering import MeterStore


@pytest.fixture
def store(tmp_path: Path) -> Generator[MeterStore]:
    s = MeterStore(tmp_path / "meterit.db")
    yield s
    s.close()
