"""Reading validation and Window helpers."""

from __future__ import annotations

import pytest

from custom_components.meterit.metering import InvalidReadingError, Reading, Window


def test_webhook_reading_has_only_t_and_w() -> None:
    r = Reading(t=10.0, w=123.4)
    assert r.import_kwh is None
    assert r.tariff is None
    assert r.w == 123.4


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"t": float("nan")}, "'t'"),
        ({"t": float("inf")}, "'t'"),
        ({"t": "12"}, "'t'"),
        ({"t": True}, "'t'"),
        ({"t": 1.0, "w": float("nan")}, "'w'"),
        ({"t": 1.0, "l3_v": "230"}, "'l3_v'"),
        ({"t": 1.0, "import_kwh": float("-inf")}, "'import_kwh'"),
        ({"t": 1.0, "export_kwh": 10**400}, "'export_kwh'"),
        ({"t": 1.0, "w": False}, "'w'"),
        ({"t": 1.0, "tariff": 0}, "'tariff'"),
        ({"t": 1.0, "tariff": 5}, "'tariff'"),
        ({"t": 1.0, "tariff": True}, "'tariff'"),
        ({"t": 1.0, "tariff": 1.0}, "'tariff'"),
    ],
)
def test_bad_reading_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidReadingError, match=field) as info:
        Reading(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_int_values_are_accepted() -> None:
    r = Reading(t=5, w=-300, import_kwh=12, tariff=4)
    assert r.w == -300
    assert r.tariff == 4


def test_window_helpers() -> None:
    real = Window("p1", 300, 0.0, 300.0, reading_count=3)
    gap = Window("p1", 300, 300.0, 600.0)
    assert not real.synthetic
    assert gap.synthetic
    assert real.key == ("p1", 300, 0.0)
