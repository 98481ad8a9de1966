"""Property tests: the parsers only ever raise their two documented errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.meterit.esios import (
    DayPrices,
    InvalidPriceDataError,
    PricesNotPublishedError,
    Region,
    day_bounds,
    parse_indicator,
    parse_public_file,
)

DAY = date(2025, 10, 26)  # a 25-hour day, the hardest one

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
    ),
    max_leaves=30,
)
instants = st.datetimes(
    min_value=datetime(2025, 10, 24),  # noqa: DTZ001
    max_value=datetime(2025, 10, 28),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
hourly = st.integers(min_value=0, max_value=30).map(
    lambda hours: (datetime(2025, 10, 25, 22, tzinfo=UTC) + timedelta(hours=hours)).isoformat()
)
indicator_values = st.lists(
    st.fixed_dictionaries(
        {
            "value": st.one_of(st.floats(-500, 500), scalars),
            "datetime_utc": st.one_of(hourly, hourly, instants, scalars),
            "geo_id": st.one_of(st.sampled_from([3, 8741, 8742, 8745]), scalars),
        },
        optional={"datetime": st.one_of(instants, scalars), "tz_time": st.one_of(hourly, scalars)},
    ),
    max_size=30,
)
clean_values = st.lists(
    st.fixed_dictionaries(
        {
            "value": st.floats(-500, 500),
            "datetime_utc": hourly,
            "geo_id": st.sampled_from([3, 8741, 8742]),
        }
    ),
    max_size=30,
    unique_by=lambda value: (value["datetime_utc"], value["geo_id"]),
)
indicators = st.one_of(
    json_like,
    st.fixed_dictionaries(
        {
            "indicator": st.fixed_dictionaries(
                {"id": st.sampled_from([1001, 1739]), "values": clean_values}
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "indicator": st.fixed_dictionaries(
                {
                    "id": st.one_of(st.sampled_from([1001, 1739]), scalars),
                    "values": st.one_of(indicator_values, json_like),
                },
                optional={"tiempo": json_like},
            )
        }
    ),
)
horas = st.one_of(
    st.integers(min_value=0, max_value=25).map(lambda h: f"{h:02d}-{h + 1:02d}"),
    st.sampled_from(["02-03", "00:00-00:15", "23:45-24:00", "1-2"]),
    scalars,
)
prices = st.one_of(
    st.decimals(min_value=-1000, max_value=1000, places=2).map(lambda d: str(d).replace(".", ",")),
    scalars,
)
clean_rows = st.lists(
    st.integers(min_value=0, max_value=23).map(
        lambda h: {"Dia": "26/10/2025", "Hora": f"{h:02d}-{h + 1:02d}", "PCB": f"{h},5", "CYM": "1"}
    ),
    max_size=26,
)
public_files = st.one_of(
    json_like,
    st.fixed_dictionaries({"PVPC": clean_rows}),
    st.fixed_dictionaries(
        {
            "PVPC": st.lists(
                st.fixed_dictionaries(
                    {
                        "Dia": st.one_of(st.sampled_from(["26/10/2025", "25/10/2025"]), scalars),
                        "Hora": horas,
                        "PCB": prices,
                        "CYM": prices,
                    }
                ),
                max_size=30,
            )
        }
    ),
    st.binary(max_size=200),
)


def check(result: DayPrices, region: Region) -> None:
    start, end = day_bounds(DAY, region)
    assert result.periods[0].start >= start
    assert result.periods[-1].end <= end
    assert result.min <= result.average <= result.max


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=indicators, region=st.sampled_from(Region))
def test_parse_indicator_only_raises_documented_errors(payload: object, region: Region) -> None:
    try:
        result = parse_indicator(payload, region=region, day=DAY)
    except InvalidPriceDataError, PricesNotPublishedError:
        return
    check(result, region)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=public_files, region=st.sampled_from(Region))
def test_parse_public_file_only_raises_documented_errors(payload: object, region: Region) -> None:
    try:
        result = parse_public_file(payload, region=region, day=DAY)
    except InvalidPriceDataError, PricesNotPublishedError:
        return
    check(result, region)
