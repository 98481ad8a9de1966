"""Indicator parser on the real ESIOS payloads and on hand-built ones: geos, DST days, holes."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from custom_components.meterit.esios import (
    InvalidPriceDataError,
    PriceKind,
    PricesNotPublishedError,
    Region,
    parse_indicator,
)

from .conftest import Loader
from .parser_common import HOUR, utc, values_of


def value_at(payload: object, geo_id: int, datetime_utc: str) -> float:
    matches = [v["value"] for v in values_of(payload, geo_id) if v["datetime_utc"] == datetime_utc]
    assert len(matches) == 1
    return float(matches[0])


# --- indicators API, real payloads -------------------------------------------------------------


def test_indicator_1001_2024_03_09_peninsula(load: Loader) -> None:
    payload = load("PRICES_ESIOS_1001_2024_03_09.json")
    day = parse_indicator(payload, region=Region.PENINSULA, day=date(2024, 3, 9))
    assert day.kind is PriceKind.CONSUMER
    assert len(day.periods) == 24
    assert day.complete
    assert day.periods[0].start == utc(2024, 3, 8, 23)  # 00:00 CET
    assert all(p.duration == HOUR for p in day.periods)
    # Read in the file: 2024-03-09T10:00:00Z (11:00 CET), Península, 42.83 EUR/MWh.
    assert day.price_at(utc(2024, 3, 9, 10, 30)) == pytest.approx(42.83 / 1000)
    # The same from the file programmatically, for every hour.
    for p in day.periods:
        stamp = p.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert p.price == pytest.approx(value_at(payload, 8741, stamp) / 1000)
    raw = [v["value"] / 1000 for v in values_of(payload, 8741)]
    assert day.min == pytest.approx(min(raw))
    assert day.max == pytest.approx(max(raw))
    assert day.average == pytest.approx(sum(raw) / len(raw))


def test_indicator_filters_by_geo(load: Loader) -> None:
    payload = copy.deepcopy(load("PRICES_ESIOS_1001_2024_03_09.json"))
    assert isinstance(payload, dict)
    for value in payload["indicator"]["values"]:  # make every geo distinct
        value["value"] = value["geo_id"] - 8000 + value["value"] / 1000
    for region in Region:
        day = parse_indicator(payload, region=region, day=date(2024, 3, 9))
        assert len(day.periods) == 24
        assert all(int(p.price * 1000) == region.geo_id - 8000 for p in day.periods)


def test_indicator_25_hour_day(load: Loader) -> None:
    payload = load("PRICES_ESIOS_1001_2021_10_31.json")
    day = parse_indicator(payload, region=Region.PENINSULA, day=date(2021, 10, 31))
    assert len(day.periods) == 25
    assert day.complete
    assert day.end - day.start == timedelta(hours=25)
    # 02:00 CEST = 00:00Z: 109.55; 02:00 CET = 01:00Z: 104.85 (the file's datetime_utc for the
    # second one wrongly repeats 00:00Z; its "datetime" and "tz_time" say 01:00Z).
    assert day.price_at(utc(2021, 10, 31, 0, 30)) == pytest.approx(109.55 / 1000)
    assert day.price_at(utc(2021, 10, 31, 1, 30)) == pytest.approx(104.85 / 1000)
    local_values = [v["value"] / 1000 for v in values_of(payload, 8741)]
    assert [p.price for p in day.periods] == pytest.approx(local_values)


def test_indicator_1739_surplus_negative(load: Loader) -> None:
    payload = load("PRICES_ESIOS_1739_2024_03_09.json")
    expected = [v["value"] / 1000 for v in values_of(payload, 3)]
    assert min(expected) < 0
    for region in (Region.PENINSULA, Region.CEUTA, Region.BALEARES):
        day = parse_indicator(payload, region=region, day=date(2024, 3, 9))
        assert day.kind is PriceKind.SURPLUS
        assert day.complete
        assert [p.price for p in day.periods] == pytest.approx(expected)
        assert day.price_at(utc(2024, 3, 8, 23)) == pytest.approx(-1.45 / 1000)
        assert day.min < 0


def test_indicator_canarias_offset(load: Loader) -> None:
    payload = load("PRICES_ESIOS_1001_2024_03_09.json")
    peninsula = parse_indicator(payload, region=Region.PENINSULA, day=date(2024, 3, 9))
    canarias = parse_indicator(payload, region=Region.CANARIAS, day=date(2024, 3, 9))
    assert canarias.complete
    assert len(canarias.periods) == 24
    # Canarias local 00:00 (WET) is 00:00Z and pays the 00-01 local-hour price (44.98),
    # while at 00:00Z the peninsula is at 01:00 CET (46.14).
    assert canarias.periods[0].start == utc(2024, 3, 9, 0)
    assert canarias.price_at(utc(2024, 3, 9, 0)) == pytest.approx(44.98 / 1000)
    assert peninsula.price_at(utc(2024, 3, 9, 0)) == pytest.approx(46.14 / 1000)
    for p, c in zip(peninsula.periods, canarias.periods, strict=True):
        assert c.start == p.start + HOUR
        assert c.price == p.price

    fall_back = parse_indicator(
        load("PRICES_ESIOS_1001_2021_10_31.json"), region=Region.CANARIAS, day=date(2021, 10, 31)
    )
    assert len(fall_back.periods) == 25
    assert fall_back.complete
    assert fall_back.periods[0].start == utc(2021, 10, 30, 23)


def test_indicator_quarter_hours() -> None:
    start = utc(2025, 10, 14, 22)  # 2025-10-15 00:00 CEST
    values = [
        {
            "value": 50 + i,
            "datetime_utc": (start + timedelta(minutes=15 * i)).isoformat().replace("+00:00", "Z"),
            "geo_id": 8741,
        }
        for i in range(96)
    ]
    payload = {"indicator": {"id": 1001, "values": values}}
    day = parse_indicator(payload, region=Region.PENINSULA, day=date(2025, 10, 15))
    assert len(day.periods) == 96
    assert day.complete
    assert all(p.duration == timedelta(minutes=15) for p in day.periods)
    assert day.periods[-1].end == utc(2025, 10, 15, 22)
    assert day.price_at(utc(2025, 10, 14, 22, 37)) == pytest.approx(52 / 1000)
    assert day.average == pytest.approx(sum(range(50, 146)) / 96 / 1000)


def test_indicator_quarter_hours_25_hour_day() -> None:
    start = utc(2025, 10, 25, 22)  # 2025-10-26 00:00 CEST; 25 hours = 100 quarters
    values = [
        {
            "value": 10.0,
            "datetime_utc": (start + timedelta(minutes=15 * i)).isoformat(),
            "geo_id": 8741,
        }
        for i in range(100)
    ]
    day = parse_indicator(
        {"indicator": {"id": 1001, "values": values}},
        region=Region.PENINSULA,
        day=date(2025, 10, 26),
    )
    assert len(day.periods) == 100
    assert day.complete


@pytest.mark.parametrize(
    ("tiempo", "minutes"),
    [([{"name": "Quinceminutal"}], 15), ([{"name": "Hora"}], 60), (None, 60), (["x"], 60)],
)
def test_indicator_single_value_spacing(tiempo: object, minutes: int) -> None:
    indicator: dict[str, object] = {
        "id": 1001,
        "values": [{"value": 1, "datetime_utc": "2024-03-09T10:00:00Z", "geo_id": 8741}],
    }
    if tiempo is not None:
        indicator["tiempo"] = tiempo
    day = parse_indicator({"indicator": indicator}, region=Region.PENINSULA, day=date(2024, 3, 9))
    assert day.periods[0].duration == timedelta(minutes=minutes)
    assert not day.complete


def test_indicator_drops_values_outside_the_day(load: Loader) -> None:
    payload = copy.deepcopy(load("PRICES_ESIOS_1001_2024_03_09.json"))
    assert isinstance(payload, dict)
    extra = [
        {"value": 999.0, "datetime_utc": "2024-03-08T22:00:00Z", "geo_id": 8741},
        {"value": 999.0, "datetime_utc": "2024-03-09T23:00:00Z", "geo_id": 8741},
    ]
    payload["indicator"]["values"].extend(extra)
    day = parse_indicator(payload, region=Region.PENINSULA, day=date(2024, 3, 9))
    assert len(day.periods) == 24
    assert day.max < 0.999
    with pytest.raises(PricesNotPublishedError, match=r"26 value\(s\) outside that day"):
        parse_indicator(payload, region=Region.PENINSULA, day=date(2024, 3, 11))


def test_indicator_partial_day(load: Loader) -> None:
    payload = copy.deepcopy(load("PRICES_ESIOS_1001_2024_03_09.json"))
    assert isinstance(payload, dict)
    payload["indicator"]["values"] = payload["indicator"]["values"][: 5 * 10]  # 10 hours per geo
    day = parse_indicator(payload, region=Region.MELILLA, day=date(2024, 3, 9))
    assert len(day.periods) == 10
    assert not day.complete


def _null_at(payload: object, geo_id: int, datetime_utc: str) -> dict[str, Any]:
    """A copy of ``payload`` with the value of one geo at one instant set to null."""
    nulled = copy.deepcopy(payload)
    assert isinstance(nulled, dict)
    (value,) = [
        v
        for v in nulled["indicator"]["values"]
        if v["geo_id"] == geo_id and v["datetime_utc"] == datetime_utc
    ]
    value["value"] = None
    return nulled


@pytest.mark.parametrize("hole", ["2024-03-08T23:00:00Z", "2024-03-09T09:00:00Z"])
def test_indicator_null_value_leaves_out_only_its_hour(load: Loader, hole: str) -> None:
    payload = load("PRICES_ESIOS_1001_2024_03_09.json")
    nulled = _null_at(payload, 8741, hole)
    day = parse_indicator(nulled, region=Region.PENINSULA, day=date(2024, 3, 9))
    hole_start = datetime.fromisoformat(hole)
    assert len(day.periods) == len(values_of(payload, 8741)) - 1
    assert not day.complete  # fetched again later
    assert day.price_at(hole_start + timedelta(minutes=30)) is None
    assert all(p.duration == HOUR for p in day.periods)
    for p in day.periods:
        stamp = p.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert p.price == pytest.approx(value_at(payload, 8741, stamp) / 1000)
    # Another region is not touched by the peninsula's null.
    assert parse_indicator(nulled, region=Region.CEUTA, day=date(2024, 3, 9)).complete


def test_indicator_null_values_still_give_the_spacing() -> None:
    """Two prices two hours apart around a null hour are hourly periods, not two-hour ones."""
    values = [
        {**GOOD, "datetime_utc": "2024-03-09T10:00:00Z"},
        {**GOOD, "datetime_utc": "2024-03-09T11:00:00Z", "value": None},
        {**GOOD, "datetime_utc": "2024-03-09T12:00:00Z"},
    ]
    day = parse_indicator(
        {"indicator": {"id": 1001, "values": values}}, region=Region.PENINSULA, day=date(2024, 3, 9)
    )
    assert [(p.start, p.end) for p in day.periods] == [
        (utc(2024, 3, 9, 10), utc(2024, 3, 9, 11)),
        (utc(2024, 3, 9, 12), utc(2024, 3, 9, 13)),
    ]
    with pytest.raises(InvalidPriceDataError, match=r"values\[1\]\.datetime_utc: duplicate"):
        parse_indicator(
            {"indicator": {"id": 1001, "values": [{**GOOD, "value": None}, GOOD]}},
            region=Region.PENINSULA,
            day=date(2024, 3, 9),
        )


def test_indicator_only_null_values_are_not_published() -> None:
    with pytest.raises(PricesNotPublishedError, match="no consumer prices for peninsula"):
        parse_indicator(
            _one({**GOOD, "value": None}), region=Region.PENINSULA, day=date(2024, 3, 9)
        )


def test_indicator_empty() -> None:
    with pytest.raises(PricesNotPublishedError, match="no consumer prices for peninsula"):
        parse_indicator(
            {"indicator": {"id": 1001, "values": []}}, region=Region.PENINSULA, day=date(2024, 3, 9)
        )


def test_indicator_datetime_utc_wins_unless_both_others_disagree() -> None:
    def start_of(value: dict[str, object]) -> datetime:
        day = parse_indicator(
            {"indicator": {"id": 1001, "values": [value]}},
            region=Region.PENINSULA,
            day=date(2024, 3, 9),
        )
        return day.periods[0].start

    base = {"value": 1.0, "datetime_utc": "2024-03-09T10:00:00Z", "geo_id": 8741}
    only_local = {**base, "datetime": "2024-03-09T12:00:00+01:00"}
    assert start_of(only_local) == utc(2024, 3, 9, 10)
    both = {**only_local, "tz_time": "2024-03-09T11:00:00.000Z"}
    assert start_of(both) == utc(2024, 3, 9, 11)


def test_indicator_duplicate_rejected() -> None:
    value = {"value": 1.0, "datetime_utc": "2024-03-09T10:00:00Z", "geo_id": 8741}
    with pytest.raises(
        InvalidPriceDataError,
        match=r"indicator\.values\[1\]\.datetime_utc: duplicate instant 2024-03-09T10:00:00\+00:00",
    ):
        parse_indicator(
            {"indicator": {"id": 1001, "values": [value, dict(value)]}},
            region=Region.PENINSULA,
            day=date(2024, 3, 9),
        )


def test_indicator_kind_check(load: Loader) -> None:
    payload = load("PRICES_ESIOS_1001_2024_03_09.json")
    day = parse_indicator(payload, region=Region.CEUTA, day=date(2024, 3, 9), kind="consumer")
    assert day.kind is PriceKind.CONSUMER
    with pytest.raises(InvalidPriceDataError, match="got indicator 1001, expected the surplus"):
        parse_indicator(payload, region=Region.CEUTA, day=date(2024, 3, 9), kind="surplus")


def _one(value: dict[str, object]) -> dict[str, object]:
    return {"indicator": {"id": 1001, "values": [value]}}


GOOD = {"value": 1.0, "datetime_utc": "2024-03-09T10:00:00Z", "geo_id": 8741}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "payload: expected an array|payload: expected an object, got an array"),
        ("x", "payload: expected an object, got 'x'"),
        ({}, "^indicator: missing$"),
        ({"indicator": None}, "indicator: expected an object, got null"),
        ({"indicator": {"values": []}}, "indicator.id: missing"),
        ({"indicator": {"id": "1001", "values": []}}, "indicator.id: not an integer \\('1001'\\)"),
        ({"indicator": {"id": True, "values": []}}, "indicator.id: not an integer \\(True\\)"),
        ({"indicator": {"id": 600, "values": []}}, "indicator.id: unsupported indicator 600"),
        ({"indicator": {"id": 1001}}, "indicator.values: missing"),
        (
            {"indicator": {"id": 1001, "values": {}}},
            "indicator.values: expected an array, got an object",
        ),
        (
            {"indicator": {"id": 1001, "values": [3]}},
            r"indicator.values\[0\]: expected an object, got 3",
        ),
        (_one({**GOOD, "geo_id": None}), r"values\[0\].geo_id: not an integer \(null\)"),
        (_one({"value": 1.0, "datetime_utc": "x"}), r"values\[0\].geo_id: missing"),
        (_one({**GOOD, "value": "abc"}), r"indicator.values\[0\].value: not a number \('abc'\)"),
        (_one({**GOOD, "value": True}), r"values\[0\].value: not a number \(True\)"),
        (_one({**GOOD, "value": [1]}), r"values\[0\].value: not a number \(an array\)"),
        (_one({**GOOD, "value": float("inf")}), r"values\[0\].value: not a finite number \(inf\)"),
        (_one({**GOOD, "value": 10**400}), r"values\[0\].value: number out of range"),
        (_one({"value": 1.0, "geo_id": 8741}), r"values\[0\].datetime_utc: missing"),
        (_one({**GOOD, "datetime_utc": 5}), r"datetime_utc: not a date-time string \(5\)"),
        (
            _one({**GOOD, "datetime_utc": "yesterday"}),
            r"datetime_utc: not an ISO 8601 date-time \('yesterday'\)",
        ),
        (
            _one({**GOOD, "datetime_utc": "2024-03-09T10:00:00"}),
            r"datetime_utc: date-time without a time zone",
        ),
        (
            _one({**GOOD, "datetime_utc": "9999-12-31T23:00:00Z"}),
            r"datetime_utc: date out of range",
        ),
    ],
)
def test_indicator_invalid(payload: object, message: str) -> None:
    with pytest.raises(InvalidPriceDataError, match=message):
        parse_indicator(payload, region=Region.PENINSULA, day=date(2024, 3, 9))


def test_other_geos_are_not_validated_beyond_geo_id() -> None:
    other = {"value": "garbage", "datetime_utc": None, "geo_id": 8745}
    day = parse_indicator(
        {"indicator": {"id": 1001, "values": [other, GOOD]}},
        region=Region.PENINSULA,
        day=date(2024, 3, 9),
    )
    assert len(day.periods) == 1


def test_day_out_of_range_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="day: 1900-01-01 is out of range"):
        parse_indicator(_one(GOOD), region=Region.PENINSULA, day=date(1900, 1, 1))
