"""Live state of one power station: power, energy and cost integrated from its readings.

Integration rule (left Riemann sum, the same rule as ``metering.WindowAggregator``): a reading's
power holds until the next reading, but for at most ``max_hold`` seconds. A silence longer than
that adds only ``max_hold`` seconds of the last power, so no energy is invented across it; the
windows' ``energy_kwh`` of the same readings add up to the same energy (for power >= 0).

Energy counts import only (power > 0): the entity is ``total_increasing`` and must never go
down; a negative power (export) adds nothing. Cost is the energy of each interval times the
price attached to the reading that starts it (€/kWh); intervals without a known price add
energy but no cost.

Readings at or before the last one (duplicates, or a buffered batch that arrives after newer
readings) change nothing here and are counted in ``ignored``; they are still stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import isfinite

from .errors import InvalidStationStateError

type StateValue = float | int | str | None


@dataclass(slots=True)
class StationMeter:
    """Power, energy (kWh) and cost (€) of one station, from readings in time order."""

    station_id: str
    max_hold: float = 60.0
    energy_kwh: float = 0.0
    cost: float = 0.0
    last_time: float | None = None
    last_watts: float | None = None
    last_price: float | None = None
    readings: int = 0
    ignored: int = 0

    def add(self, time: float, watts: float, price: float | None) -> bool:
        """Integrate up to ``time``, then hold ``watts``; False (ignored) when not newer."""
        last = self.last_time
        if last is not None:
            if time <= last:
                self.ignored += 1
                return False
            held = self.last_watts
            if held is not None and held > 0:
                kwh = held * min(time - last, self.max_hold) / 3_600_000.0
                self.energy_kwh += kwh
                if self.last_price is not None:
                    self.cost += kwh * self.last_price
        self.last_time = time
        self.last_watts = watts
        self.last_price = price
        self.readings += 1
        return True

    def silent_for(self, now: float) -> float | None:
        """Seconds since the last reading (None before the first)."""
        return None if self.last_time is None else now - self.last_time

    def to_json(self) -> dict[str, StateValue]:
        """A JSON-serialisable snapshot (for the store)."""
        return {
            "station_id": self.station_id,
            "energy_kwh": self.energy_kwh,
            "cost": self.cost,
            "last_time": self.last_time,
            "last_watts": self.last_watts,
            "last_price": self.last_price,
            "readings": self.readings,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object], max_hold: float = 60.0) -> StationMeter:
        """Restore from :meth:`to_json`; raises :class:`InvalidStationStateError`."""
        station = data.get("station_id")
        if not isinstance(station, str) or not station:
            raise InvalidStationStateError("station state field 'station_id': must be a name")
        meter = cls(station, max_hold)
        meter.energy_kwh = _number(data, "energy_kwh", station)
        meter.cost = _number(data, "cost", station)
        meter.last_time = _optional(data, "last_time", station)
        meter.last_watts = _optional(data, "last_watts", station)
        meter.last_price = _optional(data, "last_price", station)
        count = data.get("readings")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidStationStateError(
                f"station {station!r} state field 'readings': must be a count"
            )
        meter.readings = count
        if meter.energy_kwh < 0:
            raise InvalidStationStateError(
                f"station {station!r} state field 'energy_kwh': must not be negative"
            )
        return meter


def _number(data: Mapping[str, object], name: str, station: str) -> float:
    value = _optional(data, name, station)
    if value is None:
        raise InvalidStationStateError(f"station {station!r} state field {name!r}: missing")
    return value


def _optional(data: Mapping[str, object], name: str, station: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not isfinite(value):
        raise InvalidStationStateError(
            f"station {station!r} state field {name!r}: must be a finite number"
        )
    return float(value)
