"""The integration's own SQLite store, shared by all config entries of one Home Assistant.

``metering.MeterStore`` is synchronous; every call from the event loop goes through
``hass.async_add_executor_job``. The file lives in the config directory (``meterit.db``) and is
opened once, on first use, and closed in Home Assistant's final-write stage (after the stop
stage, in which sources save their state).
"""

from __future__ import annotations

import asyncio

from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .metering import MeterStore

STORE_FILENAME = "meterit.db"
_DATA_STORE: HassKey[MeterStore] = HassKey(f"{DOMAIN}_store")
_DATA_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_store_lock")


async def async_get_store(hass: HomeAssistant) -> MeterStore:
    """Open (once) and return the store.

    Raises ``metering.StoreCorruptError`` / ``StoreUnavailableError`` when the file is unusable;
    the file is never overwritten.
    """
    if (store := hass.data.get(_DATA_STORE)) is not None:
        return store
    lock = hass.data.setdefault(_DATA_LOCK, asyncio.Lock())
    async with lock:
        if (store := hass.data.get(_DATA_STORE)) is not None:
            return store
        opened = await hass.async_add_executor_job(MeterStore, hass.config.path(STORE_FILENAME))
        hass.data[_DATA_STORE] = opened

        @callback
        def _async_close(_event: Event) -> None:
            hass.data.pop(_DATA_STORE, None)
            hass.async_add_executor_job(opened.close)

        # after the stop stage, in which sources save their state to the store
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_FINAL_WRITE, _async_close)
        return opened
