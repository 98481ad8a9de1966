"""Constants the power webhook's modules share: the option, the price unit, a station's timing."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

CONF_LOCAL_ONLY: Final = "local_only"
PRICE_UNITS: Final = frozenset({"€/kWh", "EUR/kWh"})
"""The units of a sensor that can be a price source."""
PRICE_UNIT: Final = "€/kWh"
"""The unit of the prices in the answers."""

STATION_MAX_HOLD: Final = 60.0
"""A reading's power holds for at most this long (s) in energy and windows."""
STATION_STALE_AFTER: Final = timedelta(seconds=120)
"""A station without a reading for this long is unavailable."""
