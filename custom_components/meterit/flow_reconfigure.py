"""Config flow steps: reconfigure a PVPC prices entry (or refuse an unknown kind).

A P1 meter's reconfigure (a new host) is in ``config_flow.py``, a power webhook's in
``webhook/flow.py``; ``async_step_reconfigure`` there hands the other kinds to the steps here.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult

from .const import CONF_SOURCE, Source


class ReconfigureFlowMixin(ConfigFlow):
    """Reconfigure steps per entry kind (mixed into ``MeteritConfigFlow``)."""

    async def _async_reconfigure_other(self) -> ConfigFlowResult:
        """Reconfigure an entry that is neither a P1 meter nor a power webhook: by its kind."""
        entry = self._get_reconfigure_entry()
        if entry.data.get(CONF_SOURCE) == Source.PRICES:
            # The region is the entry's identity (its unique ID, its entities' and statistics'
            # IDs): another region is another entry. The token is an option (Configure).
            return self.async_abort(
                reason="prices_reconfigure", description_placeholders={"title": entry.title}
            )
        return self.async_abort(reason="reconfigure_not_supported")
