"""Metering: windows, gap filling, hourly statistics and the SQLite store (no Home Assistant).

Readings go into a :class:`WindowAggregator` per series; the windows it closes go to a
:class:`MeterStore` and, per hour, to :func:`hourly_statistics`.
"""

from __future__ import annotations

from .aggregator import WindowAggregator
from .errors import (
    HwLoggerRowError,
    InvalidQueryError,
    InvalidReadingError,
    InvalidRecordError,
    InvalidSnapshotError,
    InvalidWindowsError,
    MeteringError,
    NotAnHwLoggerDatabaseError,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
    StoreVersionError,
)
from .gapfill import fill_missing_windows, spread
from .hwlogger import read_hwlogger_db
from .meterlog import MeterlogRow, PreparedReadings, prepare_reading, prepare_readings
from .models import CounterReset, JsonValue, Reading, Window
from .price_points import PricePoint
from .pricing import HourCost, PriceRef, Unpriced, hourly_costs
from .statistics import HourStat, hourly_statistics
from .store import MeterStore
from .worker import SerialWorker

__all__ = [
    "CounterReset",
    "HourCost",
    "HourStat",
    "HwLoggerRowError",
    "InvalidQueryError",
    "InvalidReadingError",
    "InvalidRecordError",
    "InvalidSnapshotError",
    "InvalidWindowsError",
    "JsonValue",
    "MeterStore",
    "MeteringError",
    "MeterlogRow",
    "NotAnHwLoggerDatabaseError",
    "PreparedReadings",
    "PricePoint",
    "PriceRef",
    "Reading",
    "SerialWorker",
    "StoreCorruptError",
    "StoreError",
    "StoreUnavailableError",
    "StoreVersionError",
    "Unpriced",
    "Window",
    "WindowAggregator",
    "fill_missing_windows",
    "hourly_costs",
    "hourly_statistics",
    "prepare_reading",
    "prepare_readings",
    "read_hwlogger_db",
    "spread",
]
