"""Config flow: a menu of sources; the P1 meter with button-press registration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import instance_id
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import probatio

from .const import (
    CONF_IDENTIFIER,
    CONF_PRICE_SOURCE,
    CONF_REMOVE_TOKEN,
    CONF_SOURCE,
    DEFAULT_P1_PORT,
    DOMAIN,
    LOGGER,
    PRICE_ENTRY_PREFIX,
    PRICE_NONE,
    Source,
)
from .cost import price_source_option, pvpc_entries
from .esios import EsiosAuthError, EsiosError, Region
from .flow_p1_token import P1TokenFlowMixin
from .flow_reconfigure import ReconfigureFlowMixin
from .homewizard import (
    CertificateError,
    DeviceInfo,
    HomeWizardError,
    IdentityMismatchError,
    RegistrationNotEnabledError,
    UnauthorizedError,
    UnsupportedDeviceError,
)
from .p1 import async_create_client
from .prices import CONF_REGION, REGION_NAMES, PriceCoordinator, create_client, pvpc_unique_id
from .webhook.flow import WebhookFlowMixin, WebhookOptionsFlow

P1_PRODUCT_TYPES = frozenset({"HWE-P1"})


def p1_unique_id(device: DeviceInfo) -> str:
    """Return the unique ID of a meter: product type and serial."""
    return f"{device.product_type}_{device.serial}"


async def _async_guard[T](call: Callable[[], Awaitable[T]], errors: dict[str, str]) -> T | None:
    """Run a device call; on failure put the matching translated error key in ``errors``."""
    try:
        return await call()
    except ValueError:
        errors[CONF_HOST] = "invalid_host"
    except RegistrationNotEnabledError:
        errors["base"] = "button_not_pressed"
    except CertificateError as err:
        LOGGER.warning("P1 meter certificate rejected: %s", err)
        errors["base"] = "invalid_certificate"
    except UnsupportedDeviceError:
        errors["base"] = "unsupported_device"
    except HomeWizardError as err:
        LOGGER.info("P1 meter not reachable: %s", err)
        errors["base"] = "cannot_connect"
    return None


class MeteritConfigFlow(
    P1TokenFlowMixin, WebhookFlowMixin, ReconfigureFlowMixin, ConfigFlow, domain=DOMAIN
):
    """Add a source: a P1 meter (more sources join the menu)."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start empty; each step fills in what it learns."""
        self._host: str | None = None
        self._device: DeviceInfo | None = None
        self._register_opened = False

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick what to add."""
        return self.async_show_menu(
            step_id="user", menu_options=["p1", "p1_token", "prices", "webhook"]
        )

    async def async_step_p1(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the meter's host and check that it speaks API v2."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            device = await _async_guard(lambda: self._async_probe(host), errors)
            if not errors:
                self._host = host
                if device is not None:
                    if device.product_type not in P1_PRODUCT_TYPES:
                        return self.async_abort(reason="not_a_p1_meter")
                    self._device = device
                    await self.async_set_unique_id(p1_unique_id(device))
                    self._abort_if_unique_id_configured(updates={CONF_HOST: host})
                return await self.async_step_authorize()
        return self.async_show_form(
            step_id="p1",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema({probatio.Required(CONF_HOST): TextSelector()}), user_input
            ),
            errors=errors,
        )

    async def _async_probe(self, host: str) -> DeviceInfo | None:
        """GET /api without a token: the identity if the meter tells it, None if it wants one."""
        client = await async_create_client(self.hass, host, identifier=None, token=None)
        try:
            return await client.device()
        except UnauthorizedError:
            return None  # a 401 also means API v2: the identity comes after registration

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """Offer a meter found by mDNS; keep the host of a known one up to date."""
        props = discovery_info.properties
        try:
            device = DeviceInfo(
                product_name=props["product_name"],
                product_type=props["product_type"],
                serial=props["serial"],
                firmware_version="",
                api_version=props.get("api_version", "2"),
            )
        except KeyError:
            return self.async_abort(reason="invalid_discovery_parameters")
        if device.product_type not in P1_PRODUCT_TYPES:
            return self.async_abort(reason="not_a_p1_meter")
        host = discovery_info.host
        if ":" in host:
            host = f"[{host}]"
        if discovery_info.port and discovery_info.port != DEFAULT_P1_PORT:
            host = f"{host}:{discovery_info.port}"
        await self.async_set_unique_id(p1_unique_id(device))
        self._abort_if_unique_id_configured(updates={CONF_HOST: host})
        self._host = host
        self._device = device
        self.context["title_placeholders"] = {"name": device.product_name}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered meter before asking for the button press."""
        assert self._device is not None
        if user_input is not None:
            return await self.async_step_authorize()
        self._set_confirm_only()
        return self.async_show_form(
            step_id="discovery_confirm",
            description_placeholders={
                "name": self._device.product_name,
                "host": self._host or "",
            },
        )

    async def async_step_authorize(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the button press, then register and read the meter's identity."""
        assert self._host is not None
        errors: dict[str, str] = {}
        token: str | None = None
        if user_input is not None:
            token = await _async_guard(self._async_register, errors)
        elif not self._register_opened:
            # The first request opens the meter's wait for a press; expected to get a 403.
            self._register_opened = True
            token = await _async_guard(self._async_register, {})
        if token is not None:
            return await self._async_finish(token, errors)
        return self.async_show_form(
            step_id="authorize",
            errors=errors,
            description_placeholders={"host": self._host},
        )

    async def _async_register(self) -> str:
        assert self._host is not None
        client = await async_create_client(self.hass, self._host, identifier=None, token=None)
        uuid = await instance_id.async_get(self.hass)
        # A name unique to this installation: re-using a name revokes the previous token,
        # so two Home Assistants (or a core integration) never break each other.
        return await client.register(f"meterit#{uuid[:8]}")

    async def _async_finish(self, token: str, errors: dict[str, str]) -> ConfigFlowResult:
        assert self._host is not None
        host = self._host
        device = await _async_guard(lambda: self._async_identify(host, token), errors)
        if device is None:
            return self.async_show_form(
                step_id="authorize", errors=errors, description_placeholders={"host": host}
            )
        data = {
            CONF_SOURCE: Source.P1.value,
            CONF_HOST: host,
            CONF_TOKEN: token,
            CONF_IDENTIFIER: device.identifier,
        }
        await self.async_set_unique_id(p1_unique_id(device), raise_on_progress=False)
        if self.source == SOURCE_REAUTH:
            self._abort_if_unique_id_mismatch(reason="wrong_device")
            return self.async_update_reload_and_abort(self._get_reauth_entry(), data_updates=data)
        if device.product_type not in P1_PRODUCT_TYPES:
            return self.async_abort(reason="not_a_p1_meter")
        self._abort_if_unique_id_configured(updates=data)
        return self.async_create_entry(title=device.product_name, data=data)

    async def _async_identify(self, host: str, token: str) -> DeviceInfo:
        """Read the identity with the new token, then prove it: TLS with the CN check."""
        client = await async_create_client(self.hass, host, identifier=None, token=token)
        claimed = await client.device()
        verified = await async_create_client(
            self.hass, host, identifier=claimed.identifier, token=token
        )
        return await verified.device()

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The meter rejected our token (revoked or the meter was reset)."""
        if entry_data.get(CONF_SOURCE) == Source.PRICES:
            return await self.async_step_prices_reauth()
        self._host = entry_data[CONF_HOST]
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain, then go to the button press."""
        if user_input is not None:
            return await self.async_step_authorize()
        return self.async_show_form(
            step_id="reauth_confirm", description_placeholders={"host": self._host or ""}
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the host of a meter; it must still be the same meter."""
        entry = self._get_reconfigure_entry()
        if entry.data.get(CONF_SOURCE) == Source.WEBHOOK:
            return await self.async_step_webhook_reconfigure()
        if entry.data.get(CONF_SOURCE, Source.P1) != Source.P1:
            return await self._async_reconfigure_other()
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            other_device = False

            async def _probe() -> DeviceInfo | None:
                nonlocal other_device
                client = await async_create_client(
                    self.hass,
                    host,
                    identifier=entry.data[CONF_IDENTIFIER],
                    token=entry.data[CONF_TOKEN],
                )
                try:
                    return await client.device()
                except IdentityMismatchError as err:
                    # a valid HomeWizard certificate, but for another device than this entry's
                    LOGGER.info("Reconfigure: %s", err)
                    other_device = True
                except UnauthorizedError:
                    # the meter at this host is ours (its certificate says so) but the token
                    # was revoked: re-authentication (a button press) is needed first
                    errors["base"] = "reconfigure_unauthorized"
                return None

            device = await _async_guard(_probe, errors)
            if other_device:
                return self.async_abort(reason="wrong_device")
            if device is not None:
                await self.async_set_unique_id(p1_unique_id(device))
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(entry, data_updates={CONF_HOST: host})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema({probatio.Required(CONF_HOST): TextSelector()}),
                user_input or {CONF_HOST: entry.data[CONF_HOST]},
            ),
            errors=errors,
            description_placeholders={"title": entry.title},
        )

    # ---------------------------------------------------------------------------- PVPC prices

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


class P1OptionsFlow(OptionsFlow):
    """Options of a P1 meter: the PVPC entry that prices its energy (the entry is reloaded)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Go to the P1 meter's form (``init`` is the price entries' step)."""
        return await self.async_step_p1(user_input)

    async def async_step_p1(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form: the price source (a PVPC entry of Meterit, or none)."""
        entry = self.config_entry
        if user_input is not None:
            return self.async_create_entry(data={**entry.options, **p1_price_options(user_input)})
        return self.async_show_form(
            step_id="p1",
            data_schema=p1_price_schema(self.hass, entry),
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
    runtime = getattr(entry, "runtime_data", None)
    return (
        entry.state is ConfigEntryState.SETUP_ERROR
        or any(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))
        or (isinstance(runtime, PriceCoordinator) and runtime.auth_failed)
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
