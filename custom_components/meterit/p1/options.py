"""Options of a P1 meter: the PVPC entry that prices its energy, and how often values are written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigFlowResult, OptionsFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio

from ..const import CONF_PRICE_SOURCE, PRICE_ENTRY_PREFIX, PRICE_NONE
from ..cost import price_source_option, pvpc_entries
from .state_rate import state_rate_options, state_rate_section


class P1OptionsFlow(OptionsFlow):
    """Options of a P1 meter: price source and state rate (the entry is reloaded)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Go to the P1 meter's form (``init`` is the price entries' step)."""
        return await self.async_step_p1(user_input)

    async def async_step_p1(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form: the price source (a PVPC entry of Meterit, or none); the state-rate section."""
        entry = self.config_entry
        if user_input is not None:
            return self.async_create_entry(
                data={
                    **entry.options,
                    **p1_price_options(user_input),
                    **state_rate_options(user_input),
                }
            )
        return self.async_show_form(
            step_id="p1",
            data_schema=p1_price_schema(self.hass, entry).extend(state_rate_section(entry.options)),
            description_placeholders={"title": entry.title},
        )


def p1_price_schema(hass: HomeAssistant, entry: ConfigEntry) -> probatio.Schema:
    """The P1 meter's price source: none or a PVPC entry (default: the one there is)."""
    choices = [SelectOptionDict(value=PRICE_NONE, label="—")]
    choices.extend(
        SelectOptionDict(value=f"{PRICE_ENTRY_PREFIX}{prices.entry_id}", label=prices.title)
        for prices in pvpc_entries(hass)
    )
    chosen = price_source_option(hass, entry)
    if chosen not in {choice["value"] for choice in choices}:
        chosen = PRICE_NONE  # the PVPC entry is gone
    return probatio.Schema(
        {
            probatio.Required(CONF_PRICE_SOURCE, default=chosen): SelectSelector(
                SelectSelectorConfig(options=choices, mode=SelectSelectorMode.DROPDOWN)
            )
        }
    )


def p1_price_options(user_input: Mapping[str, object]) -> dict[str, str]:
    """The P1 entry's price option from a submitted form."""
    return {CONF_PRICE_SOURCE: str(user_input.get(CONF_PRICE_SOURCE) or PRICE_NONE)}
