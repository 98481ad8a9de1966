"""Spanish PVPC prices in Home Assistant: the coordinator that fetches, keeps and schedules them.

One config entry per region. The coordinator owns today's and tomorrow's prices (the region's
local days) and drives three timers, none of them polling:

- a *fetch* timer: at setup today (and tomorrow when already published) are fetched, all at
  once (setup waits at most ``SETUP_FETCH_TIMEOUT``, and not at all when some of today is
  stored; with nothing of today to show it fails and Home Assistant retries it); the next day
  is fetched at its publication time (20:15 Europe/Madrid) and retried with
  ``esios.next_fetch_delay`` backoff until complete, never past midnight;
- a *tick* timer at the next period boundary (or local midnight, whichever is first): entities
  update exactly when the price changes; at midnight tomorrow becomes today;
- no timer at all while both days are complete and tomorrow's publication is in the past.

Prices go to the integration's SQLite store (``saved.SavedPrices``), so a restart without
network still has today and tomorrow. Failures keep what we have, log one line per failure
streak (and one on recovery), and raise a repair issue when nothing could be fetched for a day.

``ESIOS_BASE_URL`` is read each time a client is created: tests monkeypatch it to point at
``simulator.esios.FakeEsios``; ``scripts/develop`` sets ``METERIT_ESIOS_BASE_URL`` (development
only, it wins). It is not a per-entry setting.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
import os
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import CONF_REGION, DOMAIN, ENV_ESIOS_BASE_URL, LOGGER
from ..esios import (
    DayPrices,
    EsiosAuthError,
    EsiosClient,
    EsiosConnectionError,
    EsiosError,
    PriceData,
    PriceKind,
    PricePeriod,
    PricesNotPublishedError,
    Region,
    day_bounds,
    merge_day,
    next_fetch_delay,
    publication_time,
)
from ..esios.client import DEFAULT_BASE_URL
from ..esios.models import PVPC_FIRST_DAY, PVPC_LAST_DAY
from ..metering import JsonValue
from .health import FetchHealth
from .saved import SavedPrices

ESIOS_BASE_URL: str = DEFAULT_BASE_URL
"""Base URL of ESIOS for every price entry; tests point it at the fake server."""


SETUP_FETCH_TIMEOUT: Final = 10.0
"""Seconds setup waits for ESIOS when none of today's consumer prices is stored (every due day
and kind is asked at once). What arrived by then is kept; with still nothing of today's prices,
Home Assistant retries the setup later (``ConfigEntryNotReady``). With some of today stored,
setup does not wait."""


def create_client(hass: HomeAssistant, token: str | None) -> EsiosClient:
    """An ESIOS client on Home Assistant's shared session (token: indicators API)."""
    base_url = os.environ.get(ENV_ESIOS_BASE_URL) or ESIOS_BASE_URL
    return EsiosClient(async_get_clientsession(hass), token=token, base_url=base_url)


type PriceConfigEntry = ConfigEntry[PriceCoordinator]
"""A PVPC entry: its ``runtime_data`` is the region's price coordinator."""


class PriceCoordinator(DataUpdateCoordinator[PriceData]):
    """Today's and tomorrow's PVPC prices of one region, with the timers that keep them fresh."""

    config_entry: PriceConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Prepare an empty coordinator; ``async_start`` loads, fetches and schedules."""
        super().__init__(hass, LOGGER, config_entry=entry, name=f"{DOMAIN} prices {entry.title}")
        self.region = Region(entry.data[CONF_REGION])
        self.client = create_client(hass, entry.data.get(CONF_TOKEN))
        self.kinds: tuple[PriceKind, ...] = (
            (PriceKind.CONSUMER, PriceKind.SURPLUS)
            if self.client.has_token
            else (PriceKind.CONSUMER,)
        )
        self._days: dict[tuple[PriceKind, date], DayPrices] = {}
        self._today = self._local_today()
        self._saved = SavedPrices(hass, self.region)
        self._lock = asyncio.Lock()
        self._attempt = 0
        self.health = FetchHealth(hass, entry.entry_id, self.region, entry.title)
        self._auth_failed = False
        self._unsub_fetch: CALLBACK_TYPE | None = None
        self._unsub_tick: CALLBACK_TYPE | None = None
        self._next_fetch_at: datetime | None = None
        self._stopped = False
        self.data = self._snapshot()

    # ------------------------------------------------------------------ public

    @property
    def issue_id(self) -> str:
        """ID of this entry's "no prices" repair issue."""
        return self.health.issue_id

    @property
    def auth_failed(self) -> bool:
        """Whether ESIOS rejected the token (nothing is fetched until the entry is reloaded)."""
        return self._auth_failed

    @property
    def next_fetch(self) -> datetime | None:
        """When the next scheduled fetch runs (None: nothing scheduled)."""
        return self._next_fetch_at

    def diagnostics(self) -> dict[str, JsonValue]:
        """What the coordinator holds and plans, for a bug report (never the token)."""
        days: dict[str, JsonValue] = {
            f"{kind.value} {day.isoformat()}": {
                "periods": len(prices.periods),
                "complete": prices.complete,
                "first_start": prices.periods[0].start.isoformat(),
                "last_end": prices.periods[-1].end.isoformat(),
            }
            for (kind, day), prices in sorted(self._days.items())
        }
        return {
            "region": self.region.value,
            "has_token": self.client.has_token,
            "kinds": [kind.value for kind in self.kinds],
            "today": self._today.isoformat(),
            "days": days,
            "store": self._saved.available,
            "next_fetch": None if self._next_fetch_at is None else self._next_fetch_at.isoformat(),
            "retry_attempt": self._attempt,
            **self.health.diagnostics(),
            "auth_failed": self._auth_failed,
        }

    async def async_start(self) -> None:
        """Load stored prices, fetch what is due and start the timers.

        With any of today's consumer prices stored (all of them, or the part published when
        they were fetched), what is due is fetched in the background: a slow or dead ESIOS
        never holds up Home Assistant's start. Without them, every due day and kind is asked at
        once and setup waits at most ``SETUP_FETCH_TIMEOUT`` seconds; what arrived by then is
        kept (and stored), the rest is retried by the usual timers.

        Raises ``EsiosAuthError`` when ESIOS rejects the token during setup (the caller starts
        reauth; in the background the coordinator starts it), and the fetch's ``EsiosError``
        when there is still nothing of today's consumer prices (the caller has Home Assistant
        retry the setup; nothing is logged here and no timer is left).
        """
        self.config_entry.async_on_unload(self._async_stop)
        await self._saved.async_open()
        await self._async_load_stored(self._today)
        if self._has_today():
            self._publish()
            self.config_entry.async_create_background_task(
                self.hass, self._async_fetch_timer(dt_util.utcnow()), f"{DOMAIN} PVPC first fetch"
            )
            return
        async with self._lock:
            error = await self._async_fetch_due(
                force=False, raise_auth=True, within=SETUP_FETCH_TIMEOUT, report=False
            )
        if error is not None and not self._has_today():
            self.health.failed(error, log=False)  # Home Assistant logs the retried setup
            raise error
        if error is None:
            self.health.succeeded()
        else:
            self.health.failed(error)
        self._publish()
        self._schedule_fetch()

    async def async_refresh_prices(self) -> None:
        """Fetch today and (once published) tomorrow again, whatever we have.

        Raises ``EsiosError`` when the fetch failed (what we have is kept).
        """
        async with self._lock:
            error = await self._async_fetch_due(force=True, raise_auth=False)
        self._publish()
        self._schedule_fetch()
        if error is not None:
            raise error

    async def async_get_periods(
        self, start: datetime, end: datetime, kind: PriceKind = PriceKind.CONSUMER
    ) -> list[PricePeriod]:
        """The periods overlapping ``[start, end)``: memory, then the store, then ESIOS.

        Days that are published but not complete locally are fetched (and stored). A day ESIOS
        has no prices for is left out; a failed fetch keeps what we have of that day, but if we
        have nothing of it a translated ``HomeAssistantError`` names the day and the reason
        (the days after it are not tried). A rejected token starts reauth, like the timers do.
        Only days from ``PVPC_FIRST_DAY`` to ``PVPC_LAST_DAY`` are looked at. A fetched today
        or tomorrow goes to the entities too.
        """
        now = dt_util.utcnow()
        first = max(start.astimezone(self.region.timezone).date(), PVPC_FIRST_DAY)
        last = (end - timedelta(microseconds=1)).astimezone(self.region.timezone).date()
        last = min(last, PVPC_LAST_DAY)
        result: list[PricePeriod] = []
        refreshed = False
        day = first
        while day <= last:
            have = self._days.get((kind, day))
            if have is None:
                have = (await self._saved.async_read(day, day, kind)).get(day)
            if (have is None or not have.complete) and publication_time(day) <= now:
                try:
                    fetched = await self._async_fetch_asked_day(day, kind)
                except PricesNotPublishedError as err:
                    LOGGER.debug("PVPC %s: no %s prices for %s: %s", self.region, kind, day, err)
                except EsiosError as err:
                    LOGGER.debug(
                        "PVPC %s %s prices of %s not fetched: %s", self.region, kind, day, err
                    )
                    if have is None:
                        raise self._fetch_failed(day, err) from err
                else:
                    have = merge_day(have, fetched)
                    await self._saved.async_save(fetched)
                    if day in (self._today, self._today + timedelta(days=1)):
                        self._days[kind, day] = have
                        refreshed = True
            if have is not None:
                result.extend(p for p in have.periods if p.end > start and p.start < end)
            day += timedelta(days=1)
        if refreshed:
            self._publish()
        return result

    async def _async_fetch_asked_day(self, day: date, kind: PriceKind) -> DayPrices:
        """Fetch one day for ``async_get_periods``; a rejected token starts reauth (once)."""
        if self._auth_failed:
            raise EsiosAuthError("ESIOS rejected the API token; re-authentication needed")
        try:
            return await self.client.fetch_day(day, self.region, kind)
        except EsiosAuthError:
            self._auth_failed = True
            self._async_auth_failed()
            raise

    def _fetch_failed(self, day: date, err: EsiosError) -> HomeAssistantError:
        """The action's error for a day we have no prices of and could not fetch."""
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="prices_fetch_failed",
            translation_placeholders={
                "title": self.config_entry.title,
                "day": day.isoformat(),
                "error": str(err),
            },
        )

    # ------------------------------------------------------------------ DataUpdateCoordinator

    async def _async_update_data(self) -> PriceData:
        """``homeassistant.update_entity``: fetch what is due (a failure keeps the data)."""
        async with self._lock:
            await self._async_fetch_due(force=False, raise_auth=False)
        self._schedule_fetch()
        data = self._snapshot()
        self._schedule_tick(data)  # new periods have new boundaries
        return data

    # ------------------------------------------------------------------ days

    def _local_today(self) -> date:
        return dt_util.utcnow().astimezone(self.region.timezone).date()

    def _has_today(self) -> bool:
        """Whether any of today's consumer prices are known: the entities have a day to show."""
        return (PriceKind.CONSUMER, self._today) in self._days

    def _complete(self, day: date) -> bool:
        return all(
            (have := self._days.get((kind, day))) is not None and have.complete
            for kind in self.kinds
        )

    def _snapshot(self) -> PriceData:
        return PriceData(region=self.region, today=self._today, days=dict(self._days))

    @callback
    def _publish(self) -> None:
        """Hand the current prices to the entities and re-arm the boundary timer."""
        self.async_set_updated_data(self._snapshot())
        self._schedule_tick()

    # ------------------------------------------------------------------ store

    async def _async_load_stored(self, today: date) -> None:
        tomorrow = today + timedelta(days=1)
        for kind in self.kinds:
            for day, prices in (await self._saved.async_read(today, tomorrow, kind)).items():
                if day in (today, tomorrow):
                    self._days[kind, day] = merge_day(self._days.get((kind, day)), prices)

    # ------------------------------------------------------------------ fetching

    def _due_days(self, *, force: bool) -> list[date]:
        tomorrow = self._today + timedelta(days=1)
        days = [self._today]
        if dt_util.utcnow() >= publication_time(tomorrow):
            days.append(tomorrow)
        return [day for day in days if force or not self._complete(day)]

    async def _async_fetch_due(
        self,
        *,
        force: bool,
        raise_auth: bool,
        within: float | None = None,
        report: bool = True,
    ) -> EsiosError | None:
        """Fetch the days that are due; return the first error (None: all went well).

        ``within``: seconds to wait for ESIOS (None: the client's own timeout per request);
        what answered by then is kept. ``report``: log the outcome and keep the repair issue up
        to date (setup does that itself, or leaves it to Home Assistant's retries).
        """
        if self._auth_failed and not raise_auth:
            return EsiosAuthError("ESIOS rejected the API token; re-authentication needed")
        error: EsiosError | None = None
        got_any = False
        wanted = [
            (day, kind)
            for day in self._due_days(force=force)
            for kind in self.kinds
            if force or not ((have := self._days.get((kind, day))) is not None and have.complete)
        ]
        results = await self._async_fetch_all(wanted, within)
        for result in results:
            if isinstance(result, EsiosAuthError):
                self._auth_failed = True
                if raise_auth:
                    raise result
                self._async_auth_failed()
                return result
        for (day, kind), result in zip(wanted, results, strict=True):
            if isinstance(result, PricesNotPublishedError):
                if day != self._today:  # tomorrow is late: not a failure, retry later
                    LOGGER.debug("PVPC %s: %s not published yet: %s", self.region, day, result)
                    continue
                error = error or result
            elif isinstance(result, EsiosError):
                error = error or result
            elif isinstance(result, BaseException):
                raise result
            else:
                got_any = True
                self._days[kind, day] = merge_day(self._days.get((kind, day)), result)
                await self._saved.async_save(result)
        if not report:
            return error
        if got_any and error is None:
            self.health.succeeded()
        elif error is not None:
            self.health.failed(error)
        return error

    async def _async_fetch_all(
        self, wanted: list[tuple[date, PriceKind]], within: float | None
    ) -> list[DayPrices | BaseException]:
        """Fetch ``wanted`` all at once: the time of the slowest answer, not of all in a row.

        Each result is the day's prices or the exception of its fetch; a fetch still running
        after ``within`` seconds is cancelled and its result is an ``EsiosConnectionError``.
        """
        if not wanted:
            return []
        tasks = [
            asyncio.create_task(self.client.fetch_day(day, self.region, kind))
            for day, kind in wanted
        ]
        try:
            _done, pending = await asyncio.wait(tasks, timeout=within)
        finally:
            for task in tasks:
                task.cancel()  # the ones still running (unload, or past ``within``)
        if pending:
            await asyncio.wait(pending)
        late = EsiosConnectionError(f"ESIOS did not answer within {within or 0:g} s")
        return [late if task.cancelled() else task.exception() or task.result() for task in tasks]

    @callback
    def _async_auth_failed(self) -> None:
        LOGGER.warning(
            "PVPC %s: ESIOS rejected the API token; prices are not fetched until it is "
            "re-authenticated",
            self.region,
        )
        self.config_entry.async_start_reauth(self.hass)

    # ------------------------------------------------------------------ timers

    @callback
    def _schedule_fetch(self) -> None:
        """Arm the fetch timer for whatever is missing next (or nothing)."""
        if self._unsub_fetch is not None:
            self._unsub_fetch()
            self._unsub_fetch = None
        self._next_fetch_at = None
        if self._auth_failed or self._stopped:
            return
        now = dt_util.utcnow()
        tomorrow = self._today + timedelta(days=1)
        if self._complete(self._today):
            if self._complete(tomorrow):
                self._attempt = 0
                return
            published = publication_time(tomorrow)
            if now < published:
                self._attempt = 0
                self._arm_fetch(published)
                return
        when = now + timedelta(seconds=next_fetch_delay(self._attempt))
        self._attempt += 1
        if self._complete(self._today) and when >= day_bounds(self._today, self.region)[1]:
            return  # tomorrow's retries stop at midnight; the new day starts afresh
        self._arm_fetch(when)

    @callback
    def _arm_fetch(self, when: datetime) -> None:
        self._next_fetch_at = when
        self._unsub_fetch = async_track_point_in_utc_time(self.hass, self._async_fetch_timer, when)

    async def _async_fetch_timer(self, _now: datetime) -> None:
        self._unsub_fetch = None
        self._next_fetch_at = None
        async with self._lock:
            await self._async_fetch_due(force=False, raise_auth=False)
        self._publish()
        self._schedule_fetch()

    @callback
    def _schedule_tick(self, data: PriceData | None = None) -> None:
        """Arm the timer at the next period boundary or local midnight, whichever comes first.

        ``data``: the prices the entities are about to show (default: those they show).
        """
        if self._unsub_tick is not None:
            self._unsub_tick()
            self._unsub_tick = None
        if self._stopped:  # a fetch that ended after the unload
            return
        now = dt_util.utcnow()
        when = day_bounds(self._today, self.region)[1]
        for kind in self.kinds:
            for period in (data or self.data).periods(kind):
                for edge in (period.start, period.end):
                    if now < edge < when:
                        when = edge
        self._unsub_tick = async_track_point_in_utc_time(self.hass, self._async_tick, when)

    @callback
    def _async_tick(self, _now: datetime) -> None:
        self._unsub_tick = None
        today = self._local_today()
        if today != self._today:
            self._today = today
            keep = (today, today + timedelta(days=1))
            self._days = {key: day for key, day in self._days.items() if key[1] in keep}
            self._attempt = 0
            self._schedule_fetch()
        self._publish()

    @callback
    def _async_stop(self) -> None:
        self._stopped = True
        for unsub in (self._unsub_fetch, self._unsub_tick):
            if unsub is not None:
                unsub()
        self._unsub_fetch = self._unsub_tick = None
