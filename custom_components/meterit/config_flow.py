"""Config flow: a menu of sources; the P1 meter with button-press registration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components import webhook
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_WEBHOOK_ID
from homeassistant.core import callback
from homeassistant.helpers.selector import TextSelector
import probatio

from .const import CONF_SOURCE, DOMAIN, Source
from .flow_reconfigure import ReconfigureFlowMixin
from .p1.flow import P1FlowMixin
from .p1.flow_token import P1TokenFlowMixin
from .p1.options import P1OptionsFlow
from .prices.flow import PricesFlowMixin, PricesOptionsFlow
from .webhook import (
    CONF_LOCAL_ONLY,
    example_body,
    webhook_options,
    webhook_options_schema,
    webhook_placeholders,
)


class MeteritConfigFlow(
    P1FlowMixin,
    P1TokenFlowMixin,
    PricesFlowMixin,
    ReconfigureFlowMixin,
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
        if entry.data.get(CONF_SOURCE, Source.P1) == Source.P1:
            return await self._async_reconfigure_p1(user_input)
        return await self._async_reconfigure_other()

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

    # ---------------------------------------------------------------------------- power webhook

    async def async_step_webhook(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create a power webhook; its URL, a body and a curl line are shown once created."""
        if user_input is not None:
            options = webhook_options(user_input)
            webhook_id = webhook.async_generate_id()
            return self.async_create_entry(
                title=str(user_input.get(CONF_NAME) or "").strip() or "Power sensors",
                data={CONF_SOURCE: Source.WEBHOOK.value, CONF_WEBHOOK_ID: webhook_id},
                options=options,
                description="webhook",
                description_placeholders=webhook_placeholders(
                    self.hass, webhook_id, bool(options[CONF_LOCAL_ONLY])
                ),
            )
        schema = webhook_options_schema(self.hass, {}).extend(
            {probatio.Optional(CONF_NAME, default="Power sensors"): TextSelector()}
        )
        return self.async_show_form(
            step_id="webhook",
            data_schema=schema,
            description_placeholders={"body": example_body()},
        )


class WebhookOptionsFlow(OptionsFlow):
    """Local only and the price source of a power webhook (the entry is reloaded)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Go to the webhook's form (``init`` is the price entries' step)."""
        return await self.async_step_webhook(user_input)

    async def async_step_webhook(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One form: local only and the price source."""
        if user_input is not None:
            return self.async_create_entry(data=webhook_options(user_input))
        return self.async_show_form(
            step_id="webhook",
            data_schema=webhook_options_schema(self.hass, self.config_entry.options),
            description_placeholders={"title": self.config_entry.title},
        )
