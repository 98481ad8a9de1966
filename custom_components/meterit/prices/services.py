"""Actions: ``meterit.get_prices`` (periods with prices as response data), ``refresh_prices``.

Arguments are checked here rather than by the schema, so that every bad argument gets a
translated ``ServiceValidationError`` that names the argument and says what is wrong.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
import re
from typing import Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import probatio

from ..actions import ANY_INSTANT, ATTR_END, ATTR_START, Action, local_iso
from ..const import CONF_REGION, CONF_SOURCE, DOMAIN, Source
from ..esios import EsiosError, PriceKind, Region, day_bounds
from ..esios.models import PVPC_FIRST_DAY, PVPC_LAST_DAY
from ..runtime import runtime_of
from .coordinator import PriceCoordinator

SERVICE_GET_PRICES: Final = "get_prices"
SERVICE_REFRESH_PRICES: Final = "refresh_prices"

ATTR_CONFIG_ENTRY: Final = "config_entry"
ATTR_REGION: Final = "region"
ATTR_KIND: Final = "kind"

MAX_RANGE: Final = timedelta(days=31)
PRICE_UNIT: Final = "€/kWh"


GET_PRICES_SCHEMA: Final = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY): cv.string,
        probatio.Optional(ATTR_REGION): cv.string,
        probatio.Optional(ATTR_KIND): cv.string,
        probatio.Optional(ATTR_START): ANY_INSTANT,
        probatio.Optional(ATTR_END): ANY_INSTANT,
    }
)
REFRESH_PRICES_SCHEMA: Final = probatio.Schema({probatio.Optional(ATTR_CONFIG_ENTRY): cv.string})


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _price_coordinators(hass: HomeAssistant) -> list[PriceCoordinator]:
    return [
        runtime
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
        if (runtime := runtime_of(entry, PriceCoordinator)) is not None
    ]


def _coordinator_of_entry(hass: HomeAssistant, entry_id: str) -> PriceCoordinator:
    entry = service.async_get_config_entry(hass, DOMAIN, entry_id)
    if (runtime := runtime_of(entry, PriceCoordinator)) is None:
        raise _invalid("not_a_price_entry", title=entry.title)
    return runtime


def _no_loaded_price_entry(hass: HomeAssistant, region: Region | None) -> ServiceValidationError:
    """No price entry is loaded: one that exists but is not ready says why; else add one."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.data.get(CONF_SOURCE) != Source.PRICES or entry.disabled_by is not None:
            continue
        if region is not None and entry.data.get(CONF_REGION) != region.value:
            continue
        return _invalid(
            "price_entry_not_ready",
            title=entry.title,
            state=entry.state.value,
            reason=entry.reason or "-",
        )
    return _invalid("no_price_entry", region=region.value if region else "-")


def _parse_region(value: str) -> Region:
    try:
        return Region(value.strip().lower())
    except ValueError:
        raise _invalid(
            "invalid_region", value=value, options=", ".join(r.value for r in Region)
        ) from None


def _pick_coordinator(hass: HomeAssistant, data: dict[str, object]) -> PriceCoordinator:
    """The price entry named by ``config_entry`` or ``region``, or the only one there is."""
    entry_id = data.get(ATTR_CONFIG_ENTRY)
    region_text = data.get(ATTR_REGION)
    region = _parse_region(region_text) if isinstance(region_text, str) else None
    if isinstance(entry_id, str):
        coordinator = _coordinator_of_entry(hass, entry_id)
        if region is not None and coordinator.region is not region:
            raise _invalid(
                "entry_region_mismatch",
                title=coordinator.config_entry.title,
                region=region.value,
            )
        return coordinator
    coordinators = _price_coordinators(hass)
    if region is not None:
        coordinators = [c for c in coordinators if c.region is region]
    if not coordinators:
        raise _no_loaded_price_entry(hass, region)
    if len(coordinators) > 1:
        raise _invalid(
            "price_entry_required",
            regions=", ".join(sorted(c.region.value for c in coordinators)),
        )
    return coordinators[0]


def _parse_bound(name: str, value: object, region: Region) -> tuple[datetime, date | None]:
    """A bound of the range in UTC, and the date when it was given as a plain date.

    A plain date (a ``date``, "YYYY-MM-DD" or any other ISO 8601 date such as "YYYYMMDD") is
    midnight at the start of that day in the region (a PVPC day is the region's day, whatever
    Home Assistant's time zone); a date and time without an offset is Home Assistant's time;
    one with an offset is that instant. Only instants from the first PVPC day to the end of
    ``PVPC_LAST_DAY`` (region time) are accepted.
    """
    moment: datetime | None = None
    day: date | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str):
        text = value.strip()
        try:  # any ISO date is a day: parse_datetime reads "20240309" as a datetime
            day = date.fromisoformat(text)
        except ValueError:
            day = _ordinal_date(text) or dt_util.parse_date(text)
            if day is None:
                moment = dt_util.parse_datetime(text)
    if day is not None:
        moment = datetime.combine(day, time(0), region.timezone)
    if moment is None:
        raise _invalid("invalid_datetime", field=name, value=str(value)[:40])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    try:
        utc = dt_util.as_utc(moment)
    except OverflowError, ValueError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise _out_of_range(name, value) from None
    if not _lowest(region) <= utc < _highest(region):
        raise _out_of_range(name, value)
    return utc, day


_ORDINAL_DATE = re.compile(r"(\d{4})-?(\d{3})")


def _ordinal_date(text: str) -> date | None:
    """An ISO 8601 ordinal date ("2024-091", "2024091": the 91st day), which ``date`` does not read."""
    if (found := _ORDINAL_DATE.fullmatch(text)) is None:
        return None
    year, ordinal = int(found[1]), int(found[2])
    if year < 1 or not 1 <= ordinal <= date(year, 12, 31).timetuple().tm_yday:
        return None
    return date(year, 1, 1) + timedelta(days=ordinal - 1)


def _default_end(start: datetime, start_day: date | None, today: date, region: Region) -> datetime:
    """The end of a range given without one: the end of ``start``'s day in the region.

    For a start today (and for the default start, today 00:00) it is the end of tomorrow: every
    published price, as the entities show them. ``start_day`` is the start as a plain date
    (None: an instant); ``today`` is the region's today.
    """
    day = start_day or start.astimezone(region.timezone).date()
    if day == today:
        day = today + timedelta(days=1)
    return min(day_bounds(day, region)[1], _highest(region))


def _lowest(region: Region) -> datetime:
    """Start of the first day with PVPC 2.0TD prices in the region."""
    return day_bounds(PVPC_FIRST_DAY, region)[0]


def _highest(region: Region) -> datetime:
    """End of the last day ``get_prices`` accepts."""
    return day_bounds(PVPC_LAST_DAY, region)[1]


def _out_of_range(name: str, value: object) -> ServiceValidationError:
    return _invalid(
        "prices_date_out_of_range",
        field=name,
        value=str(value)[:40],
        first=PVPC_FIRST_DAY.isoformat(),
        last=PVPC_LAST_DAY.isoformat(),
    )


def _parse_kind(value: object, coordinator: PriceCoordinator) -> PriceKind:
    if value is None:
        return PriceKind.CONSUMER
    try:
        kind = PriceKind(str(value).strip().lower())
    except ValueError:
        raise _invalid(
            "invalid_kind", value=str(value), options=", ".join(k.value for k in PriceKind)
        ) from None
    if kind not in coordinator.kinds:
        raise _invalid("surplus_needs_token", title=coordinator.config_entry.title)
    return kind


def _wall_time(moment: datetime, region: Region) -> datetime:
    """``moment`` as the region's clock shows it (naive): spans in days, across DST too."""
    return moment.astimezone(region.timezone).replace(tzinfo=None)


async def _async_get_prices(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = dict(call.data)
    coordinator = _pick_coordinator(hass, data)
    kind = _parse_kind(data.get(ATTR_KIND), coordinator)
    region = coordinator.region
    today = coordinator.data.today
    start, start_day = (
        _parse_bound(ATTR_START, data[ATTR_START], region)
        if ATTR_START in data
        else (day_bounds(today, region)[0], today)
    )
    if ATTR_END in data:
        end, _ = _parse_bound(ATTR_END, data[ATTR_END], region)
    else:
        end = _default_end(start, start_day, today, region)
    if end <= start:
        raise _invalid("end_not_after_start", start=local_iso(start), end=local_iso(end))
    if _wall_time(end, region) - _wall_time(start, region) > MAX_RANGE:  # 31 days, any DST
        raise _invalid("range_too_long", days=str(MAX_RANGE.days))
    periods = await coordinator.async_get_periods(start, end, kind)
    prices: list[JsonValueType] = [
        {"start": local_iso(p.start), "end": local_iso(p.end), "price": p.price} for p in periods
    ]
    return {
        "region": coordinator.region.value,
        "kind": kind.value,
        "unit": PRICE_UNIT,
        "start": local_iso(start),
        "end": local_iso(end),
        "prices": prices,
    }


async def async_refresh(coordinator: PriceCoordinator) -> None:
    """Fetch today's (and tomorrow's) prices now; a failure raises a translated error."""
    try:
        await coordinator.async_refresh_prices()
    except EsiosError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="refresh_failed",
            translation_placeholders={"title": coordinator.config_entry.title, "error": str(err)},
        ) from err


async def _async_refresh_prices(call: ServiceCall) -> None:
    entry_id = call.data.get(ATTR_CONFIG_ENTRY)
    if isinstance(entry_id, str):
        coordinators = [_coordinator_of_entry(call.hass, entry_id)]
    else:
        coordinators = _price_coordinators(call.hass)
        if not coordinators:
            raise _no_loaded_price_entry(call.hass, None)
    # Every region is tried even when one fails; the first failure is reported afterwards.
    failure: HomeAssistantError | None = None
    for coordinator in coordinators:
        try:
            await async_refresh(coordinator)
        except HomeAssistantError as err:
            failure = failure or err
    if failure is not None:
        raise failure


PRICE_ACTIONS: Final = (
    Action(SERVICE_GET_PRICES, _async_get_prices, GET_PRICES_SCHEMA, SupportsResponse.ONLY),
    Action(SERVICE_REFRESH_PRICES, _async_refresh_prices, REFRESH_PRICES_SCHEMA),
)
