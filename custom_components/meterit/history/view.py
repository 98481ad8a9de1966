"""``GET /api/meterit/history``: a meter's or station's history over HTTP (CSV or JSON)."""

from __future__ import annotations

import csv
from http import HTTPStatus
import io
from typing import Final

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util

from ..const import LOGGER
from ..metering import StoreError
from .query import VIEW_MAX_SPAN, HistoryArgumentError, async_query_history, parse_history_query

HISTORY_VIEW_URL: Final = "/api/meterit/history"


def _bad_request(argument: str, problem: str) -> web.Response:
    return web.json_response(
        {"error": "invalid_argument", "argument": argument, "problem": problem},
        status=HTTPStatus.BAD_REQUEST,
    )


class HistoryView(HomeAssistantView):
    """``GET /api/meterit/history?device=&start=&end=&resolution=&format=json|csv``."""

    url = HISTORY_VIEW_URL
    name = "api:meterit:history"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        """Answer a history query as JSON (default) or CSV; a bad argument gets 400."""
        hass = request.app[KEY_HASS]
        params = request.query
        unknown = sorted(set(params) - {"device", "start", "end", "resolution", "format"})
        if unknown:
            return _bad_request(unknown[0][:40], "unknown argument")
        output = params.get("format", "json").strip().lower()
        if output not in ("json", "csv"):
            return _bad_request("format", f"{output[:20]!r} is not one of json, csv")
        try:
            query = parse_history_query(hass, params, VIEW_MAX_SPAN)
        except HistoryArgumentError as err:
            return _bad_request(err.argument, str(err).partition(": ")[2])
        try:
            result = await async_query_history(hass, query)
        except StoreError as err:
            LOGGER.warning("History query failed: %s", err)
            return web.json_response(
                {"error": "store_unavailable", "problem": "the history store cannot be read"},
                status=HTTPStatus.SERVICE_UNAVAILABLE,
            )
        if output == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(result.columns)
            writer.writerows(result.rows)
            return web.Response(
                text=buffer.getvalue(),
                content_type="text/csv",
                headers={
                    "Content-Disposition": (
                        f'attachment; filename="meterit_{result.resolution.value}.csv"'
                    )
                },
            )
        return web.json_response(
            {
                "series": result.series,
                "resolution": result.resolution.value,
                "start": dt_util.as_local(result.start).isoformat(),
                "end": dt_util.as_local(result.end).isoformat(),
                "columns": list(result.columns),
                "rows": result.rows,
            }
        )


@callback
def async_register_history_view(hass: HomeAssistant) -> None:
    """Register :class:`HistoryView` (once)."""
    if getattr(hass, "http", None) is not None:
        hass.http.register_view(HistoryView())
