"""Config flow step: add a P1 meter with a token the user already has (no button press)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType
import probatio

from ..const import CONF_IDENTIFIER, CONF_SOURCE, Source
from ..homewizard import DeviceInfo
from .flow import P1_PRODUCT_TYPES, async_guard, async_verified_device, p1_unique_id

STEP_P1_TOKEN = "p1_token"  # noqa: S105 (a step name)
# A v2 token is 32 hex digits; anything else cannot be one (checked before asking the meter).
_TOKEN_LENGTH = 32


def _token_problem(token: str) -> str | None:
    """The error key for a text that cannot be a v2 token, None when it can."""
    if len(token) != _TOKEN_LENGTH or any(c not in "0123456789abcdefABCDEF" for c in token):
        return "invalid_p1_token_format"
    return None


class P1TokenFlowMixin(ConfigFlow):
    """The ``p1_token`` step of Meterit's config flow (mixed into ``MeteritConfigFlow``)."""

    async def async_step_p1_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for host and token; the meter must accept the token and prove its identity."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host = str(user_input.get(CONF_HOST, "")).strip()
            token = str(user_input.get(CONF_TOKEN, "")).strip()
            if problem := _token_problem(token):
                errors[CONF_TOKEN] = problem
            else:
                device = await async_guard(
                    lambda: async_verified_device(self.hass, host, token),
                    errors,
                    unauthorized="invalid_p1_token",
                )
                if device is not None:
                    return await self._async_p1_token_entry(host, token, device)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_HOST): TextSelector(),
                probatio.Required(CONF_TOKEN): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
            }
        )
        suggested = {CONF_HOST: user_input.get(CONF_HOST)} if user_input else None
        return self.async_show_form(
            step_id=STEP_P1_TOKEN,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def _async_p1_token_entry(
        self, host: str, token: str, device: DeviceInfo
    ) -> ConfigFlowResult:
        if device.product_type not in P1_PRODUCT_TYPES:
            return self.async_abort(reason="not_a_p1_meter")
        data = {
            CONF_SOURCE: Source.P1.value,
            CONF_HOST: host,
            CONF_TOKEN: token,
            CONF_IDENTIFIER: device.identifier,
        }
        await self.async_set_unique_id(p1_unique_id(device))
        self._abort_if_unique_id_configured(updates=data)
        return self.async_create_entry(title=device.product_name, data=data)
