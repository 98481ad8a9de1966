"""Config flow steps: reconfigure a PVPC prices entry or a power webhook entry.

A P1 meter's reconfigure (a new host) is in ``config_flow.py``; ``async_step_reconfigure``
there hands the other kinds to the steps here.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import TextSelector
import probatio

from .const import CONF_SOURCE, Source
from .webhook import webhook_options, webhook_options_schema

STEP_WEBHOOK_RECONFIGURE = "webhook_reconfigure"


class ReconfigureFlowMixin(ConfigFlow):
    """Reconfigure steps per entry kind (mixed into ``MeteritConfigFlow``)."""

    async def _async_reconfigure_other(self) -> ConfigFlowResult:
        """Reconfigure an entry that is not a P1 meter: by its kind."""
        entry = self._get_reconfigure_entry()
        source = entry.data.get(CONF_SOURCE)
        if source == Source.WEBHOOK:
            return await self.async_step_webhook_reconfigure()
        if source == Source.PRICES:
            # The region is the entry's identity (its unique ID, its entities' and statistics'
            # IDs): another region is another entry. The token is an option (Configure).
            return self.async_abort(
                reason="prices_reconfigure", description_placeholders={"title": entry.title}
            )
        return self.async_abort(reason="reconfigure_not_supported")

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
            {probatio.Required(CONF_NAME, default=entry.title): TextSelector()}
        )
        return self.async_show_form(
            step_id=STEP_WEBHOOK_RECONFIGURE,
            data_schema=schema,
            description_placeholders={"title": entry.title},
        )
