"""Move a real ESIOS day's payload onto another day (the fake ESIOS of ``scripts/develop``).

Hour ``h`` of the new Europe/Madrid day gets the template's price of hour ``h`` (a 25-hour day
repeats 02-03, a 23-hour day has none), so development has prices for today and tomorrow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MADRID = ZoneInfo("Europe/Madrid")


def local_hours(day: date) -> list[tuple[datetime, int]]:
    """Each hour of Madrid's ``day`` as (UTC start, local clock hour): 23, 24 or 25 of them."""
    start = datetime(day.year, day.month, day.day, tzinfo=MADRID).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=MADRID)
    hours = []
    moment = start
    while moment < end.astimezone(UTC):
        hours.append((moment, moment.astimezone(MADRID).hour))
        moment += timedelta(hours=1)
    return hours


def _by_hour[T](items: list[T], hour_of: Callable[[T], int]) -> Callable[[int], T]:
    """Look up the first item of a clock hour; an hour the template lacks takes the one before."""
    table: dict[int, T] = {}
    for item in items:
        table.setdefault(hour_of(item), item)

    def lookup(hour: int) -> T:
        for earlier in range(hour, hour - 24, -1):
            if earlier % 24 in table:
                return table[earlier % 24]
        raise ValueError("the template has no values")

    return lookup


def indicator_on(template: dict[str, Any], day: date) -> dict[str, Any]:
    """An indicator payload (``{"indicator": {..., "values": [...]}}``) moved onto ``day``."""
    by_geo: dict[Any, list[dict[str, Any]]] = {}
    for value in template["indicator"]["values"]:
        by_geo.setdefault(value["geo_id"], []).append(value)
    values = []
    for geo_values in by_geo.values():
        source = _by_hour(geo_values, lambda value: datetime.fromisoformat(value["datetime"]).hour)
        for utc_start, hour in local_hours(day):
            local = utc_start.astimezone(MADRID)
            values.append(
                {
                    **source(hour),
                    "datetime": local.isoformat(timespec="milliseconds"),
                    "datetime_utc": utc_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "tz_time": utc_start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                }
            )
    return {**template, "indicator": {**template["indicator"], "values": values}}


def public_file_on(template: dict[str, Any], day: date) -> dict[str, Any]:
    """A public daily file (``{"PVPC": [rows]}``) moved onto ``day``."""
    source = _by_hour(template["PVPC"], lambda row: int(row["Hora"][:2]))
    rows = [
        {**source(hour), "Dia": day.strftime("%d/%m/%Y"), "Hora": f"{hour:02d}-{hour + 1:02d}"}
        for _, hour in local_hours(day)
    ]
    return {**template, "PVPC": rows}
