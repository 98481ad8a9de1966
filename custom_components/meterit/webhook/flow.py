"""Config flow of a power webhook: create one, reconfigure it, and its options.

:class:`WebhookFlowMixin` is mixed into ``MeteritConfigFlow`` (its ``webhook`` menu step and the
webhook kind's reconfigure step); :class:`WebhookOptionsFlow` is a webhook entry's options flow.
Both use one form (:func:`webhook_options_schema`): local only and the price source.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from typing import Any

from homeassistant.components import webhook
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_NAME, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
from homeassistant.helpers.network import NoURLAvailableError
import probatio

from ..const import CONF_PRICE_SOURCE, CONF_SOURCE, DOMAIN, PRICE_ENTRY_PREFIX, PRICE_NONE, Source
from ..cost import default_price_source
from .const import CONF_LOCAL_ONLY, PRICE_UNITS
from .url import webhook_url


class WebhookFlowMixin(ConfigFlow):
    """The power webhook's config flow steps (mixed into ``MeteritConfigFlow``)."""

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
            {probatio.Optional(CONF_NAME, default="Power sensors"): selector.TextSelector()}
        )
        return self.async_show_form(
            step_id="webhook",
            data_schema=schema,
            description_placeholders={"body": example_body()},
        )

    async def async_step_webhook_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Name, local only and price source of a power webhook; its URL stays the same."""
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            title = str(user_input.get(CONF_NAME) or "").strip() or entry.title
            return self.async_update_reload_and_abort(
                entry,
                title=title,
                options={**entry.options, **webhook_options(user_input)},
                reason="webhook_reconfigured",
            )
        schema = webhook_options_schema(self.hass, entry.options).extend(
            {probatio.Required(CONF_NAME, default=entry.title): selector.TextSelector()}
        )
        return self.async_show_form(
            step_id="webhook_reconfigure",
            data_schema=schema,
            description_placeholders={"title": entry.title},
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


def example_body(station_id: int = 1, watts: float = 123.4) -> str:
    """The JSON a sensor posts (shown in the config flow and the README)."""
    return json.dumps({"watts": watts, "station_id": station_id})


def price_source_choices(hass: HomeAssistant) -> list[tuple[str, str]]:
    """``(value, label)`` of every price source: none, PVPC entries, sensors in €/kWh."""
    choices: list[tuple[str, str]] = [(PRICE_NONE, "—")]
    choices.extend(
        (f"{PRICE_ENTRY_PREFIX}{entry.entry_id}", f"PVPC: {entry.title}")
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_SOURCE) == Source.PRICES
    )
    choices.extend(
        (state.entity_id, f"{state.name} ({state.entity_id})")
        for state in sorted(hass.states.async_all("sensor"), key=lambda s: s.entity_id)
        if state.attributes.get("unit_of_measurement") in PRICE_UNITS
    )
    return choices


def webhook_options_schema(hass: HomeAssistant, current: Mapping[str, object]) -> probatio.Schema:
    """The form of a webhook's options: local only (default on) and the price source."""
    choices = price_source_choices(hass)
    chosen = str(current.get(CONF_PRICE_SOURCE) or default_price_source(hass))
    if chosen not in {value for value, _ in choices}:
        choices.append((chosen, chosen))  # keep a source that is gone for now
    return probatio.Schema(
        {
            probatio.Required(
                CONF_LOCAL_ONLY, default=bool(current.get(CONF_LOCAL_ONLY, True))
            ): selector.BooleanSelector(),
            probatio.Required(CONF_PRICE_SOURCE, default=chosen): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[
                        selector.SelectOptionDict(value=v, label=label) for v, label in choices
                    ],
                    mode=selector.SelectSelectorMode.DROPDOWN,
                )
            ),
        }
    )


def webhook_options(user_input: Mapping[str, object]) -> dict[str, object]:
    """The entry options from a submitted form."""
    return {
        CONF_LOCAL_ONLY: bool(user_input.get(CONF_LOCAL_ONLY, True)),
        CONF_PRICE_SOURCE: str(user_input.get(CONF_PRICE_SOURCE, PRICE_NONE)),
    }


@callback
def webhook_placeholders(hass: HomeAssistant, webhook_id: str, local_only: bool) -> dict[str, str]:
    """The URL, an example body and a ``curl`` line (shown once, when the entry is created)."""
    try:
        url = webhook_url(hass, webhook_id, local_only)
    except NoURLAvailableError:
        url = f"http://<home-assistant>:8123{webhook.async_generate_path(webhook_id)}"
    body = example_body()
    return {
        "url": url,
        "body": body,
        "curl": f"curl -X POST -H 'Content-Type: application/json' -d '{body}' {url}",
    }
