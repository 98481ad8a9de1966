"""Parsing and validation of HomeWizard v2 payloads."""

from __future__ import annotations

import json
import math
from pathlib import Path
import ssl

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.meterit.homewizard import (
    CounterGuard,
    DeviceInfo,
    ExternalMeter,
    InvalidResponseError,
    Measurement,
    SystemInfo,
    WsMessage,
    create_ssl_context,
    parse_measurement,
    parse_ws_message,
)
from custom_components.meterit.homewizard.models import EXTERNAL_TYPES

from ..strategies import any_json
from .conftest import load_json

MEASUREMENT_FILES = [
    "measurement_1_phase_no_gas.json",
    "measurement_3_phase_with_gas_with_watermeter.json",
]


@pytest.mark.parametrize("name", MEASUREMENT_FILES)
def test_fixture_measurements(hw_fixtures: Path, name: str) -> None:
    raw = load_json(hw_fixtures / name)
    parsed = parse_measurement(raw)
    assert parsed.problems == ()
    m = parsed.measurement
    for key, value in raw.items():
        if key == "external":
            continue
        assert getattr(m, key) == value, key
    assert m.present_fields() == frozenset(raw)
    externals = raw.get("external", [])
    assert isinstance(externals, list)
    assert len(m.external) == len(externals)
    for meter, item in zip(m.external, externals, strict=True):
        assert meter == ExternalMeter(
            item["unique_id"], item["type"], item["value"], item["unit"], item["timestamp"]
        )


def test_fixture_invalid_external(hw_fixtures: Path) -> None:
    parsed = parse_measurement(load_json(hw_fixtures / "measurement_invalid_external.json"))
    assert parsed.measurement.external == ()
    assert parsed.measurement.present_fields() == frozenset()
    assert parsed.problems == (
        "external[0]: missing unique_id",
        "external[1]: unknown type ('catfish')",
        "external[2]: unknown type (None)",
    )


def test_fixture_device_and_system(hw_fixtures: Path) -> None:
    raw = load_json(hw_fixtures / "device.json")
    device = DeviceInfo.from_dict(raw)
    assert device == DeviceInfo(**{k: str(v) for k, v in raw.items()})
    assert device.identifier == f"appliance/p1dongle/{raw['serial']}"
    sysraw = load_json(hw_fixtures / "system.json")
    system = SystemInfo.from_dict(sysraw)
    assert system == SystemInfo(
        sysraw["wifi_ssid"],  # type: ignore[arg-type]
        sysraw["wifi_rssi_db"],  # type: ignore[arg-type]
        sysraw["uptime_s"],  # type: ignore[arg-type]
        sysraw["cloud_enabled"],  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("product_type", "legacy"),
    [
        ("HWE-P1", "p1dongle"),
        ("HWE-SKT", "energysocket"),
        ("HWE-KWH1", "energymeter"),
        ("HWE-KWH3", "energymeter"),
        ("SDM230-wifi", "energymeter"),
        ("SDM630-wifi", "energymeter"),
        ("HWE-WTR", "watermeter"),
        ("HWE-DSP", "display"),
        ("HWE-BAT", "battery"),
        ("HWE-NEW", "hwe-new"),
    ],
)
def test_identifier(product_type: str, legacy: str) -> None:
    info = DeviceInfo("x", product_type, "abc123", "1.0", "2.0.0")
    assert info.identifier == f"appliance/{legacy}/abc123"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "expected an object"),
        ({"product_name": "P1"}, "'product_type' is missing"),
        (
            {
                "product_name": "P1",
                "product_type": "HWE-P1",
                "serial": 5,
                "firmware_version": "1",
                "api_version": "2.0.0",
            },
            "'serial' is not a non-empty string",
        ),
    ],
)
def test_device_info_rejects(data: object, match: str) -> None:
    with pytest.raises(InvalidResponseError, match=match):
        DeviceInfo.from_dict(data)


def test_system_info_is_lenient() -> None:
    system = SystemInfo.from_dict(
        {"wifi_ssid": 3, "wifi_rssi_db": True, "uptime_s": -1, "cloud_enabled": "yes"}
    )
    assert system == SystemInfo(None, None, None, None)
    assert SystemInfo.from_dict({"wifi_rssi_db": -70.0, "uptime_s": 5}).wifi_rssi_db == -70
    assert SystemInfo.from_dict({"wifi_rssi_db": -70.5}).wifi_rssi_db is None
    with pytest.raises(InvalidResponseError, match="system info"):
        SystemInfo.from_dict("x")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("power_w", "abc", "power_w: not a number ('abc')"),
        ("power_w", True, "power_w: not a number (True)"),
        ("power_w", [1], "power_w: not a number ([1])"),
        ("power_w", 2e6, "power_w: out of range (2000000.0)"),
        ("power_l2_w", -1e7, "power_l2_w: out of range (-10000000.0)"),
        ("energy_import_kwh", -5, "energy_import_kwh: negative counter (-5.0)"),
        ("energy_export_t3_kwh", 1e12, "energy_export_t3_kwh: out of range (1000000000000.0)"),
        ("voltage_l1_v", math.nan, "voltage_l1_v: not finite (nan)"),
        ("voltage_v", math.inf, "voltage_v: not finite (inf)"),
        ("voltage_l2_v", 1200, "voltage_l2_v: out of range (1200.0)"),
        ("voltage_l3_v", -1, "voltage_l3_v: out of range (-1.0)"),
        ("current_l1_a", 20000, "current_l1_a: out of range (20000.0)"),
        ("frequency_hz", 30, "frequency_hz: out of range (30.0)"),
        ("tariff", 7, "tariff: out of range (7)"),
        ("tariff", 1.5, "tariff: not a whole number (1.5)"),
        ("voltage_sag_l1_count", -1, "voltage_sag_l1_count: negative counter (-1)"),
        ("any_power_fail_count", "4", "any_power_fail_count: not a number ('4')"),
        ("protocol_version", -50, "protocol_version: out of range (-50)"),
        ("meter_model", 5, "meter_model: not a string (5)"),
        ("timestamp", "x" * 300, "timestamp: too long (300 characters)"),
        # a huge integer overflows float(); its repr is cut to 57 characters + "..."
        ("power_w", 10**400, "power_w: not finite (1" + "0" * 56 + "...)"),
        ("external", {"a": 1}, "external: not a list ({'a': 1})"),
    ],
)
def test_bad_field(key: str, value: object, problem: str) -> None:
    parsed = parse_measurement({key: value, "power_l1_w": 5, "unknown_key": "ignored"})
    assert parsed.problems == (problem,)
    assert getattr(parsed.measurement, key) in (None, ())
    assert parsed.measurement.power_l1_w == 5.0  # the good field survives


def test_good_edge_values() -> None:
    parsed = parse_measurement(
        {
            "tariff": 4,
            "voltage_sag_l1_count": 3.0,
            "frequency_hz": 50.02,
            "current_l1_a": -4,
            "power_w": -678,
            "energy_import_kwh": 0,
            "monthly_power_peak_timestamp": "2024-06-04T10:11:22",
            "external": None,
            "voltage_v": None,
        }
    )
    assert parsed.problems == ()
    m = parsed.measurement
    assert m.tariff == 4
    assert m.voltage_sag_l1_count == 3
    assert isinstance(m.voltage_sag_l1_count, int)
    assert m.frequency_hz == 50.02
    assert m.current_l1_a == -4.0
    assert m.energy_import_kwh == 0.0
    assert "voltage_v" not in m.present_fields()


def test_external_item_problems() -> None:
    parsed = parse_measurement(
        {
            "external": [
                "text",
                {"unique_id": "", "type": "gas_meter"},
                {"unique_id": "a", "type": "gas_meter", "value": "x", "unit": 3, "timestamp": 1},
                {"unique_id": "b", "type": "water_meter", "value": -1},
                {"unique_id": "c", "type": "heat_meter", "value": None, "unit": "GJ"},
                {"unique_id": "u" * 257, "type": "gas_meter", "value": 1},
            ]
        }
    )
    assert parsed.problems == (
        "external[0]: not an object ('text')",
        "external[1]: missing unique_id",
        "external[2].value: not a number ('x')",
        "external[2].unit: not a string (3)",
        "external[2].timestamp: not a string (1)",
        "external[3].value: negative counter (-1.0)",
        "external[5].unique_id: too long (257 characters)",
    )
    assert parsed.measurement.external == (
        ExternalMeter("a", "gas_meter", None, None, None),
        ExternalMeter("b", "water_meter", None, None, None),
        ExternalMeter("c", "heat_meter", None, "GJ", None),
    )


def test_parse_measurement_rejects_non_objects() -> None:
    bad: tuple[object, ...] = (None, [], "x", 3)
    for data in bad:
        with pytest.raises(InvalidResponseError, match="measurement: expected an object"):
            parse_measurement(data)


def test_counter_guard() -> None:
    guard = CounterGuard()
    gas = ExternalMeter("g1", "gas_meter", 100.0, "m3", None)
    first = Measurement(
        energy_import_kwh=100.0, any_power_fail_count=4, power_w=5.0, external=(gas,)
    )
    assert guard.check(first).problems == ()
    back = Measurement(
        energy_import_kwh=99.0,
        energy_export_kwh=3.0,
        any_power_fail_count=3,
        power_w=1.0,
        external=(ExternalMeter("g1", "gas_meter", 99.5, "m3", None),),
    )
    checked = guard.check(back)
    assert checked.problems == (
        "energy_import_kwh: went backwards (100.0 -> 99.0)",
        "any_power_fail_count: went backwards (4 -> 3)",
        "external[g1]: went backwards (100.0 -> 99.5)",
    )
    assert checked.measurement.energy_import_kwh is None
    assert checked.measurement.any_power_fail_count is None
    assert checked.measurement.energy_export_kwh == 3.0  # first value of that counter
    assert checked.measurement.power_w == 1.0  # not a counter
    assert checked.measurement.external[0].value is None
    # the last accepted value is kept as the reference
    forward = Measurement(energy_import_kwh=100.0, any_power_fail_count=4)
    assert guard.check(forward).problems == ()
    assert guard.check(Measurement(energy_import_kwh=99.9)).measurement.energy_import_kwh is None
    untouched = Measurement(power_w=3.0)
    assert guard.check(untouched).measurement is untouched
    guard.reset()
    assert guard.check(Measurement(energy_import_kwh=1.0)).problems == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "authorized"}', WsMessage("authorized", None)),
        (
            b'{"type": "measurement", "data": {"power_w": 1}}',
            WsMessage("measurement", {"power_w": 1}),
        ),
    ],
)
def test_parse_ws_message(raw: str | bytes, expected: WsMessage) -> None:
    assert parse_ws_message(raw) == expected


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\xff\xfe", "not valid UTF-8"),
        ("{nope", "not JSON"),
        ("[1]", "not an object"),
        ('{"data": 1}', "no string 'type'"),
        ('{"type": 5}', "no string 'type'"),
        ("[" * 100_000, "not JSON"),  # nesting deeper than the decoder's stack
        ('{"type": "x", "data": ' + "9" * 5000 + "}", "not JSON"),  # int digit limit
    ],
)
def test_parse_ws_message_rejects(raw: str | bytes, match: str) -> None:
    with pytest.raises(InvalidResponseError, match=match):
        parse_ws_message(raw)


_JSON = any_json(text_size=20, key_size=10, max_leaves=20)
_FIELD_NAMES = st.sampled_from([*Measurement.__dataclass_fields__, "external"])
_EXTERNAL_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "unique_id": _JSON | st.text(max_size=8),
        "type": _JSON | st.sampled_from(sorted(EXTERNAL_TYPES)),
        "value": _JSON,
        "unit": _JSON,
        "timestamp": _JSON,
    },
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        _FIELD_NAMES | st.text(max_size=10), _JSON | st.lists(_EXTERNAL_ITEM), max_size=12
    )
)
def test_parse_measurement_never_raises(data: dict[str, object]) -> None:
    parsed = parse_measurement(data)
    m = parsed.measurement
    for name in m.present_fields() - {"external"}:
        value = getattr(m, name)
        assert not isinstance(value, bool)
        if isinstance(value, float):
            assert math.isfinite(value)
    for meter in m.external:
        assert meter.type in EXTERNAL_TYPES
        assert meter.unique_id
    # every field that was given but dropped is explained by a problem
    dropped = (
        {k for k, v in data.items() if k in Measurement.__dataclass_fields__ and v is not None}
        - m.present_fields()
        - {"external"}
    )
    named = {p.partition(":")[0] for p in parsed.problems}
    assert dropped <= named
    json.dumps(parsed.problems)  # plain strings


@given(_JSON)
def test_parse_measurement_only_raises_for_non_objects(data: object) -> None:
    if isinstance(data, dict):
        parse_measurement(data)
    else:
        with pytest.raises(InvalidResponseError):
            parse_measurement(data)


def test_ssl_context() -> None:
    ctx = create_ssl_context()
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.hostname_checks_common_name
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert not ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert len(ctx.get_ca_certs()) == 1  # only HomeWizard's CA, not the system store
    loose = create_ssl_context(verify_identity=False)
    assert loose.verify_mode is ssl.CERT_REQUIRED
    assert not loose.check_hostname
    with pytest.raises(ValueError, match="cadata: not a valid PEM"):
        create_ssl_context("garbage")
