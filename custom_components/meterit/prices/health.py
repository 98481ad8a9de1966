"""Whether a PVPC entry's fetches succeed: one log line per failure streak, the "no prices" issue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, LOGGER
from ..esios import EsiosError, Region
from ..metering import JsonValue
from ..repairs import entry_issue_id

REPAIR_AFTER: Final = timedelta(days=1)
"""A repair issue is raised when no price could be fetched for this long."""
_LAST_SUCCESS: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_prices_last_success")
"""Per entry, the last successful fetch before a failure streak: it outlives a setup that
failed (Home Assistant retries it with a new coordinator), so a streak of retries for a day
raises the issue too."""


class FetchHealth:
    """The fetch streak of one region's entry: failing or not, since when, and why."""

    def __init__(self, hass: HomeAssistant, entry_id: str, region: Region, title: str) -> None:
        """Go on with the entry's failure streak, if a setup before this one failed."""
        self._hass = hass
        self._region = region
        self._title = title
        self.issue_id = entry_issue_id("no_prices", entry_id)
        """ID of this entry's "no prices" repair issue."""
        self._entry_id = entry_id
        self._streaks = hass.data.setdefault(_LAST_SUCCESS, {})
        self.failing = entry_id in self._streaks
        self.last_success = self._streaks.get(entry_id, dt_util.utcnow())
        self.last_error = ""

    @callback
    def succeeded(self) -> None:
        """A fetch succeeded: a failure streak ends, and the issue with it."""
        self.last_success = dt_util.utcnow()
        self._streaks.pop(self._entry_id, None)
        if self.failing:
            self.failing = False
            LOGGER.info("PVPC %s: prices fetched again", self._region)
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)

    @callback
    def failed(self, err: EsiosError, *, log: bool = True) -> None:
        """A fetch failed: logged once per streak; an issue once it lasts ``REPAIR_AFTER``."""
        self.last_error = str(err)
        self._streaks.setdefault(self._entry_id, self.last_success)
        if not self.failing and log:
            self.failing = True
            LOGGER.warning(
                "PVPC %s: prices could not be fetched (%s); keeping what we have and retrying",
                self._region,
                err,
            )
        if dt_util.utcnow() - self.last_success >= REPAIR_AFTER:
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                self.issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="no_prices",
                translation_placeholders={
                    "title": self._title,
                    "since": dt_util.as_local(self.last_success).isoformat(timespec="minutes"),
                    "error": self.last_error,
                },
            )

    def diagnostics(self) -> dict[str, JsonValue]:
        """The streak, for the entry's diagnostics."""
        return {
            "failing": self.failing,
            "last_error": self.last_error or None,
            "last_success": self.last_success.isoformat(),
        }
