"""Shared by the parser tests: UTC instants and a fixture's values read without the parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def values_of(payload: object, geo_id: int) -> list[dict[str, Any]]:
    """The fixture's values for one geo, in file order (read independently of the parser)."""
    assert isinstance(payload, dict)
    return [v for v in payload["indicator"]["values"] if v["geo_id"] == geo_id]
