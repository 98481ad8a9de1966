"""Data model: one reading in, one window out.

Units: times are UTC unix seconds, power in W, voltage in V, energy and counters in kWh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from math import isfinite
from typing import NoReturn

from .errors import InvalidReadingError

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None
"""A JSON-serialisable value (aggregator snapshots, stored state)."""

RESOLUTION_30S = 30
RESOLUTION_5MIN = 300

POWERS_AND_VOLTAGES = ("w", "l1_w", "l2_w", "l3_w", "l1_v", "l2_v", "l3_v")
"""A reading's power (total and per phase) and voltage fields; a window keeps their last value."""
COUNTERS = ("import_kwh", "import_t1_kwh", "import_t2_kwh", "export_kwh")
"""A reading's counter fields (kWh); a window keeps their last value."""
LAST_VALUES = ("tariff", *COUNTERS, *POWERS_AND_VOLTAGES)
"""A window's last-reading fields, in the order of its columns (and of hwLogger's)."""
AVERAGES = ("w_avg", "l1_w_avg", "l2_w_avg", "l3_w_avg")
MAXIMA = ("w_max", "l1_w_max", "l2_w_max", "l3_w_max")
_READING_FLOATS = (*POWERS_AND_VOLTAGES, *COUNTERS)


@dataclass(slots=True, frozen=True, init=False)
class Reading:
    """One measurement at time ``t`` (UTC unix seconds, the HA clock on arrival).

    A P1 meter reading fills most fields; a webhook power station fills only ``t`` and ``w``.
    Counters are cumulative kWh (resolution 0.001 kWh). Raises :class:`InvalidReadingError` when
    a number is not finite or the tariff is not a small positive integer.

    Frozen like any frozen dataclass (equality, hash, ``repr``, ``dataclasses.replace``), but its
    ``__init__`` is written out: it runs for every meter push, and the generated one of a frozen
    dataclass (``object.__setattr__`` per field, then a separate ``__post_init__``) took about
    twice as long (see ``bench/README.md``).
    """

    t: float
    w: float | None = None
    l1_w: float | None = None
    l2_w: float | None = None
    l3_w: float | None = None
    l1_v: float | None = None
    l2_v: float | None = None
    l3_v: float | None = None
    import_kwh: float | None = None
    import_t1_kwh: float | None = None
    import_t2_kwh: float | None = None
    export_kwh: float | None = None
    tariff: int | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's own signature, kept as it was)
        self,
        t: float,
        w: float | None = None,
        l1_w: float | None = None,
        l2_w: float | None = None,
        l3_w: float | None = None,
        l1_v: float | None = None,
        l2_v: float | None = None,
        l3_v: float | None = None,
        import_kwh: float | None = None,
        import_t1_kwh: float | None = None,
        import_t2_kwh: float | None = None,
        export_kwh: float | None = None,
        tariff: int | None = None,
    ) -> None:
        """Set and check the fields (the slots are set through their descriptors)."""
        _set_t(self, t)
        _set_w(self, w)
        _set_l1_w(self, l1_w)
        _set_l2_w(self, l2_w)
        _set_l3_w(self, l3_w)
        _set_l1_v(self, l1_v)
        _set_l2_v(self, l2_v)
        _set_l3_v(self, l3_v)
        _set_import_kwh(self, import_kwh)
        _set_import_t1_kwh(self, import_t1_kwh)
        _set_import_t2_kwh(self, import_t2_kwh)
        _set_export_kwh(self, export_kwh)
        _set_tariff(self, tariff)
        # fast path; details (which field) only when something is wrong
        try:
            for value in (
                t,
                w,
                l1_w,
                l2_w,
                l3_w,
                l1_v,
                l2_v,
                l3_v,
                import_kwh,
                import_t1_kwh,
                import_t2_kwh,
                export_kwh,
            ):
                if value is not None and (
                    (type(value) is not float and type(value) is not int) or not isfinite(value)
                ):
                    _raise_invalid(self)
        except OverflowError:
            _raise_invalid(self)
        if tariff is not None and (type(tariff) is not int or not 1 <= tariff <= 4):
            raise InvalidReadingError(f"reading field 'tariff' must be 1-4 or None, got {tariff!r}")


def _slot_setter(name: str) -> Callable[[Reading, object], None]:
    setter: Callable[[Reading, object], None] = vars(Reading)[name].__set__
    return setter


_set_t = _slot_setter("t")
_set_w = _slot_setter("w")
_set_l1_w = _slot_setter("l1_w")
_set_l2_w = _slot_setter("l2_w")
_set_l3_w = _slot_setter("l3_w")
_set_l1_v = _slot_setter("l1_v")
_set_l2_v = _slot_setter("l2_v")
_set_l3_v = _slot_setter("l3_v")
_set_import_kwh = _slot_setter("import_kwh")
_set_import_t1_kwh = _slot_setter("import_t1_kwh")
_set_import_t2_kwh = _slot_setter("import_t2_kwh")
_set_export_kwh = _slot_setter("export_kwh")
_set_tariff = _slot_setter("tariff")


def _finite_number(value: object) -> bool:
    if type(value) is not float and type(value) is not int:
        return False
    try:
        return isfinite(value)
    except OverflowError:
        return False


def _raise_invalid(reading: Reading) -> NoReturn:
    if not _finite_number(reading.t):
        raise InvalidReadingError(f"reading field 't' must be a finite number, got {reading.t!r}")
    for name in _READING_FLOATS:
        value = getattr(reading, name)
        if value is not None and not _finite_number(value):
            raise InvalidReadingError(
                f"reading field {name!r} must be a finite number or None, got {value!r}"
            )
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(slots=True, frozen=True)
class Window:
    """Aggregate of the readings of one series in ``[start, end)``, aligned to UTC wall clock.

    Columns follow hwLogger's ``meter_data`` (``end`` is its ``timestamp``). ``w`` ... ``l3_v``,
    ``tariff`` and the counters are the last values in the window; ``*_avg`` are time-weighted
    averages (each reading weighs the time until the next reading, capped); ``*_max`` and
    ``w_min`` the extremes of the readings. ``reading_count == 0`` marks a synthetic (gap-filled)
    window. ``energy_import_kwh`` / ``energy_export_kwh`` are the energy of this window from the
    counters (an exact multiple of 0.001 kWh; None when the series has no counters);
    ``energy_kwh`` is the net energy integrated from ``w`` (for sources without counters).
    """

    series: str
    resolution: int
    start: float
    end: float
    tariff: int | None = None
    import_kwh: float | None = None
    import_t1_kwh: float | None = None
    import_t2_kwh: float | None = None
    export_kwh: float | None = None
    w: float | None = None
    l1_w: float | None = None
    l2_w: float | None = None
    l3_w: float | None = None
    l1_v: float | None = None
    l2_v: float | None = None
    l3_v: float | None = None
    w_avg: float | None = None
    l1_w_avg: float | None = None
    l2_w_avg: float | None = None
    l3_w_avg: float | None = None
    w_max: float | None = None
    l1_w_max: float | None = None
    l2_w_max: float | None = None
    l3_w_max: float | None = None
    w_min: float | None = None
    reading_count: int = 0
    energy_import_kwh: float | None = None
    energy_export_kwh: float | None = None
    energy_kwh: float | None = None

    @property
    def synthetic(self) -> bool:
        """True for a gap-filled window (no reading fell in it)."""
        return self.reading_count == 0

    @property
    def key(self) -> tuple[str, int, float]:
        """The identity of a window in the store: ``(series, resolution, start)``."""
        return (self.series, self.resolution, self.start)


WINDOW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Window))
"""Window field names in declaration order (the store's column order)."""


@dataclass(slots=True, frozen=True)
class CounterReset:
    """A cumulative counter went backwards or jumped implausibly far (meter replaced or reset).

    No energy is invented across it: the series starts a new segment at ``at``. ``before`` and
    ``after`` are the counter values (kWh) either side; ``counter`` is ``"import"`` or
    ``"export"``.
    """

    series: str
    at: float
    before: float
    after: float
    counter: str = "import"
