"""Public-file parser on the real payloads and on hand-built ones: number formats, holes."""

from __future__ import annotations

from collections.abc import Mapping
import copy
from datetime import date, timedelta

import pytest

from custom_components.meterit.esios import (
    InvalidPriceDataError,
    PricesNotPublishedError,
    Region,
    parse_indicator,
    parse_public_file,
)

from .conftest import Loader
from .parser_common import HOUR, utc, values_of


def row_of(payload: object, hora: str) -> dict[str, str]:
    assert isinstance(payload, dict)
    rows = [r for r in payload["PVPC"] if r["Hora"] == hora]
    assert len(rows) == 1
    return dict(rows[0])


def comma(text: str) -> float:
    return float(text.replace(",", "."))


# --- public file, real payloads ----------------------------------------------------------------


def test_public_2021_06_01(load: Loader) -> None:
    payload = load("PVPC_CURV_DD_2021_06_01.json")
    peninsula = parse_public_file(payload, region=Region.PENINSULA, day=date(2021, 6, 1))
    ceuta = parse_public_file(payload, region=Region.CEUTA, day=date(2021, 6, 1))
    assert len(peninsula.periods) == 24
    assert peninsula.complete
    assert peninsula.periods[0].start == utc(2021, 5, 31, 22)  # 00:00 CEST
    # Row "00-01" reads PCB "116,33" in the file.
    assert peninsula.periods[0].price == pytest.approx(116.33 / 1000)
    # "12-13" local summer time is 10:00Z.
    row = row_of(payload, "12-13")
    assert peninsula.price_at(utc(2021, 6, 1, 10, 15)) == pytest.approx(comma(row["PCB"]) / 1000)
    assert ceuta.price_at(utc(2021, 6, 1, 10, 15)) == pytest.approx(comma(row["CYM"]) / 1000)
    # Somewhere in that day the two columns differ; each region reads its own column.
    assert isinstance(payload, dict)
    differing = [r for r in payload["PVPC"] if r["PCB"] != r["CYM"]]
    assert differing
    hour = int(differing[0]["Hora"][:2])
    moment = utc(2021, 5, 31, 22) + timedelta(hours=hour)
    assert peninsula.price_at(moment) == pytest.approx(comma(differing[0]["PCB"]) / 1000)
    assert ceuta.price_at(moment) == pytest.approx(comma(differing[0]["CYM"]) / 1000)
    assert peninsula.max != ceuta.max


def test_public_23_hour_day(load: Loader) -> None:
    raw = load.raw("PVPC_CURV_DD_2022_03_27.json")
    day = parse_public_file(raw, region=Region.PENINSULA, day=date(2022, 3, 27))
    assert len(day.periods) == 23
    assert day.complete
    assert day.periods[0].start == utc(2022, 3, 26, 23)
    assert day.periods[-1].end == utc(2022, 3, 27, 22)
    # "01-02" (CET) is 00:00Z: 123,90; the next row "03-04" (CEST) is 01:00Z: 104,85.
    assert day.price_at(utc(2022, 3, 27, 0)) == pytest.approx(123.90 / 1000)
    assert day.price_at(utc(2022, 3, 27, 1)) == pytest.approx(104.85 / 1000)
    assert all(p.duration == HOUR for p in day.periods)


def test_public_canarias_offset(load: Loader) -> None:
    payload = load("PVPC_CURV_DD_2022_03_27.json")
    day = parse_public_file(payload, region=Region.CANARIAS, day=date(2022, 3, 27))
    assert len(day.periods) == 23
    assert day.complete
    # Row "00-01" starts at 00:00 WET = 00:00Z in the islands (23:00Z on the peninsula).
    assert day.periods[0].start == utc(2022, 3, 27, 0)
    assert day.periods[0].price == pytest.approx(171.48 / 1000)
    assert day.periods[-1].end == utc(2022, 3, 27, 23)

    june = parse_public_file(
        load("PVPC_CURV_DD_2021_06_01.json"), region=Region.CANARIAS, day=date(2021, 6, 1)
    )
    # 00:00 WEST in the islands is 23:00Z; 00:00 CEST on the peninsula is 22:00Z.
    assert june.periods[0].start == utc(2021, 5, 31, 23)
    assert june.price_at(utc(2021, 5, 31, 23)) == pytest.approx(116.33 / 1000)


def _public_25_hours(load: Loader) -> tuple[dict[str, object], list[float]]:
    """A 25-hour public file built from the 2021-10-31 indicator payload (PCB = Península)."""
    values = values_of(load("PRICES_ESIOS_1001_2021_10_31.json"), 8741)
    rows = []
    for value in values:
        hour = int(value["datetime"][11:13])
        rows.append(
            {
                "Dia": "31/10/2021",
                "Hora": f"{hour:02d}-{hour + 1:02d}",
                "PCB": f"{value['value']:.2f}".replace(".", ","),
                "CYM": "1,00",
            }
        )
    return {"PVPC": rows}, [v["value"] / 1000 for v in values]


def test_public_25_hour_day_matches_the_indicator(load: Loader) -> None:
    payload, expected = _public_25_hours(load)
    hours = [r["Hora"] for r in payload["PVPC"]]  # type: ignore[attr-defined]
    assert hours.count("02-03") == 2
    day = parse_public_file(payload, region=Region.PENINSULA, day=date(2021, 10, 31))
    assert len(day.periods) == 25
    assert day.complete
    assert [p.price for p in day.periods] == pytest.approx(expected)
    indicator_day = parse_indicator(
        load("PRICES_ESIOS_1001_2021_10_31.json"), region=Region.PENINSULA, day=date(2021, 10, 31)
    )
    assert day.periods == indicator_day.periods
    # First "02-03" is summer time (00:00Z), the second winter time (01:00Z).
    assert day.price_at(utc(2021, 10, 31, 0)) == pytest.approx(109.55 / 1000)
    assert day.price_at(utc(2021, 10, 31, 1)) == pytest.approx(104.85 / 1000)


def test_public_quarter_hours() -> None:
    rows = []
    for i in range(96):
        start, end = i * 15, (i + 1) * 15
        rows.append(
            {
                "Dia": "15/01/2026",
                "Hora": f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}",
                "PCB": str(i),
            }
        )
    day = parse_public_file({"PVPC": rows}, region=Region.BALEARES, day=date(2026, 1, 15))
    assert len(day.periods) == 96
    assert day.complete
    assert day.price_at(utc(2026, 1, 14, 23, 50)) == pytest.approx(3 / 1000)


def test_public_number_formats() -> None:
    def price(text: object) -> float:
        row = {"Dia": "15/01/2026", "Hora": "00-01", "PCB": text}
        day = parse_public_file({"PVPC": [row]}, region=Region.PENINSULA, day=date(2026, 1, 15))
        return day.periods[0].price

    assert price("171,48") == pytest.approx(0.17148)
    assert price("1.234,56") == pytest.approx(1.23456)
    assert price(" -3,5 ") == pytest.approx(-0.0035)
    assert price("171.48") == pytest.approx(0.17148)
    assert price(171.48) == pytest.approx(0.17148)
    assert price(12) == pytest.approx(0.012)


def test_public_rows_of_other_days_dropped(load: Loader) -> None:
    payload = copy.deepcopy(load("PVPC_CURV_DD_2021_06_01.json"))
    assert isinstance(payload, dict)
    payload["PVPC"].append({"Dia": "02/06/2021", "Hora": "00-01", "PCB": "999,00"})
    day = parse_public_file(payload, region=Region.PENINSULA, day=date(2021, 6, 1))
    assert len(day.periods) == 24
    assert day.max < 0.999
    with pytest.raises(PricesNotPublishedError, match="public file: no consumer prices"):
        parse_public_file(payload, region=Region.PENINSULA, day=date(2021, 6, 3))


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_public_blank_price_leaves_out_only_its_hour(load: Loader, blank: object) -> None:
    payload = load("PVPC_CURV_DD_2021_06_01.json")
    assert isinstance(payload, dict)
    blanked = copy.deepcopy(payload)
    (hole,) = [row for row in blanked["PVPC"] if row["Hora"] == "05-06"]
    hole["PCB"] = blank
    day = parse_public_file(blanked, region=Region.PENINSULA, day=date(2021, 6, 1))
    assert not day.complete  # fetched again later
    assert len(day.periods) == 23
    assert all(p.end - p.start == timedelta(hours=1) for p in day.periods)
    assert day.price_at(utc(2021, 6, 1, 3, 30)) is None  # 05:30 CEST
    assert day.price_at(utc(2021, 6, 1, 4, 30)) == pytest.approx(
        comma(row_of(payload, "06-07")["PCB"]) / 1000
    )
    # Ceuta reads its own column, which is intact
    assert parse_public_file(blanked, region=Region.CEUTA, day=date(2021, 6, 1)).complete


def test_public_only_blank_prices_are_not_published() -> None:
    with pytest.raises(PricesNotPublishedError):
        parse_public_file(
            _rows({**ROW, "PCB": None}), region=Region.PENINSULA, day=date(2026, 1, 15)
        )


def test_public_empty() -> None:
    with pytest.raises(PricesNotPublishedError, match="yet"):
        parse_public_file({"PVPC": []}, region=Region.PENINSULA, day=date(2026, 1, 15))


def _rows(*rows: Mapping[str, object]) -> dict[str, object]:
    return {"PVPC": list(rows)}


ROW: dict[str, object] = {"Dia": "15/01/2026", "Hora": "00-01", "PCB": "1,0", "CYM": "1,0"}


@pytest.mark.parametrize(
    ("payload", "message", "day"),
    [
        ([1], "public file: expected an object, got an array", None),
        ({}, "^PVPC: missing$", None),
        ({"PVPC": "x"}, "PVPC: expected an array, got 'x'", None),
        (
            _rows(
                *[{**ROW, "Hora": f"{h:02d}-{h + 1:02d}"} for h in range(3)],
                {**ROW, "Hora": "03-04", "PCB": "12,a"},
            ),
            r"^PVPC\[3\]\.PCB: not a number \('12,a'\)$",
            None,
        ),
        (_rows({**ROW, "PCB": "NaN"}), r"PVPC\[0\]\.PCB: not a number \('NaN'\)", None),
        (_rows({"Dia": "15/01/2026", "Hora": "00-01"}), r"PVPC\[0\]\.PCB: missing", None),
        (
            _rows({**ROW, "Dia": "2026-01-15"}),
            r"PVPC\[0\]\.Dia: not a date dd/mm/yyyy \('2026-01-15'\)",
            None,
        ),
        (_rows({**ROW, "Dia": 15}), r"PVPC\[0\]\.Dia: not a date dd/mm/yyyy \(15\)", None),
        (_rows({**ROW, "Dia": "15/01/1800"}), r"PVPC\[0\]\.Dia: date out of range", None),
        (
            _rows({**ROW, "Hora": "ab"}),
            r"PVPC\[0\]\.Hora: not a local time range like '00-01' \('ab'\)",
            None,
        ),
        (_rows({**ROW, "Hora": 1}), r"PVPC\[0\]\.Hora: not a local time range", None),
        (
            _rows({**ROW, "Hora": "24-25"}),
            r"PVPC\[0\]\.Hora: not a valid range within one day",
            None,
        ),
        (_rows({**ROW, "Hora": "01-01"}), r"PVPC\[0\]\.Hora: not a valid range", None),
        (_rows({**ROW, "Hora": "00:75-01:00"}), r"PVPC\[0\]\.Hora: not a valid range", None),
        (_rows(ROW, ROW), r"PVPC\[1\]\.Hora: duplicate local time 00:00 on 2026-01-15", None),
        (
            _rows({**ROW, "Dia": "27/03/2022", "Hora": "02-03"}),
            r"PVPC\[0\]\.Hora: 02:00 does not exist on 2022-03-27",
            date(2022, 3, 27),
        ),
        (
            _rows(*[{**ROW, "Dia": "31/10/2021", "Hora": "02-03"}] * 3),
            r"PVPC\[2\]\.Hora: duplicate local time 02:00 on 2021-10-31",
            date(2021, 10, 31),
        ),
        (
            _rows({**ROW, "Hora": "00:00-01:00"}, {**ROW, "Hora": "00:30-01:30"}),
            "PVPC: overlapping periods",
            None,
        ),
        (
            _rows({**ROW, "Hora": "00-01"}, {**ROW, "Hora": "01:00-01:15"}),
            "PVPC: periods of different lengths",
            None,
        ),
    ],
)
def test_public_invalid(payload: object, message: str, day: date | None) -> None:
    with pytest.raises(InvalidPriceDataError, match=message):
        parse_public_file(payload, region=Region.PENINSULA, day=day or date(2026, 1, 15))
