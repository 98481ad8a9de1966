"""Config flow: a menu of sources; each source's steps and options come from its package."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST
from homeassistant.core import callback

from .const import CONF_SOURCE, DOMAIN, Source
from .p1.flow import P1FlowMixin
from .p1.flow_token import P1TokenFlowMixin
from .p1.options import P1OptionsFlow
from .prices.flow import PricesFlowMixin, PricesOptionsFlow
from .webhook.flow import WebhookFlowMixin, WebhookOptionsFlow


class MeteritConfigFlow(
    P1FlowMixin,
    P1TokenFlowMixin,
    PricesFlowMixin,
    WebhookFlowMixin,
    ConfigFlow,
    domain=DOMAIN,
):
    """Add a source: a P1 meter, PVPC prices or a power webhook (each package has its steps)."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start empty; each step fills in what it learns."""
        self._host = None
        self._device = None
        self._register_opened = False

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick what to add."""
        return self.async_show_menu(
            step_id="user", menu_options=["p1", "p1_token", "prices", "webhook"]
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The meter rejected our token (revoked or the meter was reset)."""
        if entry_data.get(CONF_SOURCE) == Source.PRICES:
            return await self.async_step_prices_reauth()
        self._host = entry_data[CONF_HOST]
        return await self.async_step_reauth_confirm()

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Reconfigure an entry by its kind: a P1 meter's host here, the others' in their mixins."""
        entry = self._get_reconfigure_entry()
        source = entry.data.get(CONF_SOURCE, Source.P1)
        if source == Source.P1:
            return await self._async_reconfigure_p1(user_input)
        if source == Source.WEBHOOK:
            return await self.async_step_webhook_reconfigure()
        if source == Source.PRICES:
            # The region is the entry's identity (its unique ID, its entities' and statistics'
            # IDs): another region is another entry. The token is an option (Configure).
            return self.async_abort(
                reason="prices_reconfigure", description_placeholders={"title": entry.title}
            )
        return self.async_abort(reason="reconfigure_not_supported")

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Options of a price entry (the ESIOS token), a power webhook or a P1 meter."""
        source = config_entry.data.get(CONF_SOURCE)
        if source == Source.WEBHOOK:
            return WebhookOptionsFlow()
        if source == Source.PRICES:
            return PricesOptionsFlow()
        return P1OptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Every kind of entry has options."""
        return config_entry.data.get(CONF_SOURCE) in (Source.P1, Source.PRICES, Source.WEBHOOK)
