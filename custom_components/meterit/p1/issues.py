"""A meter's history's repair issues: the store cannot be opened or written, a counter reset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, LOGGER
from ..metering import StoreError
from ..repairs import entry_issue_id
from ..shared_store import STORE_FILENAME

ISSUE_STORE_UNUSABLE: Final = "store_unusable"
ISSUE_STORE_UNWRITABLE: Final = "store_unwritable"
ISSUE_COUNTER_RESET: Final = "counter_reset"


def local_iso(t: float) -> str:
    """A UTC unix time in Home Assistant's zone, ISO 8601 (what logs and issues show)."""
    return dt_util.as_local(dt_util.utc_from_timestamp(t)).isoformat()


class HistoryIssues:
    """Raises and clears one meter's repair issues (per entry: they go when it is removed)."""

    def __init__(self, hass: HomeAssistant, entry_id: str, title: Callable[[], str]) -> None:
        """``title``: the meter's name now (the entry may be renamed)."""
        self._hass = hass
        self._entry_id = entry_id
        self._title = title
        self.failing = False
        """Whether the last write failed (logged once per streak, issue until one succeeds)."""

    def _issue_id(self, key: str) -> str:
        return entry_issue_id(key, self._entry_id)

    def _issue(self, key: str, severity: ir.IssueSeverity, **ph: str) -> None:
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._issue_id(key),
            is_fixable=False,
            severity=severity,
            translation_key=key,
            translation_placeholders={"title": self._title(), "file": STORE_FILENAME, **ph},
        )

    @callback
    def store_unusable(self, err: StoreError | None) -> None:
        """The store could not be opened (``err``), or it could (None: the issue goes)."""
        if err is None:
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id(ISSUE_STORE_UNUSABLE))
        else:
            self._issue(ISSUE_STORE_UNUSABLE, ir.IssueSeverity.ERROR, error=str(err))

    @callback
    def store_failed(self, err: StoreError) -> None:
        """A write failed: what it held stays in memory and is retried."""
        if not self.failing:
            self.failing = True
            LOGGER.warning(
                "%s: history cannot be stored, kept in memory and retried: %s", self._title(), err
            )
        self._issue(ISSUE_STORE_UNWRITABLE, ir.IssueSeverity.ERROR, error=str(err))

    @callback
    def store_ok(self) -> None:
        """A write succeeded: a failure streak ends."""
        if self.failing:
            self.failing = False
            LOGGER.info("%s: history is stored again", self._title())
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id(ISSUE_STORE_UNWRITABLE))

    @callback
    def counter_reset(self, counter: str, before: float, after: float, at: float) -> None:
        """A counter stepped as no consumption can: the meter was replaced or reset."""
        LOGGER.warning(
            "%s: the %s counter changed from %.3f to %.3f kWh, a step no consumption explains: "
            "meter replaced or reset, a new counter segment starts",
            self._title(),
            counter,
            before,
            after,
        )
        self._issue(
            ISSUE_COUNTER_RESET,
            ir.IssueSeverity.WARNING,
            counter=counter,
            before=f"{before:.3f}",
            after=f"{after:.3f}",
            time=local_iso(at),
        )
