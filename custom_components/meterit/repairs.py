"""Repair issues of config entries: one per entry and kind, deleted with the entry."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

# Every issue kind raised for one entry (its ID is "<kind>_<entry id>"), as in strings.json.
ENTRY_ISSUE_KINDS: Final = ("counter_reset", "no_prices", "store_unusable", "store_unwritable")


def entry_issue_id(kind: str, entry_id: str) -> str:
    """The issue ID of ``kind`` for one entry: each entry's issue names that entry."""
    return f"{kind}_{entry_id}"


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every repair issue of a removed entry."""
    for kind in ENTRY_ISSUE_KINDS:
        ir.async_delete_issue(hass, DOMAIN, entry_issue_id(kind, entry_id))
