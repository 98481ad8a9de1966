"""From a P1 push to a ``metering.Reading``: the counters it carries (total, or the sum of tariffs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..metering import Reading

if TYPE_CHECKING:
    from ..homewizard import Measurement


TOTAL_SOURCE: Final = 1
"""A counter's source: the meter's total (bit 0); bits 1-4 stand for the sum of tariffs 1-4."""

type CounterValue = tuple[int, float]
"""A counter's source (see :data:`TOTAL_SOURCE`) and its value in kWh."""


def _counter(total: float | None, *tariffs: float | None) -> CounterValue | None:
    """The total when the meter sends it, else the sum of the tariff counters it sends."""
    if total is not None:
        return TOTAL_SOURCE, total
    source = 0
    value = 0.0
    for index, kwh in enumerate(tariffs):
        if kwh is not None:
            source |= 2 << index
            value += kwh
    return (source, round(value, 3)) if source else None


def import_counter(m: Measurement) -> CounterValue | None:
    """The import counter of a measurement: the total or the sum of the tariffs sent."""
    return _counter(
        m.energy_import_kwh,
        m.energy_import_t1_kwh,
        m.energy_import_t2_kwh,
        m.energy_import_t3_kwh,
        m.energy_import_t4_kwh,
    )


def export_counter(m: Measurement) -> CounterValue | None:
    """The export counter of a measurement: the total or the sum of the tariffs sent."""
    return _counter(
        m.energy_export_kwh,
        m.energy_export_t1_kwh,
        m.energy_export_t2_kwh,
        m.energy_export_t3_kwh,
        m.energy_export_t4_kwh,
    )


def reading_from_measurement(
    m: Measurement, t: float, import_kwh: float | None, export_kwh: float | None
) -> Reading:
    """The metering reading of a P1 measurement received at ``t`` (UTC unix seconds).

    Its counters are given: :func:`import_counter` and :func:`export_counter` as far as
    their source is stable (:class:`CounterSource`).
    """
    return Reading(
        t,
        m.power_w,
        m.power_l1_w,
        m.power_l2_w,
        m.power_l3_w,
        m.voltage_l1_v,
        m.voltage_l2_v,
        m.voltage_l3_v,
        import_kwh,
        m.energy_import_t1_kwh,
        m.energy_import_t2_kwh,
        export_kwh,
        m.tariff,
    )


class CounterSource:
    """Which fields one counter (import or export) of a meter is read from, kept stable.

    The first source seen (nothing known yet) is taken at once. After that a value counts only
    when its source (the total, or a set of tariffs) is the one of the previous reading that had
    the counter: a tariff missing from one push, or the total missing once, gives no value (the
    next reading's step covers that time). When the source settles on another one than the
    counter's base (a tariff that appeared or disappeared), :meth:`take` says so: the counter
    restarts, as the sum jumped without any consumption.
    """

    __slots__ = ("base", "last")

    def __init__(self, base: int | None = None) -> None:
        """Start from ``base``: the source the aggregator's counter was read from (if known)."""
        self.base = base
        self.last = base

    def take(self, found: CounterValue | None) -> tuple[float | None, bool]:
        """The counter's value for this reading (None: none or not stable) and a restart flag."""
        if found is None:
            return None, False
        source, value = found
        if self.last is None:
            self.base = self.last = source
            return value, False
        if source != self.last:
            self.last = source
            return None, False
        if source != self.base:
            self.base = source
            return value, True
        return value, False
