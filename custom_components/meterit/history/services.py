"""Actions ``meterit.get_history`` (windows or hours as response data) and ``import_hwlogger``."""

from __future__ import annotations

from typing import Final

from homeassistant.core import ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import probatio

from ..actions import ANY_INSTANT, ATTR_END, ATTR_START, Action, local_iso
from ..const import DOMAIN
from ..metering import StoreError
from .hwlogger import async_import_hwlogger
from .query import (
    ACTION_MAX_SPAN,
    HistoryArgumentError,
    async_query_history,
    history_of_device,
    parse_history_query,
)

"""An instant or a day as typed (checked by ``query.parse_instant``, with a clear error)."""

SERVICE_GET_HISTORY: Final = "get_history"
SERVICE_IMPORT_HWLOGGER: Final = "import_hwlogger"

GET_HISTORY_SCHEMA: Final = probatio.Schema(
    {
        probatio.Optional("device"): cv.string,
        probatio.Optional(ATTR_START): ANY_INSTANT,
        probatio.Optional(ATTR_END): ANY_INSTANT,
        probatio.Optional("resolution"): cv.string,
    }
)
IMPORT_HWLOGGER_SCHEMA: Final = probatio.Schema(
    {probatio.Optional("device"): cv.string, probatio.Optional("path"): cv.string}
)


def _history_error(err: HistoryArgumentError) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=err.key,
        translation_placeholders=err.placeholders,
    )


def _store_error(err: StoreError) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="history_store_unavailable",
        translation_placeholders={"error": str(err)},
    )


async def _async_get_history(call: ServiceCall) -> ServiceResponse:
    try:
        query = parse_history_query(call.hass, call.data, ACTION_MAX_SPAN)
    except HistoryArgumentError as err:
        raise _history_error(err) from None
    try:
        result = await async_query_history(call.hass, query)
    except StoreError as err:
        raise _store_error(err) from err
    rows: list[JsonValueType] = [dict(row) for row in result.as_dicts()]
    return {
        "series": result.series,
        "resolution": result.resolution.value,
        "start": local_iso(result.start),
        "end": local_iso(result.end),
        "rows": rows,
    }


async def _async_import_hwlogger(call: ServiceCall) -> ServiceResponse:
    try:
        history = history_of_device(call.hass, call.data.get("device"))
        done = await async_import_hwlogger(call.hass, history, call.data.get("path"))
    except HistoryArgumentError as err:
        raise _history_error(err) from None
    except StoreError as err:
        raise _store_error(err) from err
    return {
        "windows": done.windows,
        "added": done.added,
        "first": None if done.first is None else local_iso(dt_util.utc_from_timestamp(done.first)),
        "last": None if done.last is None else local_iso(dt_util.utc_from_timestamp(done.last)),
        "statistics_hours": done.hours,
    }


HISTORY_ACTIONS: Final = (
    Action(SERVICE_GET_HISTORY, _async_get_history, GET_HISTORY_SCHEMA, SupportsResponse.ONLY),
    # it reads a file from Home Assistant's disk and writes history: administrators only
    Action(
        SERVICE_IMPORT_HWLOGGER,
        _async_import_hwlogger,
        IMPORT_HWLOGGER_SCHEMA,
        SupportsResponse.OPTIONAL,
        admin=True,
    ),
)
