"""Removing an entry leaves nothing of it behind."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.repairs import ENTRY_ISSUE_KINDS
from simulator.p1_meter import FakeP1Meter

from .conftest import p1_entry


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


async def test_store_issues_are_per_entry_and_go_with_it(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    """An unusable history file: the issue names its entry, and is deleted with that entry."""
    path = Path(hass.config.path("meterit.db"))
    await hass.async_add_executor_job(path.write_bytes, b"this is not a database" * 100)
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    registry = ir.async_get(hass)
    issue = registry.async_get_issue(DOMAIN, f"store_unusable_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["title"] == entry.title
    assert registry.async_get_issue(DOMAIN, "store_unusable") is None  # not one for all

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not [key for key in registry.issues if key[0] == DOMAIN]


async def test_removal_deletes_every_kind_of_entry_issue(hass: HomeAssistant) -> None:
    """Each kind in ENTRY_ISSUE_KINDS, and each issue kind of strings.json, is an entry's."""
    entry = MockConfigEntry(domain=DOMAIN, data={"source": "webhook", "webhook_id": "x" * 64})
    entry.add_to_hass(hass)
    strings = json.loads(
        (Path(__file__).parents[2] / "custom_components/meterit/strings.json").read_text()
    )
    assert set(ENTRY_ISSUE_KINDS) == set(strings["issues"])
    for kind in ENTRY_ISSUE_KINDS:
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"{kind}_{entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=kind,
        )
    await hass.config_entries.async_remove(entry.entry_id)
    assert not [key for key in ir.async_get(hass).issues if key[0] == DOMAIN]
