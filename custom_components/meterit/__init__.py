"""Meterit: HomeWizard P1 live, power webhooks and Spanish PVPC prices, with exact history."""

from __future__ import annotations

from homeassistant.const import CONF_HOST, CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .const import CONF_IDENTIFIER, CONF_SOURCE, DOMAIN, Source
from .entry import MeteritConfigEntry
from .esios import EsiosAuthError, EsiosError
from .homewizard import CertificateError, HomeWizardError, UnauthorizedError
from .metering import StoreError
from .p1.client import async_create_client
from .p1.coordinator import P1Coordinator
from .p1.devices import async_remove_last_seen
from .p1.entity import p1_device_info
from .prices.coordinator import PriceCoordinator
from .repairs import async_delete_entry_issues
from .runtime import runtime_of
from .services import async_setup_services
from .webhook.coordinator import WebhookCoordinator
from .webhook.setup import async_setup_webhook_entry

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: dict[Source, list[Platform]] = {
    Source.P1: [Platform.SENSOR],
    Source.PRICES: [Platform.SENSOR, Platform.BUTTON],
    Source.WEBHOOK: [Platform.SENSOR],
}


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions (once, for all entries)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: MeteritConfigEntry) -> bool:
    """Set up one source (a config entry) and forward it to its platforms."""
    source = Source(entry.data.get(CONF_SOURCE, Source.P1))
    if source is Source.WEBHOOK:
        entry.runtime_data = await _async_setup_webhook(hass, entry)
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS[source])
        return True
    if source is Source.PRICES:
        entry.runtime_data = await _async_setup_prices(hass, entry)
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS[source])
        return True
    p1 = await _async_setup_p1(hass, entry)
    entry.runtime_data = p1
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS[source])
    await p1.async_start()
    return True


async def _async_setup_prices(hass: HomeAssistant, entry: MeteritConfigEntry) -> PriceCoordinator:
    """Load stored prices, fetch today (and tomorrow once published) and start the timers.

    Setup waits for ESIOS only when nothing of today's prices is stored, and then at most
    ``SETUP_FETCH_TIMEOUT`` seconds. If today's prices are still missing, Home Assistant retries
    the setup later (``ConfigEntryNotReady``); with some stored, the entry sets up with them and
    fetching is retried in the background. A rejected token starts reauth.
    """
    coordinator = PriceCoordinator(hass, entry)
    try:
        await coordinator.async_start()
    except EsiosAuthError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="esios_token_rejected"
        ) from err
    except EsiosError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="prices_fetch_failed",
            translation_placeholders={
                "title": entry.title,
                "day": coordinator.data.today.isoformat(),
                "error": str(err),
            },
        ) from err
    return coordinator


async def _async_setup_webhook(
    hass: HomeAssistant, entry: MeteritConfigEntry
) -> WebhookCoordinator:
    """Register the power webhook; options (local only, price source) reload the entry."""
    try:
        coordinator = await async_setup_webhook_entry(hass, entry)
    except StoreError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="webhook_store",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.async_on_unload(entry.add_update_listener(_async_reload))
    return coordinator


async def _async_reload(hass: HomeAssistant, entry: MeteritConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def _async_setup_p1(hass: HomeAssistant, entry: MeteritConfigEntry) -> P1Coordinator:
    client = await async_create_client(
        hass,
        entry.data[CONF_HOST],
        identifier=entry.data[CONF_IDENTIFIER],
        token=entry.data[CONF_TOKEN],
    )
    try:
        device = await client.device()
        first = await client.measurement()
    except UnauthorizedError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="p1_token_rejected"
        ) from err
    except CertificateError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="p1_certificate",
            translation_placeholders={"error": str(err)},
        ) from err
    except HomeWizardError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="p1_unreachable",
            translation_placeholders={"error": str(err)},
        ) from err
    coordinator = P1Coordinator(hass, entry, device, first)
    # The meter's device first: external meters (gas, water) hang below it (via_device_id).
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **p1_device_info(coordinator)
    )
    return coordinator


async def async_unload_entry(hass: HomeAssistant, entry: MeteritConfigEntry) -> bool:
    """Unload a config entry; its background stream task is cancelled with it."""
    source = Source(entry.data.get(CONF_SOURCE, Source.P1))
    if (webhook := runtime_of(entry, WebhookCoordinator)) is not None:
        await webhook.async_stop()  # no new readings; pending ones stored; state saved
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS[source])


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: MeteritConfigEntry, device_entry: dr.AnyDeviceEntry
) -> bool:
    """Let the user delete a power webhook station or an external meter not reported now.

    A station leaves the webhook's live and saved state; if it posts again it comes back as a
    new device. A gas, water or heat meter of a P1 meter may go when the meter does not report
    it now (one it reports again comes back as a new device). The P1 meter itself and the PVPC
    device are refused: their entry provides them as long as it is set up. An entry that is not
    loaded refuses too (what its source reports now is not known).
    """
    if not isinstance(device_entry, dr.DeviceEntry):
        return False
    if (p1 := runtime_of(entry, P1Coordinator)) is not None:
        return p1.devices.async_remove_device(device_entry.identifiers)
    if (webhook := runtime_of(entry, WebhookCoordinator)) is not None:
        return webhook.async_remove_station(device_entry.identifiers)
    return False


async def async_remove_entry(hass: HomeAssistant, entry: MeteritConfigEntry) -> None:
    """Delete what a removed entry leaves behind: its repair issues, its meters' last-seen."""
    async_delete_entry_issues(hass, entry.entry_id)
    if Source(entry.data.get(CONF_SOURCE, Source.P1)) is Source.P1:
        await async_remove_last_seen(hass, entry.entry_id)
