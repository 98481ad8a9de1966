"""Webhook body validation: unit cases, the station integrator, and a fuzzer over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import json
from math import isfinite
import re
import time
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.meterit.metering import MeterStore
from custom_components.meterit.powerhook import (
    MAX_BODY_BYTES,
    MAX_FUTURE_SKEW,
    MAX_WATTS,
    BodyError,
    InvalidStationStateError,
    StationMeter,
    body as body_module,
    check_content_length,
    check_content_type,
    parse_body,
    parse_station_id,
)
from custom_components.meterit.shared_store import async_get_store

from ..strategies import any_json
from .conftest import WEBHOOK_ID, webhook_entry

type Client = TestClient[Any, Any]
NOW = 1_767_607_200.0  # 2026-01-05 10:00 UTC
STATION_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def parse(body: object, **kwargs: float) -> list[tuple[str, float, float]]:
    """Parse a JSON-encodable body at NOW; (station, watts, time) of each reading."""
    raw = json.dumps(body).encode()
    return [(r.station_id, r.watts, r.time) for r in parse_body(raw, now=NOW, **kwargs)]


def problem(body: object | bytes) -> tuple[str, str]:
    """(field, problem) of a body that must be refused."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(BodyError) as caught:
        parse_body(raw, now=NOW)
    assert str(caught.value) == f"{caught.value.field}: {caught.value.problem}"
    return caught.value.field, caught.value.problem


async def test_accepted_shapes() -> None:
    assert parse({"watts": 1, "station_id": 0}) == [("0", 1.0, NOW)]
    assert parse({"watts": -5.5, "station_id": "Kitchen_2.a-b"}) == [("Kitchen_2.a-b", -5.5, NOW)]
    assert parse({"watts": MAX_WATTS, "station_id": 999_999_999, "time": NOW - 10}) == [
        ("999999999", MAX_WATTS, NOW - 10)
    ]
    # ISO 8601 with a zone, in any offset; a slightly fast clock is clamped to arrival
    iso = datetime.fromtimestamp(NOW - 3600, UTC).isoformat().replace("+00:00", "Z")
    assert parse({"watts": 2, "station_id": 1, "time": iso})[0][2] == NOW - 3600
    assert (
        parse({"watts": 2, "station_id": 1, "time": "2026-01-05T10:59:00+01:00"})[0][2] == NOW - 60
    )
    assert parse({"watts": 2, "station_id": 1, "time": NOW + MAX_FUTURE_SKEW})[0][2] == NOW
    # the same station at different times, and different stations at the same time
    batch = {
        "readings": [
            {"watts": 1, "station_id": 1, "time": NOW - 2},
            {"watts": 2, "station_id": 1},
            {"watts": 3, "station_id": 2},
        ]
    }
    assert parse(batch) == [("1", 1.0, NOW - 2), ("1", 2.0, NOW), ("2", 3.0, NOW)]
    assert parse({"watts": 1, "station_id": 1, "time": NOW - 100}, max_past=200)[0][2] == NOW - 100


async def test_refused_shapes_name_the_field() -> None:
    assert problem({"watts": 1, "station_id": 1, "time": NOW - 100_000}) == (
        "time",
        "is more than 86400 s in the past",
    )
    assert problem({"watts": 1, "station_id": 1, "time": 10**400}) == (
        "time",
        "must be a finite number of unix seconds",
    )
    assert problem({"watts": 1, "station_id": 1, "time": "x" * 50})[0] == "time"
    assert parse({"watts": 1, "station_id": 1, "time": None}) == [("1", 1.0, NOW)]  # null: now
    assert problem({"watts": 1, "station_id": 1, "time": True})[0] == "time"
    assert problem({"watts": 1, "station_id": 1, "time": [1]})[1].endswith("got a list")
    assert problem({"watts": 10**400, "station_id": 1}) == (
        "watts",
        "must be between -100000 and 100000 W",
    )
    assert problem({"watts": {}, "station_id": 1}) == ("watts", "must be a number, got an object")
    assert problem({"watts": 1, "station_id": True})[1].endswith("got a boolean")
    assert problem({"watts": 1, "station_id": None})[1].endswith("got null")
    assert problem({"watts": 1, "station_id": 10**9})[0] == "station_id"
    assert problem({"readings": [1]}) == ("readings[0]", "must be an object, got a number")
    assert (
        problem({"readings": [{"watts": 1, "station_id": 1, "x\n": 1}]})[0] == "readings[0].'x\\n'"
    )
    assert problem({"": 1})[0] == "''"
    assert problem(b"1" * 5000)[1].startswith("not valid JSON (numbers too long")
    assert problem(b"   ") == ("body", "empty; send a JSON object")
    assert problem(b"x" * (MAX_BODY_BYTES + 1))[0] == "body"
    assert problem(b'{"watts": Infinity, "station_id": 1}') == (
        "body",
        "Infinity is not a JSON number",
    )
    with pytest.raises(BodyError, match="station_id"):
        parse_station_id([1])


async def test_content_type_and_length() -> None:
    for ok in (
        "application/json",
        "Application/JSON; charset=UTF-8",
        'text/plain; charset="utf8"',
        "application/json; boundary=x",
        None,  # Arduino's HTTPClient: the body must still parse as JSON
        "  ",
    ):
        check_content_type(ok)
    for bad, field in (
        ("application/octet-stream", "content-type"),
        ("application/xml", "content-type"),
        ("application/json; charset=utf-16", "content-type"),
    ):
        with pytest.raises(BodyError) as caught:
            check_content_type(bad)
        assert caught.value.field == field
    check_content_length(None)
    check_content_length(MAX_BODY_BYTES)
    with pytest.raises(BodyError, match="over the limit"):
        check_content_length(MAX_BODY_BYTES + 1)


async def test_a_fast_clock_moves_a_station_back_keeping_its_spacing() -> None:
    """Future times (within the skew) are checked for duplicates as sent, then each station
    whose readings run past the arrival is moved back by its own excess."""
    batch = {
        "readings": [
            {"watts": 10, "station_id": 1, "time": NOW + 5},
            {"watts": 11, "station_id": 1, "time": NOW + 10},
            {"watts": 20, "station_id": 2, "time": NOW + 3},
            {"watts": 21, "station_id": 2},  # the arrival time, as sent
            {"watts": 30, "station_id": 3, "time": NOW - 100},  # not ahead: untouched
            {"watts": 12, "station_id": 1, "time": NOW - 20},
        ]
    }
    assert parse(batch) == [
        ("1", 10.0, NOW + 5 - 10),
        ("1", 11.0, NOW),
        ("2", 20.0, NOW),
        ("2", 21.0, NOW - 3),
        ("3", 30.0, NOW - 100),
        ("1", 12.0, NOW - 20 - 10),
    ]
    # the same time twice, as sent, is still a duplicate
    twice = {
        "readings": [
            {"watts": 1, "station_id": 1, "time": NOW + 5},
            {"watts": 2, "station_id": 1, "time": NOW + 5},
        ]
    }
    assert problem(twice)[0] == "readings[1].time"
    # whether the body gave a time is kept (it decides the answer's shape)
    raw = json.dumps({"watts": 1, "station_id": 1, "time": NOW + 5}).encode()
    (ahead,) = parse_body(raw, now=NOW)
    assert (ahead.time, ahead.timed) == (NOW, True)
    (arrival,) = parse_body(b'{"watts": 1, "station_id": 1}', now=NOW)
    assert (arrival.time, arrival.timed) == (NOW, False)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(-3000, int(MAX_FUTURE_SKEW) * 1000)),
        min_size=1,
        max_size=30,
        unique=True,
    )
)
def test_fast_clock_shift_keeps_order_and_spacing(readings: list[tuple[str, int]]) -> None:
    """Any batch: per station the same shift for every reading, none left in the future."""
    sent = [(station, NOW + ms / 1000) for station, ms in readings]
    body = {"readings": [{"watts": 1, "station_id": s, "time": t} for s, t in sent]}
    got = parse(body)
    for station in ("a", "b"):
        mine = [(t, g[2]) for (s, t), g in zip(sent, got, strict=True) if s == station]
        if not mine:
            continue
        latest = max(t for t, _ in mine)
        shift = max(latest - NOW, 0.0)
        assert [g for _, g in mine] == [t - shift for t, _ in mine]
        assert max(g for _, g in mine) <= NOW


async def test_station_meter_integrates_left_riemann() -> None:
    meter = StationMeter("a", max_hold=60)
    assert meter.silent_for(NOW) is None
    assert meter.add(NOW, 1200, 0.1)
    assert meter.add(NOW + 30, -500, None)  # 1200 W x 30 s at 0.1 €/kWh
    assert meter.add(NOW + 60, 600, 0.2)  # export adds nothing
    assert not meter.add(NOW + 60, 999, 0.2)  # duplicate
    assert not meter.add(NOW + 10, 999, 0.2)  # older
    assert meter.add(NOW + 1000, 0, None)  # 600 W held for 60 s only
    assert meter.energy_kwh == pytest.approx((1200 * 30 + 600 * 60) / 3.6e6)
    assert meter.cost == pytest.approx(1200 * 30 / 3.6e6 * 0.1 + 600 * 60 / 3.6e6 * 0.2)
    assert (meter.readings, meter.ignored) == (4, 2)
    assert meter.silent_for(NOW + 1010) == 10
    restored = StationMeter.from_json(meter.to_json(), 60)
    assert restored.to_json() == meter.to_json()
    # a price unknown for an interval: energy counts, cost does not
    meter.add(NOW + 1001, 3600, None)
    meter.add(NOW + 1002, 0, None)
    assert meter.cost == pytest.approx(1200 * 30 / 3.6e6 * 0.1 + 600 * 60 / 3.6e6 * 0.2)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({}, "station_id"),
        ({"station_id": "a"}, "'energy_kwh': missing"),
        ({"station_id": "a", "energy_kwh": True, "cost": 0}, "energy_kwh"),
        ({"station_id": "a", "energy_kwh": 1, "cost": float("nan")}, "'cost'"),
        ({"station_id": "a", "energy_kwh": 1, "cost": 0, "readings": -1}, "readings"),
        ({"station_id": "a", "energy_kwh": -1, "cost": 0, "readings": 1}, "negative"),
    ],
)
async def test_station_state_rejected(data: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidStationStateError, match=match):
        StationMeter.from_json(data)


# ---------------------------------------------------------------------- fuzzing over HTTP

json_values = any_json(text_size=40, key_size=12, max_leaves=12)


def _outcome(decode: Callable[[str], object], text: str) -> tuple[str, object]:
    try:
        return "value", decode(text)
    except (BodyError, ValueError) as err:
        return type(err).__name__, str(err)


@settings(max_examples=400, deadline=None, database=None)
@given(
    json_values,
    st.sampled_from(["", " ", "\n", "\t "]),
    st.sampled_from(["", " ", "\r\n", "x", "}", "{"]),
    st.booleans(),
)
def test_fast_decode_is_the_full_decoder(
    value: object, before: str, after: str, duplicate: bool
) -> None:
    """The scanner-first decode gives what ``_DECODER.decode`` gives, values and errors alike
    (whitespace around, trailing garbage, duplicate keys, NaN and Infinity)."""
    text = json.dumps(value, allow_nan=True)
    if duplicate and text.startswith("{") and text != "{}":
        text = text[:-1] + ", " + text[1:]  # every key twice
    text = before + text + after
    assert _outcome(body_module._decode, text) == _outcome(body_module._DECODER.decode, text)


bad_watts = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=10),
    st.floats().filter(lambda x: not (isfinite(x) and -1e5 <= x <= 1e5)),
    st.integers().filter(lambda x: not -100_000 <= x <= 100_000),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_station = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.integers(max_value=-1),
    st.integers(min_value=1_000_000_000),
    st.text(max_size=40).filter(lambda s: not STATION_RE.fullmatch(s)),
    st.lists(st.integers(), max_size=2),
)
bad_time = st.one_of(
    st.booleans(),
    st.text(max_size=30),
    st.floats(max_value=NOW - 100_000) | st.floats(min_value=4e9),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
good_reading = st.fixed_dictionaries(
    {
        "watts": st.floats(min_value=-1e5, max_value=1e5, allow_nan=False),
        "station_id": st.integers(0, 10**9 - 1) | st.from_regex(STATION_RE, fullmatch=True),
    }
)


@st.composite
def rejected_bodies(draw: st.DrawFn) -> tuple[object, set[str]]:
    """A body that must be refused, with the fields an error may name."""
    reading: dict[str, object] = dict(draw(good_reading))
    how = draw(st.sampled_from(["watts", "station_id", "time", "missing", "unknown"]))
    if how == "watts":
        reading["watts"] = draw(bad_watts)
        fields = {"watts"}
    elif how == "station_id":
        reading["station_id"] = draw(bad_station)
        fields = {"station_id"}
    elif how == "time":
        reading["time"] = draw(bad_time)
        fields = {"time"}
    elif how == "missing":
        key = draw(st.sampled_from(["watts", "station_id"]))
        del reading[key]
        fields = {key}
    else:
        key = draw(
            st.text(min_size=1, max_size=8).filter(
                lambda k: k not in ("watts", "station_id", "time", "readings")
            )
        )
        reading[key] = draw(json_values)
        fields = {key, repr(key[:40]), "''"}
    fields.add("body")  # NaN / Infinity are refused by the JSON decoder itself
    if draw(st.booleans()):
        return reading, fields
    before = draw(st.lists(good_reading, max_size=3))
    # distinct stations, so that the good readings cannot collide with each other
    goods: list[dict[str, object]] = [{**r, "station_id": f"g{i}"} for i, r in enumerate(before)]
    index = draw(st.integers(0, len(goods)))
    goods.insert(index, reading)
    return {"readings": goods}, {f"readings[{index}].{f}" for f in fields} | {"body"}


async def _count(store: MeterStore) -> int:
    return len(store.query_readings(None, 1_000_000, 0))


async def test_fuzzed_bodies_over_http(
    hass: HomeAssistant, hass_client_no_auth: Callable[[], Awaitable[Client]]
) -> None:
    """Every refused shape gets a 400 naming a field and stores nothing; nothing else happens."""
    entry = webhook_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    client = await hass_client_no_auth()
    store = await async_get_store(hass)
    loop = asyncio.get_running_loop()

    async def post(raw: bytes) -> tuple[int, dict[str, Any]]:
        response = await client.post(
            f"/api/webhook/{WEBHOOK_ID}", data=raw, headers={"Content-Type": "application/json"}
        )
        return response.status, await response.json()

    def post_sync(body: object) -> tuple[int, dict[str, Any]]:
        raw = json.dumps(body, allow_nan=True).encode()
        return asyncio.run_coroutine_threadsafe(post(raw), loop).result(timeout=10)

    stored = [0]

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(rejected_bodies())
    def refused(case: tuple[object, set[str]]) -> None:
        body, fields = case
        status, answer = post_sync(body)
        assert status == 400, (body, answer)
        assert answer["field"] in fields, (body, answer)
        assert len(store.query_readings(None, 1_000_000, 0)) == stored[0]

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(json_values | st.fixed_dictionaries({"readings": json_values}) | good_reading)
    def anything(body: object) -> None:
        status, answer = post_sync(body)
        assert status in (200, 400), (body, answer)
        if status == 200:
            stored[0] += answer["stored"]
        assert len(store.query_readings(None, 1_000_000, 0)) == stored[0]

    started = time.monotonic()
    await hass.async_add_executor_job(refused)
    await hass.async_add_executor_job(anything)
    assert stored[0] > 0  # the good readings mixed in were all kept
    assert time.monotonic() - started < 60
