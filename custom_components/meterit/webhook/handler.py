"""The power webhook's request handling: method and local-only checks, body, price, answer.

An ESP8266 (or anything) posts ``{"watts": 123.4, "station_id": 1}`` (or a batch of buffered
readings, see ``powerhook.body``) to ``/api/webhook/<id>``. The webhook ID is the entry's only
secret: it is never logged, never in an error, never in diagnostics (it is redacted there). For
that, the method and the local-network checks are made here, not by the webhook component (which
logs the ID at WARNING when it refuses a request).

Per request: validate everything (``powerhook.parse_body``: a bad request gets 400 with a JSON
``{"error", "field", "problem"}``), attach the price of each reading's time, hand the readings to
the writer (``writer``: stored in the shared ``meterlog`` table, then applied to the live state),
and only then answer 200 with what was stored and the current price. A request is stored whole
or not at all, but for its duplicates: a reading with its own time already stored for the entry,
station and time (a batch sent again by a sensor that missed the answer) is not stored or applied
again, and the answer counts it in ``duplicates``.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from ipaddress import ip_address
import logging
import time
from typing import TYPE_CHECKING, Final

from aiohttp import hdrs, web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.network import is_cloud_connection
from homeassistant.util import network as network_util

from ..const import LOGGER, MAX_STATIONS
from ..metering import MeterlogRow, StoreError, prepare_reading, prepare_readings
from ..powerhook import (
    BodyError,
    PowerReading,
    check_content_length,
    check_content_type,
    parse_body,
)
from .const import PRICE_UNIT
from .http import (
    ENCODER,
    METHODS,
    bad_request,
    declared_length,
    iso,
    json_answer,
    json_response,
    method_not_allowed,
    read_body,
)
from .writer import QueuedRequest

if TYPE_CHECKING:
    from .coordinator import WebhookCoordinator

MAX_CACHED_ANSWERS: Final = 64
MAX_CACHED_REMOTES: Final = 256
"""Remote addresses whose local-only check is kept (the cache is emptied when full)."""
_ONE: Final = (0,)
"""``QueuedRequest.checked`` of a single reading with its own time."""


class WebhookHandler:
    """Answers the requests of one webhook entry (registered by the coordinator)."""

    def __init__(self, hass: HomeAssistant, coordinator: WebhookCoordinator) -> None:
        """Handle requests for ``coordinator``'s stations."""
        self._hass = hass
        self._coordinator = coordinator
        self._title = coordinator.config_entry.title
        self._entry_id = coordinator.config_entry.entry_id
        self._stations = coordinator.live_stations
        self._now_answers: dict[float | None, bytes] = {}
        self._incoming: dict[str, int] = {}
        """New stations of requests under way (not yet applied), with how many requests."""
        self._cap_logged = False
        self._remote_logged = False
        # remote address -> local or not: the address is parsed once, not on every request
        self._local_remotes: dict[str, bool] = {}

    async def async_handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        """Check the method and the network; validate, price, store, then apply one request.

        Never raises, never logs the ID (the webhook is registered for every method and without
        the webhook component's local-only check, which log it: both are made here).
        """
        method = request.method
        if method not in METHODS:
            return method_not_allowed(method)
        if self._coordinator.local_only and not self._is_local(request):
            return web.Response(status=HTTPStatus.OK)  # (as the webhook component answers)
        try:
            return await self._async_handle(request)
        except Exception:  # noqa: BLE001 - the webhook component would log the secret ID
            LOGGER.exception("Power webhook %s: unexpected error", self._title)
            return json_response(
                {"error": "internal_error", "problem": "unexpected error, see the log"},
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )

    def _is_local(self, request: web.Request) -> bool:
        """The webhook component's local-only check, made the same way.

        Local: not through Home Assistant Cloud, and a remote address that
        ``network_util.is_local`` accepts (kept per address: it never changes). A refused
        request is logged once per load (later ones at debug level), without the ID.
        """
        remote = request.remote
        local = False
        if not (is_cloud_connection(self._hass) or remote is None):
            known = self._local_remotes.get(remote)
            if known is None:
                try:
                    known = network_util.is_local(ip_address(remote))
                except ValueError:
                    known = False
                if len(self._local_remotes) >= MAX_CACHED_REMOTES:
                    self._local_remotes.clear()
                self._local_remotes[remote] = known
            local = known
        if not local:
            LOGGER.log(
                logging.DEBUG if self._remote_logged else logging.WARNING,
                "Power webhook %s: a request from %s was ignored: it is not from the local "
                "network (see the option 'only accept requests from the local network')",
                self._title,
                "Home Assistant Cloud" if is_cloud_connection(self._hass) else remote,
            )
            self._remote_logged = True
        return local

    async def _async_handle(self, request: web.Request) -> web.Response:
        now = time.time()  # (what dt_util.utcnow() gives, without a datetime)
        try:
            check_content_type(request.headers.get(hdrs.CONTENT_TYPE))
            declared = declared_length(request.headers.get(hdrs.CONTENT_LENGTH))
            check_content_length(declared)
            raw = await read_body(request, declared)
            readings = parse_body(raw, now=now)
        except BodyError as err:
            self._coordinator.rejected += 1
            return bad_request(err)
        stations = self._stations
        if len(readings) == 1:
            station_id = readings[0].station_id
            new: Sequence[str] = () if station_id in stations else (station_id,)
        else:
            new = list(
                dict.fromkeys(r.station_id for r in readings if r.station_id not in stations)
            )
        if new and (refused := self._admit(readings, new)) is not None:
            self._coordinator.rejected += 1
            return bad_request(refused)
        try:  # (the new stations are released whatever happens)
            prices = await self._coordinator.price_source.async_prices([r.time for r in readings])
            # checked here, not in the writer thread: it holds the GIL as briefly as possible
            if len(readings) == 1:
                first = readings[0]
                rows = prepare_reading(
                    first.time,
                    first.station_id,
                    first.watts,
                    prices[0],
                    entry=self._entry_id,
                    sent=first.sent,
                )
                checked = _ONE if first.timed else ()
                queued = QueuedRequest(
                    rows, readings, prices, self._hass.loop.create_future(), checked
                )
            else:
                # stored in time order, the order they are applied in (a restart replays them
                # in the order stored)
                pairs = sorted(zip(readings, prices, strict=True), key=_reading_time)
                entry_id = self._entry_id
                rows = prepare_readings(
                    MeterlogRow(r.time, r.station_id, r.watts, p, entry=entry_id, sent=r.sent)
                    for r, p in pairs
                )
                queued = QueuedRequest(
                    rows,
                    [r for r, _ in pairs],
                    [p for _, p in pairs],
                    self._hass.loop.create_future(),
                    [index for index, (r, _) in enumerate(pairs) if r.timed],
                )
            try:
                stored = await self._coordinator.writer.async_write(queued)
            except StoreError:  # logged once per outage by the writer's round
                return json_response(
                    {
                        "error": "store_unavailable",
                        "problem": "readings not stored, send them again",
                    },
                    HTTPStatus.SERVICE_UNAVAILABLE,
                )
        finally:
            if new:
                self._release(new)
        # the body's own time (even one moved back to the arrival) gets the readings back
        if len(readings) == 1 and not readings[0].timed:
            return json_answer(self._now_answer(prices[0]))
        return json_response(self._answer(readings, prices, now, stored), HTTPStatus.OK)

    def _admit(self, readings: Sequence[PowerReading], new: Sequence[str]) -> BodyError | None:
        """Count the new stations of a request against :data:`MAX_STATIONS` (None: admitted).

        New stations of requests under way count too (their readings are not applied yet), so
        that concurrent requests cannot pass the limit together; existing stations always pass.
        """
        incoming = self._incoming
        stations = self._stations
        taken = len(stations) + sum(1 for s in incoming if s not in stations)
        for station_id in new:
            if station_id in incoming:
                continue
            if taken >= MAX_STATIONS:
                index = next(i for i, r in enumerate(readings) if r.station_id == station_id)
                field = "station_id" if len(readings) == 1 else f"readings[{index}].station_id"
                LOGGER.log(
                    logging.DEBUG if self._cap_logged else logging.WARNING,
                    "Power webhook %s: readings of a new station %s refused: the webhook has its "
                    "limit of %d stations (delete the devices of stations no longer used)",
                    self._title,
                    station_id,
                    MAX_STATIONS,
                )
                self._cap_logged = True
                return BodyError(
                    field,
                    f"station {station_id!r} is new and this webhook already has its limit of "
                    f"{MAX_STATIONS} stations (delete unused station devices in Home Assistant)",
                )
            taken += 1
        for station_id in new:
            incoming[station_id] = incoming.get(station_id, 0) + 1
        return None

    def _release(self, new: Sequence[str]) -> None:
        """A request admitted by :meth:`_admit` is done (stored and applied, or refused)."""
        incoming = self._incoming
        for station_id in new:
            if (count := incoming.get(station_id, 0)) <= 1:
                incoming.pop(station_id, None)
            else:
                incoming[station_id] = count - 1

    def _now_answer(self, price: float | None) -> bytes:
        """The answer to one reading taken now (the usual request): encoded once per price.

        It stays small (a sensor posting every few seconds parses it) and the price, the one
        the reading was stored with, changes at most a few times an hour.
        """
        body = self._now_answers.get(price)
        if body is None:
            if len(self._now_answers) >= MAX_CACHED_ANSWERS:
                self._now_answers.clear()
            body = ENCODER.encode({"stored": 1, "price": price, "unit": PRICE_UNIT}).encode()
            self._now_answers[price] = body
        return body

    def _answer(
        self,
        readings: Sequence[PowerReading],
        prices: Sequence[float | None],
        now: float,
        stored: int,
    ) -> dict[str, object]:
        """What was stored, the duplicates left out, the price now, each reading with its price.

        A duplicate is a reading with its own time that is already stored (a batch sent again).
        """
        return {
            "stored": stored,
            "duplicates": len(readings) - stored,
            "price": self._coordinator.price_source.price_at(now),
            "unit": PRICE_UNIT,
            "readings": [
                {"station_id": r.station_id, "time": iso(r.time), "watts": r.watts, "price": p}
                for r, p in zip(readings, prices, strict=True)
            ],
        }


def _reading_time(pair: tuple[PowerReading, float | None]) -> float:
    return pair[0].time
