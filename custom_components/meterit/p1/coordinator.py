"""The HomeWizard P1 meter in Home Assistant: connection helpers and the push coordinator.

The coordinator owns the meter's live state. The WebSocket stream (``homewizard.stream``) runs as
a background task of the config entry and hands every push to ``P1Coordinator.async_push``, which
feeds entities through ``async_set_updated_data``: no polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import time

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_IDENTIFIER,
    DOMAIN,
    LOGGER,
    P1_STALE_AFTER,
    P1_WATCHDOG_INTERVAL,
)
from ..cost import CostLink, price_entry, price_source_option, pricing_of
from ..homewizard import (
    CounterGuard,
    DeviceInfo,
    Measurement,
    MeasurementStream,
    ParsedMeasurement,
    UnauthorizedError,
)
from .client import async_get_ssl_context, split_host_port
from .devices import ExternalDevices
from .history import MeterHistory
from .state_rate import P1StateRate, policy_from_options

# Reconnect backoff of the live stream (seconds): exponential with full jitter, capped.
STREAM_BACKOFF_INITIAL = 1.0
STREAM_BACKOFF_MAX = 60.0


type P1ConfigEntry = ConfigEntry[P1Coordinator]
"""A P1 meter's config entry: its ``runtime_data`` is the meter's coordinator."""


@dataclass(frozen=True, slots=True)
class P1Data:
    """The latest push of a P1 meter and when Home Assistant received it (UTC)."""

    device: DeviceInfo
    measurement: Measurement
    received: datetime


class P1Coordinator(DataUpdateCoordinator[P1Data]):
    """Live state of one P1 meter, fed by its WebSocket stream."""

    config_entry: P1ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        device: DeviceInfo,
        first: ParsedMeasurement,
    ) -> None:
        """Start from the measurement read over REST during setup."""
        super().__init__(hass, LOGGER, config_entry=entry, name=entry.title)
        self.device = device
        self._guard = CounterGuard()
        self._reported: set[str] = set()
        self._connected = False
        self._last_push = time.monotonic()
        self._live = True
        self.stream: MeasurementStream | None = None
        self.stale_after = P1_STALE_AFTER
        self.pushes = 0
        # which pushes become states (state_rate.py): the entry's options, reloaded on change
        self.state_rate = P1StateRate(hass, policy_from_options(entry.options))
        self.devices = ExternalDevices(hass, entry.entry_id, device.serial)
        # the PVPC entry whose prices price the windows (cost.py), None: no cost
        self._price_option = price_source_option(hass, entry)
        self.price_entry = price_entry(hass, self._price_option)
        # windows, store, statistics (history.py); a confirmed meter reset re-arms the guard
        self.history = MeterHistory(
            hass,
            entry,
            series=f"p1:{device.serial}",
            object_id=device.serial,
            on_counter_reset=self._guard.reset,
            pricing=pricing_of(self.price_entry),
        )
        checked = self._guard.check(first.measurement, time.monotonic())
        self._report(first.problems + checked.problems)
        self.data = P1Data(device, checked.measurement, dt_util.utcnow())

    @property
    def live(self) -> bool:
        """True while the stream is connected and the last push is recent."""
        return self._live

    async def async_start(self) -> None:
        """Open the live stream as a background task of the entry and start the watchdog."""
        entry = self.config_entry
        # history first: it restores the last window state and fills the gap since then
        await self.history.async_start(self.data.measurement)
        entry.async_on_unload(self.history.async_stop)
        entry.async_on_unload(self.state_rate.async_start())
        entry.async_on_unload(entry.add_update_listener(self._async_options_updated))
        await self.devices.async_start(self.data.measurement.external)
        entry.async_on_unload(self.devices.async_track())
        entry.async_on_unload(self.devices.async_stop)
        history = self.history
        if self.price_entry is not None and history.store is not None:
            statistics = history.statistics
            await CostLink(
                self.hass,
                entry,
                history.store,
                self.price_entry,
                importers=lambda: [] if statistics is None else [statistics],
                on_due=lambda _importer: history.async_request_import(),
            ).async_start()
        name, port = split_host_port(entry.data[CONF_HOST])
        self.stream = MeasurementStream(
            async_get_clientsession(self.hass),
            name,
            entry.data[CONF_TOKEN],
            port=port,
            identifier=entry.data[CONF_IDENTIFIER],
            ssl_context=await async_get_ssl_context(self.hass, verify_identity=True),
            on_measurement=self.async_push,
            on_connection=self._async_connection_changed,
            backoff_initial=STREAM_BACKOFF_INITIAL,
            backoff_max=STREAM_BACKOFF_MAX,
        )
        entry.async_create_background_task(
            self.hass, self._async_run_stream(self.stream), f"{DOMAIN} P1 stream {entry.title}"
        )
        entry.async_on_unload(
            async_track_time_interval(self.hass, self._async_watchdog, P1_WATCHDOG_INTERVAL)
        )

    async def _async_options_updated(self, _hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Saved options: the state rate follows at once; another price source reloads the entry.

        (The price link, the pricing of the windows and the cost statistics start from it.)
        """
        if price_source_option(self.hass, entry) != self._price_option:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
            return
        self.state_rate.async_set_policy(policy_from_options(entry.options))

    async def _async_run_stream(self, stream: MeasurementStream) -> None:
        try:
            await stream.run()
        except UnauthorizedError:
            LOGGER.warning(
                "The P1 meter %s rejected its token; re-authentication needed", self.name
            )
            self._connected = False
            self._update_live()
            self.config_entry.async_start_reauth(self.hass)

    async def _async_update_data(self) -> P1Data:
        """``homeassistant.update_entity``: a push source has nothing to poll; keep the data."""
        return self.data

    @callback
    def async_push(self, parsed: ParsedMeasurement, received_monotonic: float) -> None:
        """Take one measurement push from the stream."""
        # windows first (no I/O): a confirmed meter reset re-arms the guard for this push
        self.history.async_add_measurement(parsed.measurement)
        self.devices.async_seen(parsed.measurement.external)
        checked = self._guard.check(parsed.measurement, received_monotonic)
        self._report(checked.problems)
        self._last_push = received_monotonic
        self.pushes += 1
        self._connected = True
        self._live = True
        self.async_set_updated_data(P1Data(self.device, checked.measurement, dt_util.utcnow()))

    @callback
    def _async_connection_changed(self, connected: bool) -> None:
        self._connected = connected
        self._update_live()

    @callback
    def _async_watchdog(self, _now: datetime) -> None:
        self._update_live()

    @callback
    def _update_live(self) -> None:
        age = time.monotonic() - self._last_push
        live = self._connected and age < self.stale_after.total_seconds()
        if live == self._live:
            return
        self._live = live
        if live:
            LOGGER.info("P1 meter %s: receiving data again", self.config_entry.title)
        else:
            LOGGER.warning(
                "P1 meter %s: no data for %.0f s, its entities are unavailable until it is back",
                self.config_entry.title,
                min(age, self.stale_after.total_seconds()),
            )
        self.async_update_listeners()

    def _report(self, problems: tuple[str, ...]) -> None:
        """Log each kind of bad value once (by field), not on every push."""
        for problem in problems:
            field = problem.partition(":")[0]
            if field not in self._reported:
                self._reported.add(field)
                LOGGER.warning(
                    "P1 meter %s sent a bad value, ignored: %s", self.config_entry.title, problem
                )
