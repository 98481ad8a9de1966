"""Validation of power webhook requests: content type, size, JSON shape, values.

Two bodies are accepted (UTF-8 JSON, ``application/json``, ``text/plain`` or no Content-Type at
all, as Arduino's HTTPClient posts unless told otherwise)::

    {"watts": 123.4, "station_id": 1}                       # one reading, now
    {"watts": 123.4, "station_id": "garage", "time": ...}   # one reading, at a past time
    {"readings": [{"watts": 1.5, "station_id": 1, "time": 1767225600}, ...]}

* ``watts``: a finite number (not a boolean) in ``[MIN_WATTS, MAX_WATTS]``.
* ``station_id``: an integer ``0 .. MAX_STATION_INT`` or a short name of 1-32 characters
  ``A-Z a-z 0-9 _ - .``; the integer ``1`` and the name ``"1"`` are the same station.
* ``time`` (optional): unix seconds or an ISO 8601 date-time with a zone, at most
  ``max_past`` seconds before arrival and at most ``MAX_FUTURE_SKEW`` after it, as sent.
  Without ``time`` a reading is taken at the arrival time.
* A batch holds 1 to ``MAX_BATCH`` readings, and no two of the same station at the same time
  (as sent). Several readings of one station without ``time`` are refused, naming the field:
  they would all be taken at the arrival time, and spreading them would invent their spacing.
* A sensor's clock may run a little fast: when a station's readings in one request run past the
  arrival time, all of that station's readings are moved back by the excess, so that its latest
  one is taken at the arrival time and their order and spacing are kept. (A single reading is
  simply taken at the arrival time.)
* Unknown keys, duplicate keys, NaN/Infinity and bodies over ``MAX_BODY_BYTES`` are refused.

Everything is checked before anything is returned: a request is accepted whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
import json
from json.scanner import make_scanner
from math import isfinite
import re
from typing import Final, NoReturn

from .errors import BodyError

MAX_BODY_BYTES: Final = 65_536
MAX_BATCH: Final = 1_000
MIN_WATTS: Final = -100_000.0
MAX_WATTS: Final = 100_000.0
MAX_STATION_INT: Final = 999_999_999
MAX_STATION_LEN: Final = 32
DEFAULT_MAX_PAST: Final = 86_400.0
MAX_FUTURE_SKEW: Final = 30.0
CONTENT_TYPES: Final = frozenset({"application/json", "text/plain"})

_STATION_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_SINGLE_KEYS: Final = frozenset({"watts", "station_id", "time"})
_REQUIRED_KEYS: Final = ("watts", "station_id")


@dataclass(slots=True, frozen=True)
class PowerReading:
    """One validated reading: station, power (W) and time (UTC unix seconds).

    ``sent``: the reading's own ``time`` as the body gave it (None: taken at the arrival time).
    ``time`` is earlier than ``sent`` when the sensor's clock ran fast (see :func:`_shift_back`).
    """

    station_id: str
    watts: float
    time: float
    sent: float | None = None

    @property
    def timed(self) -> bool:
        """Whether the body gave the reading's own time."""
        return self.sent is not None


def check_content_type(header: str | None) -> None:
    """Accept ``application/json`` or ``text/plain`` in UTF-8 (or without a charset), or none.

    No header (Arduino's HTTPClient sends none unless told): the body must still be JSON.
    Raises :class:`BodyError` for any other type or charset.
    """
    if header == "application/json" or header is None or not header.strip():
        return  # the common case first; no Content-Type: parse_body checks it is JSON
    media, _, params = header.partition(";")
    media = media.strip().lower()
    if media not in CONTENT_TYPES:
        raise BodyError(
            "content-type", f"{media[:40]!r} is not accepted; send 'application/json' (or none)"
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise BodyError(
                    "content-type", f"charset {charset[:20]!r} is not accepted; use utf-8"
                )


def check_content_length(length: int | None) -> None:
    """Refuse a declared body size over :data:`MAX_BODY_BYTES` before reading it."""
    if length is not None and length > MAX_BODY_BYTES:
        raise BodyError("body", f"{length} bytes is over the limit of {MAX_BODY_BYTES}")


def parse_body(raw: bytes, *, now: float, max_past: float = DEFAULT_MAX_PAST) -> list[PowerReading]:
    """Decode and validate a request body received at ``now`` (UTC unix seconds).

    Returns the readings in the order sent. Raises :class:`BodyError` naming the first bad field.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise BodyError("body", f"more than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise BodyError("body", "empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyError("body", f"not UTF-8 (byte {err.start})") from None
    try:
        data: object = _decode(text)
    except BodyError:
        raise
    except RecursionError:
        raise BodyError("body", "JSON nested too deeply") from None
    except ValueError as err:
        raise BodyError("body", f"not valid JSON ({_json_problem(err)})") from None
    if not isinstance(data, dict):
        raise BodyError("body", f"must be a JSON object, got {_kind(data)}")
    if "readings" in data:
        extra = sorted(set(data) - {"readings"})
        if extra:
            raise BodyError(_name(extra[0]), "not allowed beside 'readings'")
        return _parse_batch(data["readings"], now=now, max_past=max_past)
    reading = _parse_reading(data, "", now=now, max_past=max_past)
    if reading.time > now:  # a fast clock (within MAX_FUTURE_SKEW): taken on arrival
        return [PowerReading(reading.station_id, reading.watts, now, reading.sent)]
    return [reading]


def parse_station_id(value: object, field: str = "station_id") -> str:
    """The canonical station ID (decimal text for integers); raises :class:`BodyError`."""
    if isinstance(value, bool):
        raise BodyError(field, "must be an integer or a short name, got a boolean")
    if isinstance(value, int):
        if not 0 <= value <= MAX_STATION_INT:
            raise BodyError(field, f"integer must be 0 to {MAX_STATION_INT}")
        return str(value)
    if isinstance(value, str):
        if not _STATION_RE.fullmatch(value):
            raise BodyError(
                field,
                f"must be 1-{MAX_STATION_LEN} characters of A-Z, a-z, 0-9, '_', '-', '.'",
            )
        return value
    raise BodyError(field, f"must be an integer or a short name, got {_kind(value)}")


def _parse_batch(value: object, *, now: float, max_past: float) -> list[PowerReading]:
    if not isinstance(value, list):
        raise BodyError("readings", f"must be a list, got {_kind(value)}")
    if not value:
        raise BodyError("readings", "is empty")
    if len(value) > MAX_BATCH:
        raise BodyError("readings", f"{len(value)} readings is over the limit of {MAX_BATCH}")
    out: list[PowerReading] = []
    seen: dict[tuple[str, float], int] = {}
    ahead = False
    for index, item in enumerate(value):
        where = f"readings[{index}]"
        if not isinstance(item, dict):
            raise BodyError(where, f"must be an object, got {_kind(item)}")
        reading = _parse_reading(item, f"{where}.", now=now, max_past=max_past)
        key = (reading.station_id, reading.time)
        if (first := seen.get(key)) is not None:
            if not reading.timed:
                raise BodyError(
                    f"{where}.time",
                    f"missing: station {reading.station_id!r} has several readings in this "
                    "batch, so each needs its 'time' (unix seconds or ISO 8601 with a zone); "
                    "without one a reading is taken at the arrival time",
                )
            raise BodyError(
                f"{where}.time",
                f"station {reading.station_id!r} already has a reading at this time "
                f"(readings[{first}])",
            )
        seen[key] = index
        ahead = ahead or reading.time > now
        out.append(reading)
    return _shift_back(out, now) if ahead else out


def _shift_back(readings: list[PowerReading], now: float) -> list[PowerReading]:
    """Move each station whose readings run past ``now`` back by its excess (a fast clock).

    The shift is the same for all readings of a station, so their order and spacing stay, and
    two readings of a station can never land on the same time; other stations are untouched.
    """
    excess: dict[str, float] = {}
    for reading in readings:
        if reading.time > now:
            ahead = reading.time - now
            if ahead > excess.get(reading.station_id, 0.0):
                excess[reading.station_id] = ahead
    return [
        r
        if (shift := excess.get(r.station_id)) is None
        else PowerReading(r.station_id, r.watts, min(r.time - shift, now), r.sent)
        for r in readings
    ]


def _parse_reading(
    obj: dict[str, object], prefix: str, *, now: float, max_past: float
) -> PowerReading:
    for key in obj:
        if key not in _SINGLE_KEYS:
            allowed = "watts, station_id, time" + ("" if prefix else "; or readings")
            raise BodyError(prefix + _name(key), f"unknown field (allowed: {allowed})")
    for key in _REQUIRED_KEYS:
        if key not in obj:
            raise BodyError(prefix + key, "missing")
    station = parse_station_id(obj["station_id"], prefix + "station_id")
    watts = _parse_watts(obj["watts"], prefix + "watts")
    raw_time = obj.get("time")
    if raw_time is None:
        return PowerReading(station, watts, now)
    sent = _parse_time(raw_time, prefix + "time", now, max_past)
    return PowerReading(station, watts, sent, sent)


def _parse_watts(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BodyError(field, f"must be a number, got {_kind(value)}")
    try:
        watts = float(value)
    except OverflowError:
        _out_of_range(field)
    if not isfinite(watts) or not MIN_WATTS <= watts <= MAX_WATTS:
        _out_of_range(field)
    return watts


def _out_of_range(field: str) -> NoReturn:
    raise BodyError(field, f"must be between {MIN_WATTS:g} and {MAX_WATTS:g} W")


def _parse_time(value: object, field: str, now: float, max_past: float) -> float:
    if isinstance(value, bool):
        raise BodyError(field, "must be unix seconds or an ISO 8601 date-time, got a boolean")
    if isinstance(value, (int, float)):
        try:
            when = float(value)
        except OverflowError:
            when = float("inf")
        if not isfinite(when):
            raise BodyError(field, "must be a finite number of unix seconds")
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value) if len(value) <= 40 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise BodyError(field, "is not an ISO 8601 date-time")
        if parsed.tzinfo is None:
            raise BodyError(field, "has no time zone (add 'Z' or an offset like '+01:00')")
        when = parsed.timestamp()
    else:
        raise BodyError(field, f"must be unix seconds or an ISO 8601 date-time, got {_kind(value)}")
    if when < now - max_past:
        raise BodyError(field, f"is more than {max_past:g} s in the past")
    if when > now + MAX_FUTURE_SKEW:
        raise BodyError(field, f"is more than {MAX_FUTURE_SKEW:g} s in the future")
    return when  # as sent: a time past ``now`` is moved back once the whole body is read


def _no_duplicates(pairs: Sequence[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise BodyError(_name(key), "appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise BodyError("body", f"{name} is not a JSON number")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
_SCAN: Final = make_scanner(_DECODER)  # type: ignore[arg-type]  # (the stub wants a scanner)


def _decode(text: str) -> object:
    """``_DECODER.decode(text)``, about twice as fast for a body without whitespace around it.

    The scanner alone parses one value from the start; only when that is not the whole text
    (whitespace around it, or not JSON) does the full decoder run, to skip the whitespace or
    explain the error. The scanner's hooks are the decoder's: the same checks either way.
    """
    try:
        data, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    return data if end == len(text) else _DECODER.decode(text)


def _json_problem(err: ValueError) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg} at line {err.lineno} column {err.colno}"
    return "numbers too long" if "digits" in str(err) else "bad value"


def _name(key: str) -> str:
    """A key for an error message: short and printable (it comes from outside)."""
    shown = key if key.isprintable() and len(key) <= 40 else repr(key[:40])
    return shown or "''"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
