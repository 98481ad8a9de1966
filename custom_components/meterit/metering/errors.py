"""Exceptions raised by the metering package.

Every error names the field or file and the problem; none carries a secret.
"""

from __future__ import annotations

from math import isfinite


class MeteringError(Exception):
    """Base class of every error raised by :mod:`metering`."""


class InvalidReadingError(MeteringError, ValueError):
    """A reading has a field that is not a finite number (or a bad tariff)."""


class InvalidSnapshotError(MeteringError, ValueError):
    """An aggregator snapshot cannot be restored (wrong shape, type or owner)."""


class InvalidWindowsError(MeteringError, ValueError):
    """Windows passed to a pure function do not fit together (e.g. mixed resolutions)."""


class StoreError(MeteringError):
    """Base class of the SQLite store's errors."""


class StoreCorruptError(StoreError):
    """The store file is not an SQLite database, is damaged, or belongs to something else."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened or written (path, permissions, disk, closed store)."""


class StoreVersionError(StoreError):
    """The store file was written by a newer Meterit (schema version unknown here)."""


class InvalidRecordError(StoreError, ValueError):
    """A row handed to the store has a bad field (not written; nothing else is lost)."""


class InvalidQueryError(StoreError, ValueError):
    """A store query has a bad argument (e.g. an unknown column)."""


class NotAnHwLoggerDatabaseError(MeteringError):
    """The file is not an hwLogger ``meter_data`` database."""


class HwLoggerRowError(NotAnHwLoggerDatabaseError):
    """One row of an hwLogger database has a bad value (row id and column named)."""


def finite(value: object) -> bool:
    """A real number, not a bool, neither infinite nor NaN (what every stored field must be)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and isfinite(value)
