"""Removing an entry leaves nothing of it behind."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN


async def test_removing_an_entry_removes_its_repair_issues(hass: HomeAssistant) -> None:
    """Its 'no prices' and 'counter reset' issues go; another entry's issue stays."""
    entry = MockConfigEntry(domain=DOMAIN, data={"source": "prices"})
    entry.add_to_hass(hass)
    for issue_id in (
        f"no_prices_{entry.entry_id}",
        f"counter_reset_{entry.entry_id}",
        "no_prices_another_entry",
    ):
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="no_prices",
        )
    await hass.config_entries.async_remove(entry.entry_id)
    remaining = {key[1] for key in ir.async_get(hass).issues if key[0] == DOMAIN}
    assert remaining == {"no_prices_another_entry"}
