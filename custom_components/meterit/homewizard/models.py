"""Typed models of the HomeWizard local API v2 and their tolerant parsers.

Parsing a measurement never raises for a single bad field: the field becomes ``None``
and a human-readable problem is reported beside the measurement, so one broken value
never costs the good ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import Enum, auto
import json
import math
from typing import Any, Final

from .errors import InvalidResponseError

__all__ = [
    "EXTERNAL_TYPES",
    "DeviceInfo",
    "ExternalMeter",
    "Measurement",
    "ParsedMeasurement",
    "SystemInfo",
    "WsMessage",
    "parse_measurement",
    "parse_ws_message",
]

#: Legacy type names used in the certificate CN / mDNS id, per product type.
_LEGACY_TYPES: Final[dict[str, str]] = {
    "HWE-P1": "p1dongle",
    "HWE-SKT": "energysocket",
    "HWE-KWH1": "energymeter",
    "HWE-KWH3": "energymeter",
    "SDM230-wifi": "energymeter",
    "SDM630-wifi": "energymeter",
    "HWE-WTR": "watermeter",
    "HWE-DSP": "display",
    "HWE-BAT": "battery",
}

#: The external meter types the protocol knows.
EXTERNAL_TYPES: Final[frozenset[str]] = frozenset(
    {"gas_meter", "heat_meter", "warm_water_meter", "water_meter", "inlet_heat_meter"}
)

_MAX_REPR: Final = 60
_MAX_STR: Final = 256
_MAX_POWER_W: Final = 1e6
_MAX_VOLTAGE_V: Final = 1000.0
_MAX_CURRENT_A: Final = 1e4
_MIN_FREQUENCY_HZ: Final = 40.0
_MAX_FREQUENCY_HZ: Final = 70.0
_MAX_ENERGY_KWH: Final = 1e10


def _short(value: object) -> str:
    """Return a repr of ``value`` short enough for a log line."""
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return text


@dataclass(slots=True, frozen=True)
class DeviceInfo:
    """What ``GET /api`` tells about the device."""

    product_name: str
    product_type: str
    serial: str
    firmware_version: str
    api_version: str

    @classmethod
    def from_dict(cls, data: object) -> DeviceInfo:
        """Build from the decoded JSON of ``GET /api``; raise InvalidResponseError if malformed."""
        if not isinstance(data, dict):
            raise InvalidResponseError(f"device info: expected an object, got {_short(data)}")
        values: dict[str, str] = {}
        for name in ("product_name", "product_type", "serial", "firmware_version", "api_version"):
            if name not in data:
                raise InvalidResponseError(f"device info: field {name!r} is missing")
            value = data[name]
            if not isinstance(value, str) or not value:
                raise InvalidResponseError(
                    f"device info: field {name!r} is not a non-empty string ({_short(value)})"
                )
            values[name] = value
        return cls(**values)

    @property
    def identifier(self) -> str:
        """The certificate CN / mDNS id: ``appliance/<legacy type>/<serial>``."""
        legacy = _LEGACY_TYPES.get(self.product_type, self.product_type.lower())
        return f"appliance/{legacy}/{self.serial}"


def _lenient_int(data: dict[object, object], name: str) -> int | None:
    value = data.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass(slots=True, frozen=True)
class SystemInfo:
    """What ``GET /api/system`` tells; a field of the wrong type becomes ``None``."""

    wifi_ssid: str | None
    wifi_rssi_db: int | None
    uptime_s: int | None
    cloud_enabled: bool | None

    @classmethod
    def from_dict(cls, data: object) -> SystemInfo:
        """Build from the decoded JSON of ``GET /api/system``; raise only if not an object."""
        if not isinstance(data, dict):
            raise InvalidResponseError(f"system info: expected an object, got {_short(data)}")
        ssid = data.get("wifi_ssid")
        cloud = data.get("cloud_enabled")
        uptime = _lenient_int(data, "uptime_s")
        return cls(
            wifi_ssid=ssid if isinstance(ssid, str) else None,
            wifi_rssi_db=_lenient_int(data, "wifi_rssi_db"),
            uptime_s=uptime if uptime is not None and uptime >= 0 else None,
            cloud_enabled=cloud if isinstance(cloud, bool) else None,
        )


@dataclass(slots=True, frozen=True)
class ExternalMeter:
    """A meter read through the P1 port (gas, water, heat)."""

    unique_id: str
    type: str
    value: float | None
    unit: str | None
    timestamp: str | None


@dataclass(slots=True, frozen=True)
class Measurement:
    """One P1 measurement; every field is optional (``None`` when absent or invalid)."""

    protocol_version: int | None = None
    meter_model: str | None = None
    unique_id: str | None = None
    timestamp: str | None = None
    tariff: int | None = None
    energy_import_kwh: float | None = None
    energy_import_t1_kwh: float | None = None
    energy_import_t2_kwh: float | None = None
    energy_import_t3_kwh: float | None = None
    energy_import_t4_kwh: float | None = None
    energy_export_kwh: float | None = None
    energy_export_t1_kwh: float | None = None
    energy_export_t2_kwh: float | None = None
    energy_export_t3_kwh: float | None = None
    energy_export_t4_kwh: float | None = None
    power_w: float | None = None
    power_l1_w: float | None = None
    power_l2_w: float | None = None
    power_l3_w: float | None = None
    voltage_v: float | None = None
    voltage_l1_v: float | None = None
    voltage_l2_v: float | None = None
    voltage_l3_v: float | None = None
    current_a: float | None = None
    current_l1_a: float | None = None
    current_l2_a: float | None = None
    current_l3_a: float | None = None
    frequency_hz: float | None = None
    voltage_sag_l1_count: int | None = None
    voltage_sag_l2_count: int | None = None
    voltage_sag_l3_count: int | None = None
    voltage_swell_l1_count: int | None = None
    voltage_swell_l2_count: int | None = None
    voltage_swell_l3_count: int | None = None
    any_power_fail_count: int | None = None
    long_power_fail_count: int | None = None
    average_power_15m_w: float | None = None
    monthly_power_peak_w: float | None = None
    monthly_power_peak_timestamp: str | None = None
    external: tuple[ExternalMeter, ...] = ()

    def present_fields(self) -> frozenset[str]:
        """Names of the fields that carry a value (``external`` if it is non-empty)."""
        present = {
            f.name
            for f in fields(self)
            if f.name != "external" and getattr(self, f.name) is not None
        }
        if self.external:
            present.add("external")
        return frozenset(present)


@dataclass(slots=True, frozen=True)
class ParsedMeasurement:
    """A measurement plus the problems found while reading it (one entry per bad field)."""

    measurement: Measurement
    problems: tuple[str, ...] = field(default=())


class _Kind(Enum):
    POWER = auto()
    VOLTAGE = auto()
    CURRENT = auto()
    FREQUENCY = auto()
    ENERGY = auto()
    COUNT = auto()
    TARIFF = auto()
    INT = auto()
    STR = auto()


def _kind_of(name: str) -> _Kind:
    if name in {"tariff"}:
        return _Kind.TARIFF
    if name == "protocol_version":
        return _Kind.INT
    if name in {"meter_model", "unique_id", "timestamp", "monthly_power_peak_timestamp"}:
        return _Kind.STR
    if name.endswith("_kwh"):
        return _Kind.ENERGY
    if name.endswith("_count"):
        return _Kind.COUNT
    if name.endswith("_w"):
        return _Kind.POWER
    if name.endswith("_v"):
        return _Kind.VOLTAGE
    if name.endswith("_a"):
        return _Kind.CURRENT
    return _Kind.FREQUENCY  # frequency_hz, the only one left


_FIELD_KINDS: Final[dict[str, _Kind]] = {
    f.name: _kind_of(f.name) for f in fields(Measurement) if f.name != "external"
}
#: Fields that only ever grow (checked by CounterGuard).
COUNTER_FIELDS: Final[tuple[str, ...]] = tuple(
    name for name, kind in _FIELD_KINDS.items() if kind in {_Kind.ENERGY, _Kind.COUNT}
)


def _as_float(name: str, value: object, problems: list[str]) -> float | None:
    """Return ``value`` as a finite float or record why not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{name}: not a number ({_short(value)})")
        return None
    try:
        number = float(value)
    except OverflowError:
        problems.append(f"{name}: not finite ({_short(value)})")
        return None
    if not math.isfinite(number):
        problems.append(f"{name}: not finite ({number!r})")
        return None
    return number


def _as_int(name: str, value: object, problems: list[str]) -> int | None:
    """Return ``value`` as an int (integral floats allowed) or record why not."""
    number = _as_float(name, value, problems)
    if number is None:
        return None
    if not number.is_integer():
        problems.append(f"{name}: not a whole number ({number!r})")
        return None
    return value if isinstance(value, int) else int(number)


def _in_range(name: str, number: float, low: float, high: float, problems: list[str]) -> bool:
    if low <= number <= high:
        return True
    problems.append(f"{name}: out of range ({number!r})")
    return False


# The plausible range of each kind of number (beyond it a value is refused as out of range).
_RANGES: Final[dict[_Kind, tuple[float, float]]] = {
    _Kind.POWER: (-_MAX_POWER_W, _MAX_POWER_W),
    _Kind.VOLTAGE: (0.0, _MAX_VOLTAGE_V),
    _Kind.CURRENT: (-_MAX_CURRENT_A, _MAX_CURRENT_A),
    _Kind.FREQUENCY: (_MIN_FREQUENCY_HZ, _MAX_FREQUENCY_HZ),
    _Kind.ENERGY: (0.0, _MAX_ENERGY_KWH),
}


def _parse_field(name: str, kind: _Kind, value: object, problems: list[str]) -> object:
    """Validate one measurement field; return the clean value or ``None``."""
    if kind is _Kind.STR:
        if not isinstance(value, str):
            problems.append(f"{name}: not a string ({_short(value)})")
            return None
        if len(value) > _MAX_STR:
            problems.append(f"{name}: too long ({len(value)} characters)")
            return None
        return value
    if kind in {_Kind.COUNT, _Kind.TARIFF, _Kind.INT}:
        whole = _as_int(name, value, problems)
        if whole is None:
            return None
        if kind is _Kind.COUNT and whole < 0:
            problems.append(f"{name}: negative counter ({whole!r})")
            return None
        if kind is _Kind.TARIFF and not 1 <= whole <= 4:
            problems.append(f"{name}: out of range ({whole!r})")
            return None
        if kind is _Kind.INT and whole < 0:
            problems.append(f"{name}: out of range ({whole!r})")
            return None
        return whole
    number = _as_float(name, value, problems)
    if number is None:
        return None
    if kind is _Kind.ENERGY and number < 0:
        problems.append(f"{name}: negative counter ({number!r})")
        return None
    low, high = _RANGES[kind]
    return number if _in_range(name, number, low, high, problems) else None


def _parse_external(value: object, problems: list[str]) -> tuple[ExternalMeter, ...]:
    if not isinstance(value, list):
        problems.append(f"external: not a list ({_short(value)})")
        return ()
    meters: list[ExternalMeter] = []
    for index, item in enumerate(value):
        label = f"external[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{label}: not an object ({_short(item)})")
            continue
        unique_id = item.get("unique_id")
        if not isinstance(unique_id, str) or not unique_id:
            problems.append(f"{label}: missing unique_id")
            continue
        if len(unique_id) > _MAX_STR:
            problems.append(f"{label}.unique_id: too long ({len(unique_id)} characters)")
            continue
        meter_type = item.get("type")
        if not isinstance(meter_type, str) or meter_type not in EXTERNAL_TYPES:
            problems.append(f"{label}: unknown type ({_short(meter_type)})")
            continue
        reading: float | None = None
        if item.get("value") is not None:
            reading = _as_float(f"{label}.value", item["value"], problems)
            if reading is not None and reading < 0:
                problems.append(f"{label}.value: negative counter ({reading!r})")
                reading = None
        unit = item.get("unit")
        if unit is not None and not isinstance(unit, str):
            problems.append(f"{label}.unit: not a string ({_short(unit)})")
            unit = None
        stamp = item.get("timestamp")
        if stamp is not None and not isinstance(stamp, str):
            problems.append(f"{label}.timestamp: not a string ({_short(stamp)})")
            stamp = None
        meters.append(ExternalMeter(unique_id, meter_type, reading, unit, stamp))
    return tuple(meters)


# What a clean value of each field is: (type, low, high); the numbers' ranges are _RANGES.
_WHOLE_AND_TEXT: Final[dict[_Kind, tuple[type, float, float]]] = {
    _Kind.COUNT: (int, 0, math.inf),
    _Kind.INT: (int, 0, math.inf),
    _Kind.TARIFF: (int, 1, 4),
    _Kind.STR: (str, 0, _MAX_STR),
}
_CLEAN: Final[dict[str, tuple[type, float, float]]] = {
    name: _WHOLE_AND_TEXT.get(kind) or (float, *_RANGES[kind])
    for name, kind in _FIELD_KINDS.items()
}


def _clean_values(data: dict[str, Any]) -> dict[str, object] | None:
    """The fields of a push whose every value is clean (the 1 Hz path); None if one is not.

    Accepts exactly what :func:`_parse_field` accepts without a problem, in one pass over the
    push's own keys; anything else (a string for a number, NaN, out of range) is left to it.
    """
    values: dict[str, object] = {}
    for name, value in data.items():
        clean = _CLEAN.get(name)
        if clean is None or value is None:
            continue  # unknown keys and "external" (read on its own), or no value
        kind, low, high = clean
        given = type(value)
        if kind is float:
            if (given is float or given is int) and low <= value <= high:
                values[name] = float(value)
                continue
        elif kind is int:
            if given is int and low <= value <= high:
                values[name] = value
                continue
        elif given is str and len(value) <= high:
            values[name] = value
            continue
        return None
    return values


def _checked_values(data: dict[str, Any], problems: list[str]) -> dict[str, object]:
    """Every field of a push checked on its own, in field order (a bad one becomes ``None``)."""
    values: dict[str, object] = {}
    for name, kind in _FIELD_KINDS.items():
        if name in data and data[name] is not None:
            values[name] = _parse_field(name, kind, data[name], problems)
    return values


def parse_measurement(data: object) -> ParsedMeasurement:
    """Parse a measurement object; raise InvalidResponseError only if ``data`` is not an object.

    Every invalid field becomes ``None`` and adds one problem such as
    ``"power_w: not a number ('abc')"``. Unknown keys are ignored.
    """
    if not isinstance(data, dict):
        raise InvalidResponseError(f"measurement: expected an object, got {_short(data)}")
    problems: list[str] = []
    values = _clean_values(data)
    if values is None:  # a field needs a closer look
        values = _checked_values(data, problems)
    external: tuple[ExternalMeter, ...] = ()
    if data.get("external") is not None:
        external = _parse_external(data["external"], problems)
    measurement = Measurement(**values, external=external)  # type: ignore[arg-type]
    return ParsedMeasurement(measurement, tuple(problems))


@dataclass(slots=True, frozen=True)
class WsMessage:
    """One WebSocket message: ``{"type": <str>, "data": <optional>}``."""

    type: str
    data: object = None


_fast_loads: Callable[[str], object] = json.loads
try:  # Home Assistant ships orjson: it reads a push in a quarter of the time
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - the library used without Home Assistant
    pass
else:
    _fast_loads = _orjson_loads


def _loads(raw: str) -> object:
    """The JSON value of ``raw``: orjson's, or the standard library's for what orjson refuses.

    (NaN, infinities, integers past 64 bits: the fields that hold them are then judged one by
    one, as before, and the push keeps its good fields.)
    """
    try:
        return _fast_loads(raw)
    except ValueError:
        return json.loads(raw)


def parse_ws_message(raw: str | bytes) -> WsMessage:
    """Decode one WebSocket frame; raise InvalidResponseError if it is not a typed JSON object."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError as err:
            raise InvalidResponseError("WebSocket message: not valid UTF-8") from err
    try:
        decoded = _loads(raw)
    except (ValueError, RecursionError) as err:
        raise InvalidResponseError(f"WebSocket message: not JSON ({_short(raw)})") from err
    if not isinstance(decoded, dict):
        raise InvalidResponseError(f"WebSocket message: not an object ({_short(decoded)})")
    msg_type = decoded.get("type")
    if not isinstance(msg_type, str):
        raise InvalidResponseError(f"WebSocket message: no string 'type' ({_short(msg_type)})")
    return WsMessage(msg_type, decoded.get("data"))
