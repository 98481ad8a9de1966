"""Parsers for ESIOS indicator responses and the public daily PVPC file.

Both parsers return a :class:`DayPrices` for one local day and raise only
:class:`InvalidPriceDataError` (malformed payload; the message names the field and the problem)
or :class:`PricesNotPublishedError` (well formed, but no prices for that day yet).

Canary Islands: REE publishes one series for the peninsula and the islands, labelled with
peninsula (Europe/Madrid) hours, and the islands pay the price of the same *local* hour (the
public file's ``PCB`` column is shared by both, and the 2.0TD periods follow local time). Since
the islands are always exactly one hour behind the peninsula (both switch summer time at
01:00 UTC), the Canarias series is the peninsula series shifted one hour later in UTC. Hour
``00-01`` of the file starts at 00:00 Atlantic/Canary, and the shifted day covers exactly the
Canarias local day (23 or 25 hours on the same Sundays as the peninsula).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
import io
from itertools import pairwise
import json
import math
import re
import zipfile
import zlib

from .errors import InvalidPriceDataError, PricesNotPublishedError
from .models import (
    CANARY_SHIFT,
    MADRID_TZ,
    PVPC_LAST_DAY,
    DayPrices,
    PriceKind,
    PricePeriod,
    Region,
    day_bounds,
)

INDICATOR_CONSUMER = 1001
"""ESIOS indicator of the PVPC 2.0TD active energy price."""
INDICATOR_SURPLUS = 1739
"""ESIOS indicator of the surplus (exported) energy price."""
GEO_ID_SPAIN = 3
"""ESIOS ``geo_id`` of the whole of Spain (the only geo of indicator 1739)."""

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest (decompressed) body accepted; a day of prices is a few tens of kilobytes."""

_KIND_BY_INDICATOR = {INDICATOR_CONSUMER: PriceKind.CONSUMER, INDICATOR_SURPLUS: PriceKind.SURPLUS}
_MIN_YEAR = 2000
_MAX_YEAR = PVPC_LAST_DAY.year
_HOUR = timedelta(hours=1)
_HORA_RE = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")
_PLAIN_NUMBER_RE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_GROUPED_NUMBER_RE = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+,\d+$")
_QUARTER_HOUR_HINTS = ("quince", "15", "fifteen", "quarter", "cuarto")


def _fail(path: str, problem: str) -> InvalidPriceDataError:
    return InvalidPriceDataError(f"{path}: {problem}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _describe(value: object) -> str:
    """Describe a wrong value briefly: its type and, for scalars, its (shortened) repr."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return _show(value)


def _mapping(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected an object, got {_describe(value)}")
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _fail(path, f"expected an array, got {_describe(value)}")
    return value


def _field(container: Mapping[str, object], key: str, path: str) -> object:
    if key not in container:
        raise _fail(f"{path}.{key}" if path else key, "missing")
    return container[key]


def _finite(value: float, path: str, original: object) -> float:
    if not math.isfinite(value):
        raise _fail(path, f"not a finite number ({_show(original)})")
    return value


def _json_number(value: object, path: str) -> float:
    """Return a finite JSON number (bools excluded) as float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"not a number ({_describe(value)})")
    try:
        number = float(value)
    except OverflowError:
        raise _fail(path, f"number out of range ({_show(value)})") from None
    return _finite(number, path, value)


def _decimal(value: object, path: str) -> float:
    """Parse a number written with a decimal comma ("171,48", "1.234,56") or a JSON number."""
    if isinstance(value, str):
        text = value.strip()
        if _GROUPED_NUMBER_RE.match(text):
            text = text.replace(".", "")
        elif not _PLAIN_NUMBER_RE.match(text):
            raise _fail(path, f"not a number ({_show(value)})")
        return _finite(float(text.replace(",", ".")), path, value)
    return _json_number(value, path)


def _per_kwh(per_mwh: float) -> float:
    """Convert €/MWh to €/kWh, rounded to 9 decimals to drop binary noise (46.81 -> 0.04681)."""
    return round(per_mwh / 1000, 9)


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"not an integer ({_describe(value)})")
    return value


def _in_range(moment: datetime, path: str, original: object) -> datetime:
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        raise _fail(path, f"date out of range ({_show(original)})")
    return moment


def _instant(value: object, path: str) -> datetime:
    """Parse an ISO 8601 instant with a zone ("2021-10-30T22:00:00Z") to UTC."""
    if not isinstance(value, str):
        raise _fail(path, f"not a date-time string ({_describe(value)})")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _fail(path, f"not an ISO 8601 date-time ({_show(value)})") from None
    if parsed.utcoffset() is None:
        raise _fail(path, f"date-time without a time zone ({_show(value)})")
    _in_range(parsed, path, value)
    return parsed.astimezone(UTC)


def _optional_instant(value: object) -> datetime | None:
    try:
        return _instant(value, "")
    except InvalidPriceDataError:
        return None


def _value_instant(item: Mapping[str, object], path: str) -> datetime:
    """Return the instant of an indicator value, keyed by ``datetime_utc``.

    ESIOS has been seen to repeat ``datetime_utc`` on the second 02:00 of a 25-hour day (the
    real 2021-10-31 response labels both 02:00+02:00 and 02:00+01:00 as 00:00Z) while
    ``datetime`` and ``tz_time`` are right. When both of those agree with each other and
    disagree with ``datetime_utc``, they win; otherwise ``datetime_utc`` is used as is.
    """
    primary = _instant(_field(item, "datetime_utc", path), f"{path}.datetime_utc")
    local = _optional_instant(item.get("datetime"))
    tz_time = _optional_instant(item.get("tz_time"))
    if local is not None and local == tz_time and local != primary:
        return local
    return primary


def _day_window(region: Region, day: date) -> tuple[datetime, datetime]:
    if not _MIN_YEAR <= day.year <= _MAX_YEAR:
        raise ValueError(f"day: {day.isoformat()} is out of range")
    return day_bounds(day, region)


def _build_day(
    starts: dict[datetime, float],
    spacing: timedelta,
    *,
    region: Region,
    day: date,
    kind: PriceKind,
    source: str,
) -> DayPrices:
    """Shift (Canarias), clip to the local day and assemble; empty -> PricesNotPublishedError."""
    shift = CANARY_SHIFT if region is Region.CANARIAS else timedelta(0)
    day_start, day_end = _day_window(region, day)
    periods = []
    for start in sorted(starts):
        begin = start + shift
        if day_start <= begin < day_end:
            periods.append(PricePeriod(begin, min(begin + spacing, day_end), starts[start]))
    if not periods:
        raise PricesNotPublishedError(
            f"{source}: no {kind} prices for {region} on {day.isoformat()} "
            f"({len(starts)} value(s) outside that day)"
            if starts
            else f"{source}: no {kind} prices for {region} on {day.isoformat()} yet"
        )
    return DayPrices(day=day, region=region, kind=kind, periods=tuple(periods))


def _default_spacing(indicator: Mapping[str, object]) -> timedelta:
    """Spacing when a single value gives none: 15 min if ``tiempo`` says so, else one hour."""
    tiempo = indicator.get("tiempo")
    if isinstance(tiempo, list):
        for entry in tiempo:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if isinstance(name, str) and any(h in name.lower() for h in _QUARTER_HOUR_HINTS):
                return timedelta(minutes=15)
    return _HOUR


def parse_indicator(
    payload: object,
    *,
    region: Region,
    day: date,
    kind: PriceKind | str | None = None,
) -> DayPrices:
    """Parse an ESIOS ``/indicators/<id>`` response into the prices of ``day`` in ``region``.

    Indicator 1001 (consumer) is filtered by the region's ``geo_id``; indicator 1739 (surplus)
    has only ``geo_id`` 3 (Spain), used for every region. Values are keyed by ``datetime_utc``,
    converted from €/MWh to €/kWh (negative prices kept); a period lasts the spacing of the
    values (hourly or quarter-hourly), the last one too. Values outside the local day are
    dropped; a repeated instant is rejected. A ``null`` value (ESIOS has no price for that
    period) leaves only that period out: the day is then not ``complete``. If ``kind`` is given,
    the payload's indicator must be the one for that kind.
    """
    root = _mapping(payload, "payload")
    indicator = _mapping(_field(root, "indicator", ""), "indicator")
    indicator_id = _int(_field(indicator, "id", "indicator"), "indicator.id")
    found_kind = _KIND_BY_INDICATOR.get(indicator_id)
    if found_kind is None:
        raise _fail("indicator.id", f"unsupported indicator {indicator_id} (expected 1001 or 1739)")
    if kind is not None and PriceKind(kind) is not found_kind:
        raise _fail("indicator.id", f"got indicator {indicator_id}, expected the {kind} price")
    geo_id = region.geo_id if found_kind is PriceKind.CONSUMER else GEO_ID_SPAIN
    values = _list(_field(indicator, "values", "indicator"), "indicator.values")

    starts: dict[datetime, float] = {}
    missing: set[datetime] = set()  # null values: no price, but they still set the spacing
    for index, raw in enumerate(values):
        path = f"indicator.values[{index}]"
        item = _mapping(raw, path)
        if _int(_field(item, "geo_id", path), f"{path}.geo_id") != geo_id:
            continue
        value = _field(item, "value", path)
        price = None if value is None else _per_kwh(_json_number(value, f"{path}.value"))
        start = _value_instant(item, path)
        if start in starts or start in missing:
            raise _fail(f"{path}.datetime_utc", f"duplicate instant {start.isoformat()}")
        if price is None:
            missing.add(start)
        else:
            starts[start] = price

    ordered = sorted(starts.keys() | missing)
    gaps = [later - earlier for earlier, later in pairwise(ordered)]
    spacing = min(gaps) if gaps else _default_spacing(indicator)
    return _build_day(
        starts,
        spacing,
        region=region,
        day=day,
        kind=found_kind,
        source=f"indicator {indicator_id}",
    )


def decode_body(body: bytes, what: str = "response") -> object:
    """Decode a response body: JSON text (any content type), or a zip/gzip archive holding it."""
    if not body.strip():
        raise InvalidPriceDataError(f"{what}: empty body")
    if body.startswith(b"PK\x03\x04"):
        body = _unzip(body, what)
    elif body.startswith(b"\x1f\x8b"):
        body = _gunzip(body, what)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidPriceDataError(f"{what}: not UTF-8 text ({_show(body[:40])})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidPriceDataError(
            f"{what}: not JSON ({err.msg} at line {err.lineno} column {err.colno}; "
            f"starts with {_show(text.lstrip()[:40])})"
        ) from None
    except RecursionError:
        raise InvalidPriceDataError(f"{what}: JSON nested too deeply") from None
    except ValueError as err:  # e.g. an integer longer than Python's 4300-digit limit
        raise InvalidPriceDataError(f"{what}: not JSON ({err})") from None


def _unzip(body: bytes, what: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            json_members = [info for info in members if info.filename.lower().endswith(".json")]
            candidates = json_members or members
            if not candidates:
                raise InvalidPriceDataError(f"{what}: zip archive holds no file")
            chosen = candidates[0]
            if chosen.file_size > MAX_BODY_BYTES:
                raise InvalidPriceDataError(
                    f"{what}: {chosen.filename} in the zip archive is too large "
                    f"({chosen.file_size} bytes)"
                )
            # zipfile never returns more than the declared size (it fails the CRC instead).
            with archive.open(chosen) as member:
                return member.read()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as err:
        raise InvalidPriceDataError(f"{what}: broken zip archive ({err})") from None


def _gunzip(body: bytes, what: str) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as err:
        raise InvalidPriceDataError(f"{what}: broken gzip data ({err})") from None
    if len(data) > MAX_BODY_BYTES:
        raise InvalidPriceDataError(f"{what}: gzip data too large when decompressed")
    return data


def _parse_dia(value: object, path: str) -> date:
    if not isinstance(value, str):
        raise _fail(path, f"not a date dd/mm/yyyy ({_describe(value)})")
    try:
        parsed = datetime.strptime(value.strip(), "%d/%m/%Y").date()  # noqa: DTZ007
    except ValueError:
        raise _fail(path, f"not a date dd/mm/yyyy ({_show(value)})") from None
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        raise _fail(path, f"date out of range ({_show(value)})")
    return parsed


def _parse_hora(value: object, path: str) -> tuple[int, int]:
    """Parse ``"00-01"`` or ``"00:15-00:30"`` to (start, end) minutes after local midnight."""
    match = _HORA_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(path, f"not a local time range like '00-01' ({_describe(value)})")
    start_h, start_m, end_h, end_m = match.groups()
    start = int(start_h) * 60 + int(start_m or 0)
    end = int(end_h) * 60 + int(end_m or 0)
    if int(start_m or 0) >= 60 or int(end_m or 0) >= 60 or not 0 <= start < end <= 24 * 60:
        raise _fail(path, f"not a valid range within one day ({_show(value)})")
    return start, end


def _localize(day: date, minutes: int, occurrence: int, path: str) -> datetime:
    """Europe/Madrid wall time -> UTC; a repeated (fall-back) time is CEST first, CET second."""
    naive = datetime.combine(day, time(0)) + timedelta(minutes=minutes)
    first = naive.replace(tzinfo=MADRID_TZ, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=MADRID_TZ, fold=1).astimezone(UTC)
    if first.astimezone(MADRID_TZ).replace(tzinfo=None) != naive:
        raise _fail(path, f"{naive:%H:%M} does not exist on {day.isoformat()} (clocks go forward)")
    if occurrence == 0:
        return first
    if occurrence == 1 and second != first:
        return second
    raise _fail(path, f"duplicate local time {naive:%H:%M} on {day.isoformat()}")


def parse_public_file(payload: object | bytes, *, region: Region, day: date) -> DayPrices:
    """Parse the public daily file (``/archives/70/download_json``) for ``day`` in ``region``.

    Accepts the decoded JSON or the raw body (JSON with any content type, or a zip/gzip archive
    holding it). Prices use a decimal comma and €/MWh; column ``PCB`` or ``CYM`` by region.
    ``Hora`` is a Europe/Madrid local range: a 23-hour day has no ``02-03``, a 25-hour day has it
    twice (first summer time, then winter time). Rows of other days are dropped. Canarias: the
    same local hour, i.e. the series one hour later in UTC (see the module docstring). A row
    with an empty or ``null`` price leaves only that period out, as in :func:`parse_indicator`.
    """
    if isinstance(payload, bytes | bytearray | memoryview):
        payload = decode_body(bytes(payload), "public file")
    root = _mapping(payload, "public file")
    rows = _list(_field(root, "PVPC", ""), "PVPC")
    column = region.public_file_column

    starts: dict[datetime, float] = {}
    lengths: dict[datetime, timedelta] = {}
    occurrences: dict[int, int] = {}
    for index, raw in enumerate(rows):
        path = f"PVPC[{index}]"
        row = _mapping(raw, path)
        if _parse_dia(_field(row, "Dia", path), f"{path}.Dia") != day:
            continue
        first_minute, last_minute = _parse_hora(_field(row, "Hora", path), f"{path}.Hora")
        value = _field(row, column, path)
        occurrence = occurrences.get(first_minute, 0)
        occurrences[first_minute] = occurrence + 1
        start = _localize(day, first_minute, occurrence, f"{path}.Hora")
        lengths[start] = timedelta(minutes=last_minute - first_minute)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # no price for this period: left out (the day is then not complete)
        starts[start] = _per_kwh(_decimal(value, f"{path}.{column}"))

    ordered = sorted(lengths)
    for earlier, later in pairwise(ordered):
        if earlier + lengths[earlier] > later:
            raise _fail("PVPC", f"overlapping periods at {later.isoformat()}")
    spacing = min(lengths.values(), default=_HOUR)
    if any(length != spacing for length in lengths.values()):
        raise _fail("PVPC", "periods of different lengths in one file")
    return _build_day(
        starts, spacing, region=region, day=day, kind=PriceKind.CONSUMER, source="public file"
    )


__all__ = [
    "GEO_ID_SPAIN",
    "INDICATOR_CONSUMER",
    "INDICATOR_SURPLUS",
    "MAX_BODY_BYTES",
    "decode_body",
    "parse_indicator",
    "parse_public_file",
]
