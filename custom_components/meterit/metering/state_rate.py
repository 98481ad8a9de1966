"""How often a live value becomes a state: power live, the rest throttled, counters exact.

A P1 meter pushes every second. Writing every changed value as a Home Assistant state costs a
recorder row and CPU each time; most values are not worth that. :class:`StateRate` decides, per
value, which pushes are written:

* ``LIVE`` (total power): every change.
* ``POWER``, ``VOLTAGE``, ``CURRENT``, ``FREQUENCY`` (phase values) and ``OTHER``
  measurements: at most once per ``interval`` seconds, or at once on a change of at least the
  kind's deadband (``OTHER``: none; ``FREQUENCY``: :data:`FREQUENCY_DEADBAND_HZ`).
* ``COUNTER`` (energy): once per ``counter_interval`` seconds, and every change in the last
  ``counter_guard`` seconds before each 5-minute boundary; the caller also offers the latest
  value once at the start of that guard (:meth:`StateRate.next_flush`), so the last state before
  each boundary is the last reading before it, however irregular the pushes. Home Assistant
  compiles a counter's statistics from its last state before each 5-minute (and hourly)
  boundary: they equal the counters.
* Values that are not numbers (tariff, timestamps): every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import math
from typing import Final

STATISTICS_PERIOD_S: Final = 300.0  # Home Assistant's short-term statistics period
FREQUENCY_DEADBAND_HZ: Final = 0.1  # a grid frequency change worth seeing at once


class ValueKind(StrEnum):
    """What a value is, for the rate at which it is written."""

    LIVE = "live"
    POWER = "power"
    VOLTAGE = "voltage"
    CURRENT = "current"
    FREQUENCY = "frequency"
    COUNTER = "counter"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class RateRule:
    """When a changed value is written.

    ``interval``: seconds since the last write after which any change is written (0: always).
    ``deadband``: a change at least this large is written at once.
    ``boundary``: a period (seconds, UTC-aligned); every change within ``guard`` seconds before
    each of its ends is written. 0: none.
    """

    interval: float = 0.0
    deadband: float = math.inf
    boundary: float = 0.0
    guard: float = 0.0


LIVE_RULE: Final = RateRule()


@dataclass(frozen=True, slots=True)
class StateRatePolicy:
    """The user's settings (the P1 entry's options) as rules per kind."""

    interval: float = 60.0
    power_deadband: float = 500.0
    voltage_deadband: float = 5.0
    current_deadband: float = 2.0
    counter_interval: float = 300.0
    counter_guard: float = 5.0

    def __post_init__(self) -> None:
        """Reject settings that cannot work (negative, not a number)."""
        for name in (
            "interval",
            "power_deadband",
            "voltage_deadband",
            "current_deadband",
            "counter_interval",
            "counter_guard",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or math.isnan(value)
                or value < 0
            ):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")

    def rule(self, kind: ValueKind) -> RateRule:
        """The rule for values of ``kind``."""
        match kind:
            case ValueKind.POWER:
                return RateRule(self.interval, self.power_deadband)
            case ValueKind.VOLTAGE:
                return RateRule(self.interval, self.voltage_deadband)
            case ValueKind.CURRENT:
                return RateRule(self.interval, self.current_deadband)
            case ValueKind.FREQUENCY:
                return RateRule(self.interval, FREQUENCY_DEADBAND_HZ)
            case ValueKind.COUNTER:
                return RateRule(
                    self.counter_interval,
                    boundary=STATISTICS_PERIOD_S,
                    guard=self.counter_guard,
                )
            case ValueKind.OTHER:
                return RateRule(self.interval)
            case _:
                return LIVE_RULE


class StateRate:
    """Per value (by key): whether a push is due to be written, given what was written last."""

    __slots__ = ("_policy", "_rules", "_written")

    def __init__(self, policy: StateRatePolicy | None = None) -> None:
        """Start with nothing written."""
        self._policy = policy or StateRatePolicy()
        self._rules: dict[ValueKind, RateRule] = {k: self._policy.rule(k) for k in ValueKind}
        self._written: dict[str, tuple[object, float]] = {}

    @property
    def policy(self) -> StateRatePolicy:
        """The settings in force."""
        return self._policy

    def due(self, key: str, kind: ValueKind, value: object, now: float) -> bool:
        """True if ``value`` (at ``now``, UTC seconds) should be written; then it is recorded."""
        last = self._written.get(key)
        if last is not None:
            written, at = last
            if value == written:
                return False
            if not self._changed_enough(self._rules[kind], written, at, value, now):
                return False
        self._written[key] = (value, now)
        return True

    def next_flush(self, now: float) -> float:
        """When to offer every value again: the start of the next guard before a boundary."""
        guard = min(self._policy.counter_guard, STATISTICS_PERIOD_S / 2)
        boundary = (math.floor((now + guard) / STATISTICS_PERIOD_S) + 1) * STATISTICS_PERIOD_S
        return boundary - guard

    def forget(self, key: str) -> None:
        """Write ``key``'s next value whatever it is (its entity was unavailable)."""
        self._written.pop(key, None)

    @staticmethod
    def _changed_enough(
        rule: RateRule,
        written: object,
        at: float,
        value: object,
        now: float,
    ) -> bool:
        if rule.interval <= 0 or now - at >= rule.interval:
            return True
        if not isinstance(value, int | float) or not isinstance(written, int | float):
            return True  # None, text, timestamps: every change
        if abs(value - written) >= rule.deadband:
            return True
        if rule.boundary <= 0:
            return False
        return now % rule.boundary >= rule.boundary - min(rule.guard, rule.boundary / 2)
