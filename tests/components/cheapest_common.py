"""Shared by the cheapest-window tests: the fixture days as prices, and a brute-force search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

from .conftest import shifted_indicator

HOUR = timedelta(hours=1)
PENINSULA = 8741
# 2024-03-09 21:00 in Madrid: today's and (published at 20:15) tomorrow's prices are known.
EVENING = datetime(2024, 3, 9, 20, 0, tzinfo=UTC)
MIDNIGHT = datetime(2024, 3, 9, 23, 0, tzinfo=UTC)  # 2024-03-10 00:00 in Madrid

type Prices = dict[datetime, float]


def load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / "esios" / name).read_text())


def peninsula(payload: Any) -> Prices:
    """Start (UTC) → €/kWh of the Península values of an indicator payload."""
    return {
        datetime.fromisoformat(v["datetime_utc"].replace("Z", "+00:00")): v["value"] / 1000
        for v in payload["indicator"]["values"]
        if v["geo_id"] == PENINSULA
    }


def set_value(payload: Any, at: datetime, eur_mwh: float) -> None:
    for value in payload["indicator"]["values"]:
        if value["geo_id"] == PENINSULA and value["datetime_utc"].startswith(
            at.strftime("%Y-%m-%dT%H:%M")
        ):
            value["value"] = eur_mwh


def brute(
    prices: Prices, length: timedelta, first: datetime, last: datetime, step: timedelta
) -> tuple[datetime, float]:
    """Earliest cheapest start in [first, last - length] on multiples of ``step``, by minutes."""
    minute = timedelta(minutes=1)
    best: tuple[float, datetime] | None = None
    start = first
    while start + length <= last:
        cost = 0.0
        for m in range(int(length / minute)):
            t = start + m * minute
            cost += prices[max(k for k in prices if k <= t)]  # the period in force at t
        if best is None or cost < best[0] - 1e-12:
            best = (cost, start)
        start += step
    assert best is not None
    return best[1], best[0] / (length / minute)


def tomorrow_payload(fixtures_dir: Path) -> Any:
    """2024-03-10's consumer prices: the 9th's a day later (+3 €/MWh), 00:00 cheap, 01:00 dear."""
    payload = shifted_indicator(load(fixtures_dir, "PRICES_ESIOS_1001_2024_03_09.json"), 1, 3.0)
    set_value(payload, MIDNIGHT, 1.0)  # 00:00-01:00 in Madrid
    set_value(payload, MIDNIGHT + HOUR, 500.0)  # 01:00-02:00
    return payload
