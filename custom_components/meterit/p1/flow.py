"""Config flow steps of a P1 meter: host, mDNS discovery, the button press, reauth and reconfigure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import instance_id
from homeassistant.helpers.selector import TextSelector
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import probatio

from ..const import (
    CONF_IDENTIFIER,
    CONF_SOURCE,
    DEFAULT_P1_PORT,
    LOGGER,
    Source,
)
from ..homewizard import (
    CertificateError,
    DeviceInfo,
    HomeWizardError,
    IdentityMismatchError,
    RegistrationNotEnabledError,
    UnauthorizedError,
    UnsupportedDeviceError,
)
from .client import async_create_client

P1_PRODUCT_TYPES = frozenset({"HWE-P1"})


def p1_unique_id(device: DeviceInfo) -> str:
    """Return the unique ID of a meter: product type and serial."""
    return f"{device.product_type}_{device.serial}"


async def async_guard[T](
    call: Callable[[], Awaitable[T]], errors: dict[str, str], *, unauthorized: str | None = None
) -> T | None:
    """Run a device call; on failure put the matching translated error key in ``errors``.

    ``unauthorized``: the token field's error key when the meter rejects the token (a token the
    user typed); without it a rejection is one more way of not reaching the meter.
    """
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
        if unauthorized is not None and isinstance(err, UnauthorizedError):
            errors[CONF_TOKEN] = unauthorized
        else:
            LOGGER.info("P1 meter not reachable: %s", err)
            errors["base"] = "cannot_connect"
    return None


async def async_verified_device(hass: HomeAssistant, host: str, token: str) -> DeviceInfo:
    """The meter's identity read with ``token``, then proven: TLS with the CN check."""
    client = await async_create_client(hass, host, identifier=None, token=token)
    claimed = await client.device()
    verified = await async_create_client(hass, host, identifier=claimed.identifier, token=token)
    return await verified.device()


class P1FlowMixin(ConfigFlow):
    """The P1 meter's steps of Meterit's config flow (mixed into ``MeteritConfigFlow``)."""

    _host: str | None = None
    _device: DeviceInfo | None = None
    _register_opened = False

    async def async_step_p1(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the meter's host and check that it speaks API v2."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            device = await async_guard(lambda: self._async_probe(host), errors)
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
            token = await async_guard(self._async_register, errors)
        elif not self._register_opened:
            # The first request opens the meter's wait for a press; expected to get a 403.
            self._register_opened = True
            token = await async_guard(self._async_register, {})
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
        device = await async_guard(lambda: async_verified_device(self.hass, host, token), errors)
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

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain, then go to the button press."""
        if user_input is not None:
            return await self.async_step_authorize()
        return self.async_show_form(
            step_id="reauth_confirm", description_placeholders={"host": self._host or ""}
        )

    async def _async_reconfigure_p1(self, user_input: dict[str, Any] | None) -> ConfigFlowResult:
        """Change the host of a meter (step ``reconfigure``); it must still be the same meter."""
        entry = self._get_reconfigure_entry()
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

            device = await async_guard(_probe, errors)
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
