"""The 1 Hz path of the parser: a clean push is read in one pass, anything else field by field.

``_clean_values`` may only take a push that the field-by-field check (``_checked_values``)
takes with no problem, and must give the same values; it must also take every push of a
realistic day, or the meter's stream pays for the slow path on every message.
"""

from __future__ import annotations

from dataclasses import fields
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.meterit.homewizard import parse_measurement, parse_ws_message
from custom_components.meterit.homewizard.models import (
    Measurement,
    _checked_values,
    _clean_values,
)

TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "p1-trace"
FIELDS = [f.name for f in fields(Measurement) if f.name != "external"]
EDGES = [0, 1, 4, 5, -1, 0.5, 1e6, 1e6 + 1, -1e6, 40.0, 70.0, 1000.0, 1e10, 2**63, True, "x" * 257]
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.sampled_from(EDGES),
    st.lists(st.integers(), max_size=2),
)
PUSH = st.dictionaries(st.sampled_from([*FIELDS, "unknown_key"]), VALUE, max_size=12)


@settings(max_examples=2000, deadline=None)
@given(PUSH)
def test_the_one_pass_takes_only_what_the_field_check_takes_cleanly(data: dict[str, Any]) -> None:
    problems: list[str] = []
    checked = _checked_values(data, problems)
    clean = _clean_values(data)
    if clean is not None:
        assert problems == []
        assert clean == checked
        assert {k: type(v) for k, v in clean.items()} == {k: type(v) for k, v in checked.items()}
    # either way the measurement is the field check's
    assert parse_measurement(data).measurement == Measurement(**checked)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("energy_import_kwh", 12, 12.0),  # integral JSON numbers become floats
        ("tariff", 4, 4),
        ("any_power_fail_count", 0, 0),
        ("meter_model", "ISKRA  2M550T-101", "ISKRA  2M550T-101"),
    ],
)
def test_clean_values_are_taken_in_one_pass(name: str, value: object, expected: object) -> None:
    clean = _clean_values({name: value, "external": [], "unknown": "x"})
    assert clean == {name: expected}
    assert type(clean[name]) is type(expected)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tariff", 5),
        ("tariff", 2.0),  # a whole float is fine for the field check, which then reports nothing
        ("power_w", True),
        ("power_w", float("nan")),
        ("energy_import_kwh", -0.001),
        ("voltage_l1_v", 1000.5),
        ("meter_model", "x" * 257),
    ],
)
def test_anything_unusual_goes_to_the_field_check(name: str, value: object) -> None:
    assert _clean_values({name: value}) is None
    problems: list[str] = []
    checked = _checked_values({name: value}, problems)
    assert parse_measurement({name: value}).measurement == Measurement(**checked)  # type: ignore[arg-type]


def test_every_push_of_a_trace_takes_the_one_pass() -> None:
    if not TOOL.exists():
        pytest.skip("../shared/tools/p1-trace not found")
    out = subprocess.run(  # noqa: S603 - our interpreter and the shared tool
        [sys.executable, str(TOOL), "--start", "2026-06-21T10:00:00Z", "--hours", "0.5"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pushes = [json.loads(line)["data"] for line in out.splitlines()]
    assert len(pushes) >= 1700
    for data in pushes:
        message = parse_ws_message(json.dumps({"type": "measurement", "data": data}))
        assert _clean_values(message.data) is not None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "measurement", "data": {"power_w": NaN, "voltage_l1_v": 230.1}}',
        '{"type": "measurement", "data": {"power_w": 1e999, "voltage_l1_v": 230.1}}',
        '{"type": "measurement", "data": {"power_w": 99999999999999999999999, "voltage_l1_v": 230.1}}',
    ],
)
def test_json_that_orjson_refuses_is_read_as_the_standard_library_reads_it(text: str) -> None:
    """One odd value must not cost the push's good fields."""
    message = parse_ws_message(text)
    parsed = parse_measurement(message.data)
    assert message.type == "measurement"
    assert parsed.problems  # the odd field is reported ...
    assert parsed.measurement.power_w is None
    assert parsed.measurement.voltage_l1_v == 230.1  # ... and the good one kept
