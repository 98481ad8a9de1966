"""The P1 meter's cumulative counters as a meter has them: never backwards, never faster than a house can use."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from .models import (
    _FIELD_KINDS,
    COUNTER_FIELDS,
    ExternalMeter,
    Measurement,
    ParsedMeasurement,
    _Kind,
)

#: The most power an energy counter's step may imply (kW; generous for any grid connection).
COUNTER_MAX_POWER_KW: Final = 250.0
#: Added to that bound (kWh): pushes that arrive bunched up still count.
COUNTER_SLACK_KWH: Final = 0.1
#: Rejected values of a counter in a row after which the new value is taken (meter replaced).
COUNTER_CONFIRM: Final = 10


class CounterGuard:
    """Reject cumulative counters that go backwards or jump, remembering the accepted values.

    A counter that goes backwards, or an energy counter (kWh) that goes forward by more than
    :data:`COUNTER_MAX_POWER_KW` could use since its last accepted value (plus
    :data:`COUNTER_SLACK_KWH`; only when ``check`` is told the time), is rejected: a glitch.
    After ``confirm`` rejected values of the same counter in a row the new value is taken as
    its new reference (a replaced or reset meter: gas, water and heat meters and each tariff
    counter alike).
    """

    __slots__ = ("_confirm", "_last", "_suspect")

    def __init__(self, confirm: int = COUNTER_CONFIRM) -> None:
        """``confirm``: rejected values in a row that make a counter's new value accepted."""
        self._confirm = confirm
        self._last: dict[str, tuple[float, float | None]] = {}
        self._suspect: dict[str, int] = {}

    def reset(self) -> None:
        """Forget every remembered counter (e.g. after the meter was replaced)."""
        self._last.clear()
        self._suspect.clear()

    def _accept(
        self,
        key: str,
        label: str,
        value: float,
        at: float | None,
        problems: list[str],
        *,
        energy: bool = False,
    ) -> bool:
        remembered = self._last.get(key)
        if remembered is not None:
            last, last_at = remembered
            problem: str | None = None
            if value < last:
                problem = f"{label}: went backwards ({last!r} -> {value!r})"
            elif energy and at is not None and last_at is not None:
                hours = max(at - last_at, 0.0) / 3600.0
                if value - last > COUNTER_MAX_POWER_KW * hours + COUNTER_SLACK_KWH:
                    problem = f"{label}: jumped ({last!r} -> {value!r})"
            if problem is not None:
                suspect = self._suspect.get(key, 0) + 1
                if suspect < self._confirm:
                    self._suspect[key] = suspect
                    problems.append(problem)
                    return False
        self._suspect.pop(key, None)
        self._last[key] = (value, at)
        return True

    def check(self, measurement: Measurement, at: float | None = None) -> ParsedMeasurement:
        """Return ``measurement`` with counters that went backwards or jumped replaced by ``None``.

        ``at`` is when it was received (monotonic seconds); without it, forward steps are not
        bounded.
        """
        problems: list[str] = []
        changes: dict[str, object] = {}
        for name in COUNTER_FIELDS:
            value = getattr(measurement, name)
            if value is not None and not self._accept(
                name, name, value, at, problems, energy=_FIELD_KINDS[name] is _Kind.ENERGY
            ):
                changes[name] = None
        externals: list[ExternalMeter] = []
        external_changed = False
        for meter in measurement.external:
            if meter.value is not None and not self._accept(
                f"external:{meter.unique_id}",
                f"external[{meter.unique_id}]",
                meter.value,
                at,
                problems,
            ):
                meter = replace(meter, value=None)  # noqa: PLW2901
                external_changed = True
            externals.append(meter)
        if external_changed:
            changes["external"] = tuple(externals)
        if changes:
            measurement = replace(measurement, **changes)  # type: ignore[arg-type]
        return ParsedMeasurement(measurement, tuple(problems))
