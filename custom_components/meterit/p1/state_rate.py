"""Which P1 pushes become Home Assistant states (``metering.state_rate`` in Home Assistant).

The entry's options (``state_rate`` section, keys :data:`OPTION_KEYS`) give the policy; a saved
change applies at once (:meth:`P1StateRate.async_set_policy`). :class:`P1StateRate` holds the policy's memory of what each sensor
wrote last, and a timer at the start of the guard before every 5-minute boundary that offers each
counter's latest reading again: the last state before each boundary is then the last reading
before it, however irregular the pushes, and the energy dashboard's statistics stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.data_entry_flow import SectionConfig, section
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)
from homeassistant.util import dt as dt_util
import probatio

from ..const import LOGGER
from ..metering.state_rate import StateRate, StateRatePolicy, ValueKind

CONF_STATE_RATE: Final = "state_rate"
"""The entry option holding the state-rate settings (a mapping of :data:`OPTION_KEYS`)."""

DEFAULT_POLICY: Final = StateRatePolicy()
# option key -> (unit, step, maximum); the defaults are StateRatePolicy's
_FIELDS: Final[dict[str, tuple[str, float, float]]] = {
    "interval": ("s", 1, 3600),
    "power_deadband": ("W", 1, 10_000),
    "voltage_deadband": ("V", 0.1, 50),
    "current_deadband": ("A", 0.01, 50),
    "counter_interval": ("s", 1, 3600),
}
OPTION_KEYS: Final = tuple(_FIELDS)
"""The keys of the ``state_rate`` option the form offers (all in ``StateRatePolicy``)."""

LIVE_KEYS: Final = frozenset({"power_w"})
_POLICY_FIELDS: Final = frozenset(f.name for f in fields(StateRatePolicy))
_DEVICE_KINDS: Final = {
    SensorDeviceClass.POWER: ValueKind.POWER,
    SensorDeviceClass.VOLTAGE: ValueKind.VOLTAGE,
    SensorDeviceClass.CURRENT: ValueKind.CURRENT,
    SensorDeviceClass.FREQUENCY: ValueKind.FREQUENCY,
}


def clock() -> float:
    """Now (UTC unix seconds) as the state rate sees it; tests replace it."""
    return dt_util.utcnow().timestamp()


def value_kind(description: SensorEntityDescription) -> ValueKind:
    """The rate kind of a P1 sensor: total power live, counters exact, measurements throttled."""
    if description.key in LIVE_KEYS:
        return ValueKind.LIVE
    if description.state_class == SensorStateClass.TOTAL_INCREASING:
        return ValueKind.COUNTER
    if description.state_class == SensorStateClass.MEASUREMENT:
        device_class = description.device_class
        if device_class is None:
            return ValueKind.OTHER
        return _DEVICE_KINDS.get(SensorDeviceClass(device_class), ValueKind.OTHER)
    return ValueKind.LIVE  # tariff, timestamps, identity: rare, every change


def policy_from_options(options: Mapping[str, Any]) -> StateRatePolicy:
    """The policy saved in an entry's options (the defaults when missing or unusable)."""
    saved = options.get(CONF_STATE_RATE)
    if not isinstance(saved, Mapping):
        return DEFAULT_POLICY
    values = {k: v for k, v in saved.items() if k in _POLICY_FIELDS}
    try:
        return StateRatePolicy(**values)
    except (TypeError, ValueError) as err:
        LOGGER.warning("Unusable P1 state-rate options, using the defaults: %s", err)
        return DEFAULT_POLICY


def state_rate_section(options: Mapping[str, Any]) -> dict[Any, Any]:
    """The options form's state-rate section, filled with the settings in force."""
    policy = policy_from_options(options)
    schema = {
        probatio.Required(key, default=getattr(policy, key)): NumberSelector(
            NumberSelectorConfig(
                min=0, max=maximum, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
            )
        )
        for key, (unit, step, maximum) in _FIELDS.items()
    }
    return {
        probatio.Required(CONF_STATE_RATE): section(
            probatio.Schema(schema), SectionConfig(collapsed=True)
        )
    }


def state_rate_options(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The ``state_rate`` option to save from a submitted form (defaults for what is missing)."""
    given = user_input.get(CONF_STATE_RATE) or {}
    return {
        CONF_STATE_RATE: {
            key: float(given.get(key, getattr(DEFAULT_POLICY, key))) for key in OPTION_KEYS
        }
    }


class P1StateRate:
    """One meter's state rate: what each sensor wrote last, and the boundary-guard timer."""

    def __init__(self, hass: HomeAssistant, policy: StateRatePolicy) -> None:
        """Nothing written yet; the timer starts with :meth:`async_start`."""
        self._hass = hass
        self.rate = StateRate(policy)
        self._offers: set[Callable[[], None]] = set()
        self._unsub: CALLBACK_TYPE | None = None
        self._next = 0.0

    @property
    def policy(self) -> StateRatePolicy:
        """The settings in force."""
        return self.rate.policy

    @callback
    def async_set_policy(self, policy: StateRatePolicy) -> None:
        """Saved options: the new policy from now on (every value is then written once more)."""
        if policy == self.rate.policy:
            return
        self.rate = StateRate(policy)
        if self._unsub is not None:
            self._async_stop()
            self._next = 0.0
            self._schedule()

    def due(self, key: str, kind: ValueKind, value: object) -> bool:
        """True if ``value`` should be written now (it is then taken as written)."""
        return self.rate.due(key, kind, value, clock())

    def forget(self, key: str) -> None:
        """The next value of ``key`` is written whatever it is."""
        self.rate.forget(key)

    @callback
    def async_add_offer(self, offer: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``offer`` at the start of each boundary guard; returns the remover."""
        self._offers.add(offer)
        return lambda: self._offers.discard(offer)

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Start the boundary-guard timer; returns its stop."""
        self._schedule()
        return self._async_stop

    @property
    def next_offer(self) -> float:
        """When the counters are offered next (UTC unix seconds)."""
        return self._next

    @callback
    def _schedule(self) -> None:
        # never the same guard twice, even when the timer fires early by the clock
        self._next = self.rate.next_flush(max(clock(), self._next))
        at = dt_util.utc_from_timestamp(self._next)
        self._unsub = async_track_point_in_utc_time(self._hass, self._async_offer, at)

    @callback
    def _async_offer(self, _now: datetime) -> None:
        self._schedule()
        for offer in list(self._offers):
            offer()

    @callback
    def _async_stop(self) -> None:
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
