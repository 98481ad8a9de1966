"""A PVPC entry's identity (region names, unique ID) and its days as rows of the store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Final

from ..esios import (
    DayPrices,
    PriceKind,
    PricePeriod,
    Region,
)
from ..metering import PricePoint

REGION_NAMES: Final[Mapping[Region, str]] = {
    Region.PENINSULA: "Península",
    Region.CANARIAS: "Canarias",
    Region.BALEARES: "Baleares",
    Region.CEUTA: "Ceuta",
    Region.MELILLA: "Melilla",
}


def pvpc_unique_id(region: Region | str) -> str:
    """Unique ID of a region's config entry (one entry per region)."""
    return f"pvpc_{Region(region).value}"


def to_points(day: DayPrices) -> list[PricePoint]:
    """The store's rows of one day of prices."""
    return [
        PricePoint(
            region=day.region.value,
            kind=day.kind.value,
            start=period.start.timestamp(),
            end=period.end.timestamp(),
            price=period.price,
        )
        for period in day.periods
    ]


def from_points(
    points: Iterable[PricePoint], region: Region, kind: PriceKind
) -> dict[date, DayPrices]:
    """Group stored rows into days (the region's local dates); rows that do not fit are skipped."""
    grouped: dict[date, list[PricePoint]] = {}
    for point in points:
        start = datetime.fromtimestamp(point.start, UTC)
        grouped.setdefault(start.astimezone(region.timezone).date(), []).append(point)
    days: dict[date, DayPrices] = {}
    for day, rows in grouped.items():
        periods: list[PricePeriod] = []
        for row in sorted(rows, key=lambda p: p.start):
            period = PricePeriod(
                start=datetime.fromtimestamp(row.start, UTC),
                end=datetime.fromtimestamp(row.end, UTC),
                price=row.price,
            )
            if not periods or periods[-1].end <= period.start:
                periods.append(period)
        days[day] = DayPrices(day=day, region=region, kind=kind, periods=tuple(periods))
    return days
