"""The readings view: ``GET /api/meterit/readings``, one page of the meterlog (authenticated)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, LOGGER
from ..metering import StoreError
from ..powerhook import BodyError, parse_station_id
from ..shared_store import async_get_store
from .const import PRICE_UNIT
from .http import bad_request, iso, json_response

READINGS_VIEW_URL: Final = "/api/meterit/readings"
MAX_PAGE: Final = 1_000
MAX_OFFSET: Final = 1_000_000_000
_DATA_VIEW: HassKey[bool] = HassKey(f"{DOMAIN}_readings_view")


class ReadingsView(HomeAssistantView):
    """``GET /api/meterit/readings?limit=&offset=&station_id=&entry_id=``: readings, newest first.

    Each reading names the config entry that stored it (``entry_id``; None for readings stored
    before readings had one).
    """

    url = READINGS_VIEW_URL
    name = "api:meterit:readings"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        """One page of the meterlog (authenticated)."""
        query = request.query
        try:
            limit = _query_int(query.get("limit"), "limit", 100, 1, MAX_PAGE)
            offset = _query_int(query.get("offset"), "offset", 0, 0, MAX_OFFSET)
            raw_station = query.get("station_id")
            station = None if raw_station is None else parse_station_id(raw_station)
            raw_entry = query.get("entry_id")
            entry_id = None if raw_entry is None else _query_entry_id(raw_entry)
        except BodyError as err:
            return bad_request(err)
        hass = request.app[KEY_HASS]
        try:
            store = await async_get_store(hass)
            rows = await hass.async_add_executor_job(
                store.query_readings, station, limit, offset, entry_id
            )
        except StoreError as err:
            LOGGER.warning("Readings cannot be read: %s", err)
            return json_response(
                {"error": "store_unavailable", "problem": "the store cannot be read"},
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        return json_response(
            {
                "limit": limit,
                "offset": offset,
                "unit": PRICE_UNIT,
                "readings": [
                    {
                        "id": row.id,
                        "time": iso(row.time),
                        "station_id": row.station_id,
                        "watts": row.watts,
                        "price": row.price,
                        "entry_id": row.entry,
                        "sent": None if row.sent is None else iso(row.sent),
                    }
                    for row in rows
                ],
            },
            HTTPStatus.OK,
        )


def _query_int(text: str | None, field: str, default: int, low: int, high: int) -> int:
    """A query argument of ASCII digits from ``low`` to ``high`` (400 naming it otherwise)."""
    if text is None:
        return default
    if not (0 < len(text) <= _MAX_QUERY_DIGITS and text.isascii() and text.isdigit()):
        raise BodyError(field, f"must be an integer from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise BodyError(field, f"must be an integer from {low} to {high}")
    return value


_MAX_QUERY_DIGITS: Final = 12
_MAX_ENTRY_ID: Final = 64


def _query_entry_id(text: str) -> str:
    """A config entry ID argument: 1-64 ASCII letters, digits, ``_`` or ``-`` (400 otherwise)."""
    if not (
        0 < len(text) <= _MAX_ENTRY_ID
        and text.isascii()
        and text.replace("_", "a").replace("-", "a").isalnum()
    ):
        raise BodyError(
            "entry_id", f"must be a config entry ID (1-{_MAX_ENTRY_ID} of A-Z, a-z, 0-9, '_', '-')"
        )
    return text


@callback
def async_register_view(hass: HomeAssistant) -> None:
    """Register the readings view once per Home Assistant."""
    if not hass.data.get(_DATA_VIEW):
        hass.http.register_view(ReadingsView())
        hass.data[_DATA_VIEW] = True


# ---------------------------------------------------------------------- setup helpers
