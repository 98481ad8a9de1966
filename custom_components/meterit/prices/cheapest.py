"""The action ``meterit.get_cheapest_window``: the cheapest block of a given length.

The entry, kind and bounds are read as ``get_prices`` reads them (its helpers in ``services``);
the search itself is ``esios.cheapest``. Every bad argument gets a translated
``ServiceValidationError``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from homeassistant.core import ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import probatio

from ..actions import ANY_INSTANT, Action, local_iso
from ..esios import PriceKind, day_bounds
from ..esios.cheapest import cheapest_block
from .coordinator import PriceCoordinator
from .services import (
    ATTR_CONFIG_ENTRY,
    ATTR_KIND,
    ATTR_REGION,
    MAX_RANGE,
    PRICE_UNIT,
    _invalid,
    _parse_bound,
    _parse_kind,
    _pick_coordinator,
    _wall_time,
)

SERVICE_GET_CHEAPEST_WINDOW: Final = "get_cheapest_window"
ATTR_DURATION: Final = "duration"
ATTR_EARLIEST_START: Final = "earliest_start"
ATTR_LATEST_END: Final = "latest_end"
ATTR_RESOLUTION: Final = "resolution"

RESOLUTIONS: Final[dict[str, timedelta]] = {
    "hour": timedelta(hours=1),
    "quarter_hour": timedelta(minutes=15),
}
AVERAGE_DIGITS: Final = 6

GET_CHEAPEST_WINDOW_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_DURATION): object,
        probatio.Optional(ATTR_EARLIEST_START): ANY_INSTANT,
        probatio.Optional(ATTR_LATEST_END): ANY_INSTANT,
        probatio.Optional(ATTR_RESOLUTION): cv.string,
        probatio.Optional(ATTR_CONFIG_ENTRY): cv.string,
        probatio.Optional(ATTR_REGION): cv.string,
        probatio.Optional(ATTR_KIND): cv.string,
    }
)


def _parse_duration(value: object, longest: timedelta) -> timedelta:
    """A positive time period ("02:30", seconds, ``{hours: 2}``), at most ``longest``."""
    try:
        duration: timedelta = cv.time_period(value)
    except probatio.Invalid, ValueError, TypeError, OverflowError:
        raise _invalid("invalid_duration", value=str(value)[:40]) from None
    if duration <= timedelta(0):
        raise _invalid("invalid_duration", value=str(value)[:40])
    if duration > longest:
        raise _invalid("duration_too_long", hours=f"{longest / timedelta(hours=1):g}")
    return duration


def _parse_resolution(value: object) -> timedelta:
    if value is None:
        return RESOLUTIONS["hour"]
    step = RESOLUTIONS.get(str(value).strip().lower())
    if step is None:
        raise _invalid("invalid_resolution", value=str(value)[:40], options=", ".join(RESOLUTIONS))
    return step


def _today_and_tomorrow(coordinator: PriceCoordinator) -> timedelta:
    """How long the region's today and tomorrow are together (47, 48 or 49 hours)."""
    data = coordinator.data
    return day_bounds(data.tomorrow, data.region)[1] - day_bounds(data.today, data.region)[0]


def _known_end(coordinator: PriceCoordinator, kind: PriceKind, earliest: datetime) -> datetime:
    """The end of the prices the entry holds (today and tomorrow), past ``earliest``."""
    periods = coordinator.data.periods(kind)
    if not periods or periods[-1].end <= earliest:
        raise _invalid("no_prices_in_range", start=local_iso(earliest), end="-")
    return periods[-1].end


async def _async_get_cheapest_window(call: ServiceCall) -> ServiceResponse:
    data = dict(call.data)
    coordinator = _pick_coordinator(call.hass, data)
    kind = _parse_kind(data.get(ATTR_KIND), coordinator)
    region = coordinator.region
    duration = _parse_duration(data[ATTR_DURATION], _today_and_tomorrow(coordinator))
    step = _parse_resolution(data.get(ATTR_RESOLUTION))
    earliest = (
        _parse_bound(ATTR_EARLIEST_START, data[ATTR_EARLIEST_START], region)[0]
        if ATTR_EARLIEST_START in data
        else dt_util.utcnow().replace(microsecond=0)  # a start to the second
    )
    latest = (
        _parse_bound(ATTR_LATEST_END, data[ATTR_LATEST_END], region)[0]
        if ATTR_LATEST_END in data
        else _known_end(coordinator, kind, earliest)
    )
    start, end = local_iso(earliest), local_iso(latest)
    if latest <= earliest:
        raise _invalid("latest_end_not_after_earliest_start", start=start, end=end)
    if _wall_time(latest, region) - _wall_time(earliest, region) > MAX_RANGE:
        raise _invalid("window_range_too_long", days=str(MAX_RANGE.days))
    if duration > latest - earliest:
        raise _invalid("window_longer_than_range", start=start, end=end)
    periods = await coordinator.async_get_periods(earliest, latest, kind)
    if not periods:
        raise _invalid("no_prices_in_range", start=start, end=end)
    block = cheapest_block(periods, duration, earliest, latest, step)
    if block is None:
        raise _invalid("no_window_in_prices", start=start, end=end)
    prices: list[JsonValueType] = [
        {"start": local_iso(p.start), "end": local_iso(p.end), "price": p.price}
        for p in block.periods
    ]
    return {
        "region": region.value,
        "kind": kind.value,
        "start": local_iso(block.start),
        "end": local_iso(block.end),
        "average_price": round(block.average, AVERAGE_DIGITS),
        "unit": PRICE_UNIT,
        "prices": prices,
    }


CHEAPEST_WINDOW_ACTION: Final = Action(
    SERVICE_GET_CHEAPEST_WINDOW,
    _async_get_cheapest_window,
    GET_CHEAPEST_WINDOW_SCHEMA,
    SupportsResponse.ONLY,
)
