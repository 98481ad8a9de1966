"""Power webhooks: request validation and per-station integration (no Home Assistant).

:func:`parse_body` turns a request body into :class:`PowerReading` objects or raises a
:class:`BodyError` that names the field and the problem; :class:`StationMeter` integrates a
station's readings into energy and cost.
"""

from __future__ import annotations

from .body import (
    DEFAULT_MAX_PAST,
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_FUTURE_SKEW,
    MAX_WATTS,
    MIN_WATTS,
    PowerReading,
    check_content_length,
    check_content_type,
    parse_body,
    parse_station_id,
)
from .errors import BodyError, InvalidStationStateError, PowerhookError
from .station import StationMeter

__all__ = [
    "DEFAULT_MAX_PAST",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_FUTURE_SKEW",
    "MAX_WATTS",
    "MIN_WATTS",
    "BodyError",
    "InvalidStationStateError",
    "PowerReading",
    "PowerhookError",
    "StationMeter",
    "check_content_length",
    "check_content_type",
    "parse_body",
    "parse_station_id",
]
