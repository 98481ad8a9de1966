"""Gas, water and heat meters on a P1 meter's port as devices: when each was last reported.

A meter the P1 meter has not reported for ``stale_after`` (30 days) leaves the device registry
with its entities, so a replaced or removed gas meter does not stay forever; the user may delete
one that is not reported now at any time. Last-seen times are kept in Home Assistant's storage
(``.storage/meterit.p1_devices.<entry_id>``), so a restart does not start the count again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, LOGGER
from ..homewizard import ExternalMeter

STALE_AFTER = timedelta(days=30)
SWEEP_INTERVAL = timedelta(hours=6)
# A last-seen time is written again only when it moved this far (not on every push).
SAVE_EVERY = timedelta(hours=1)
SAVE_DELAY = 10.0  # seconds
STORAGE_VERSION = 1


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, dict[str, str]]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.p1_devices.{entry_id}")


async def async_remove_last_seen(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the stored last-seen times of a removed P1 entry."""
    await _store(hass, entry_id).async_remove()


class ExternalDevices:
    """The external meters of one P1 entry: last seen, reported now, removal of stale ones."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        meter_serial: str,
        *,
        stale_after: timedelta = STALE_AFTER,
        sweep_interval: timedelta = SWEEP_INTERVAL,
    ) -> None:
        """Nothing is read until ``async_start``."""
        self._hass = hass
        self._entry_id = entry_id
        self._meter_serial = meter_serial
        self.stale_after = stale_after
        self.sweep_interval = sweep_interval
        self._store = _store(hass, entry_id)
        self._seen: dict[str, datetime] = {}
        self._saved: dict[str, datetime] = {}
        self.reported: frozenset[str] = frozenset()

    @property
    def last_seen(self) -> dict[str, datetime]:
        """When each external meter was last reported (UTC), by its unique ID."""
        return dict(self._seen)

    async def async_start(self, external: Iterable[ExternalMeter]) -> None:
        """Load the last-seen times, take the first measurement, sweep, then sweep regularly."""
        self._seen = self._parse(await self._store.async_load())
        self._saved = dict(self._seen)
        self.async_seen(external)
        self.async_sweep(dt_util.utcnow())

    @callback
    def async_track(self) -> Callable[[], None]:
        """Sweep every ``sweep_interval``; returns the function that stops it."""
        return async_track_time_interval(self._hass, self.async_sweep, self.sweep_interval)

    async def async_stop(self) -> None:
        """Write the latest last-seen times (entry unloaded)."""
        await self._store.async_save(self._data())
        self._saved = dict(self._seen)

    @callback
    def async_seen(self, external: Iterable[ExternalMeter]) -> None:
        """Take the meters of one push: they are reported now."""
        reported = frozenset(meter.unique_id for meter in external)
        if not reported and not self.reported:
            return
        self.reported = reported
        now = dt_util.utcnow()
        save = False
        for unique_id in reported:
            self._seen[unique_id] = now
            saved = self._saved.get(unique_id)
            save = save or saved is None or now - saved >= SAVE_EVERY
        if save:
            self._schedule_save()

    @callback
    def async_sweep(self, now: datetime) -> None:
        """Remove the devices of meters not reported for ``stale_after``."""
        registry = dr.async_get(self._hass)
        with_device: set[str] = set()
        for device in dr.async_entries_for_config_entry(registry, self._entry_id):
            unique_id = self._external_id(device.identifiers)
            if unique_id is None:
                continue
            with_device.add(unique_id)
            if unique_id in self.reported:
                continue
            seen = self._seen.setdefault(unique_id, now)  # no record yet: counts from now
            if now - seen >= self.stale_after:
                LOGGER.info(
                    "P1 meter: removing the device of external meter %s, not reported since %s",
                    device.name_by_user or device.name or device.id,
                    seen.date().isoformat(),
                )
                registry.async_update_device(device.id, remove_config_entry_id=self._entry_id)
                del self._seen[unique_id]
        keep = with_device | self.reported
        for unique_id, seen in list(self._seen.items()):  # no device: forget it once stale
            if unique_id not in keep and now - seen >= self.stale_after:
                del self._seen[unique_id]
        if self._seen != self._saved:
            self._schedule_save()

    @callback
    def async_remove_device(self, identifiers: Iterable[tuple[str, str]]) -> bool:
        """Whether the user may delete this device: an external meter not reported now."""
        unique_id = self._external_id(identifiers)
        if unique_id is None or unique_id in self.reported:
            return False
        if self._seen.pop(unique_id, None) is not None:
            self._schedule_save()
        return True

    def _external_id(self, identifiers: Iterable[tuple[str, str]]) -> str | None:
        """The unique ID of an external meter's device; None for the P1 meter's own."""
        ours = {value for domain, value in identifiers if domain == DOMAIN}
        if len(ours) != 1 or self._meter_serial in ours:
            return None
        return ours.pop()

    def _schedule_save(self) -> None:
        self._saved = dict(self._seen)
        self._store.async_delay_save(self._data, SAVE_DELAY)

    def _data(self) -> dict[str, dict[str, str]]:
        return {"last_seen": {key: when.isoformat() for key, when in self._seen.items()}}

    @staticmethod
    def _parse(data: object) -> dict[str, datetime]:
        """The stored times; anything unreadable is left out (that meter counts from now)."""
        stored = data.get("last_seen") if isinstance(data, dict) else None
        if not isinstance(stored, dict):
            return {}
        seen: dict[str, datetime] = {}
        for key, value in stored.items():
            when = dt_util.parse_datetime(value) if isinstance(value, str) else None
            if isinstance(key, str) and when is not None and when.tzinfo is not None:
                seen[key] = dt_util.as_utc(when)
        return seen
