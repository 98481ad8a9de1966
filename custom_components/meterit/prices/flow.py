"""Config flow steps and options of a PVPC prices entry: region and the optional ESIOS token."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from ..const import (
    CONF_REGION,
    CONF_REMOVE_TOKEN,
    CONF_SOURCE,
    LOGGER,
    Source,
)
from ..esios import EsiosAuthError, EsiosError, Region
from ..runtime import runtime_of
from .coordinator import PriceCoordinator, create_client
from .data import REGION_NAMES, pvpc_unique_id

_TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _clean_token(value: object) -> str | None:
    """The token as typed, without surrounding blanks; empty means none."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _token_rejected(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Whether a price entry is stuck on a rejected token.

    Its setup failed (``ConfigEntryAuthFailed``), a reauth flow is pending, or the loaded
    entry stopped fetching after ESIOS rejected the token.
    """
    runtime = runtime_of(entry, PriceCoordinator)
    return (
        entry.state is ConfigEntryState.SETUP_ERROR
        or any(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))
        or (runtime is not None and runtime.auth_failed)
    )


@callback
def _abort_reauth(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Drop the entry's pending reauth flows (its reload starts one again if still needed)."""
    for flow in list(entry.async_get_active_flows(hass, {SOURCE_REAUTH})):
        hass.config_entries.flow.async_abort(flow["flow_id"])


def _with_token(entry: ConfigEntry, token: str | None) -> dict[str, Any]:
    data = {key: value for key, value in entry.data.items() if key != CONF_TOKEN}
    if token is not None:
        data[CONF_TOKEN] = token
    return data


async def _async_check_esios_token(hass: HomeAssistant, token: str, errors: dict[str, str]) -> None:
    """Ask ESIOS whether it accepts ``token``; put the matching error key in ``errors``."""
    try:
        await create_client(hass, token).validate_token()
    except EsiosAuthError:
        errors[CONF_TOKEN] = "invalid_esios_token"
    except EsiosError as err:
        LOGGER.info("ESIOS not reachable while checking a token: %s", err)
        errors["base"] = "esios_unreachable"


class PricesOptionsFlow(OptionsFlow):
    """Add, change or remove the ESIOS token of a price entry (the entry is reloaded)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A new token (empty keeps the current one) or, with a token set, removing it.

        The current token is never put in the form: the browser does not get it back.
        """
        entry = self.config_entry
        current: str | None = entry.data.get(CONF_TOKEN)
        errors: dict[str, str] = {}
        if user_input is not None:
            token = _clean_token(user_input.get(CONF_TOKEN))
            remove = bool(user_input.get(CONF_REMOVE_TOKEN))
            if remove and token is not None:
                errors["base"] = "remove_or_new_token"
            elif token is not None:
                await _async_check_esios_token(self.hass, token, errors)
            if not errors:
                wanted = None if remove else token or current
                if wanted != current:
                    self.hass.config_entries.async_update_entry(
                        entry, data=_with_token(entry, wanted)
                    )
                rejected = _token_rejected(self.hass, entry)
                if wanted != current or token is not None or rejected:
                    # a token typed again (ESIOS accepted it) also reloads: the entry starts
                    # over with it, as after a reauth; so does an entry whose token ESIOS
                    # rejected (its pending reauth is answered here: asked again if still
                    # rejected)
                    if rejected:
                        _abort_reauth(self.hass, entry)
                    self.hass.config_entries.async_schedule_reload(entry.entry_id)
                return self.async_create_entry(data={})
        fields: dict[Any, Any] = {probatio.Optional(CONF_TOKEN): _TOKEN_SELECTOR}
        if current is not None:
            fields[probatio.Optional(CONF_REMOVE_TOKEN, default=False)] = BooleanSelector()
        return self.async_show_form(
            step_id="init",
            data_schema=probatio.Schema(fields),
            errors=errors,
            description_placeholders={"title": entry.title},
        )


class PricesFlowMixin(ConfigFlow):
    """The PVPC prices steps of Meterit's config flow (mixed into ``MeteritConfigFlow``)."""

    async def async_step_prices(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the region and, optionally, a personal ESIOS token."""
        errors: dict[str, str] = {}
        if user_input is not None:
            region = Region(user_input[CONF_REGION])
            await self.async_set_unique_id(pvpc_unique_id(region))
            if pvpc_unique_id(region) in self._async_current_ids():
                return self.async_abort(reason="region_already_configured")
            token = _clean_token(user_input.get(CONF_TOKEN))
            if token is not None:
                await _async_check_esios_token(self.hass, token, errors)
            if not errors:
                data = {CONF_SOURCE: Source.PRICES.value, CONF_REGION: region.value}
                if token is not None:
                    data[CONF_TOKEN] = token
                return self.async_create_entry(title=f"PVPC {REGION_NAMES[region]}", data=data)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_REGION, default=Region.PENINSULA.value): SelectSelector(
                    SelectSelectorConfig(
                        options=[region.value for region in Region],
                        translation_key="region",
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                probatio.Optional(CONF_TOKEN): _TOKEN_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="prices",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_prices_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """ESIOS rejected the token: enter a new one, or none to use the public file."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            token = _clean_token(user_input.get(CONF_TOKEN))
            if token is not None:
                await _async_check_esios_token(self.hass, token, errors)
            if not errors:
                return self.async_update_reload_and_abort(entry, data=_with_token(entry, token))
        return self.async_show_form(
            step_id="prices_reauth",
            data_schema=probatio.Schema({probatio.Optional(CONF_TOKEN): _TOKEN_SELECTOR}),
            errors=errors,
            description_placeholders={"title": entry.title},
        )
