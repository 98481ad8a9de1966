"""The ``meterit.import_hwlogger`` action's work: a hwLogger database into a P1 meter's history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from functools import partial
from pathlib import Path

from homeassistant.core import HomeAssistant

from ..const import LOGGER
from ..long_term_statistics import STATISTICS_RESOLUTION
from ..metering import (
    NotAnHwLoggerDatabaseError,
    StoreError,
    Window,
    read_hwlogger_db,
)
from ..p1.history import MeterHistory
from .query import HistoryArgumentError


@dataclass(frozen=True, slots=True)
class HwLoggerImport:
    """What an hwLogger import did."""

    windows: int
    added: int
    first: float | None
    last: float | None
    hours: int


def _read_hwlogger(
    config_dir: str, allowed: Callable[[str], bool], raw_path: str, series: str, tz: tzinfo
) -> list[Window]:
    """Executor: check the path, then read the whole file (nothing is written before)."""
    try:
        path = Path(raw_path).expanduser()  # RuntimeError: "~user" that does not exist
        if not path.is_absolute():
            path = Path(config_dir) / path
        resolved = path.resolve()  # ValueError: a NUL in the path; OSError, RuntimeError: loops
        inside_config = resolved.is_relative_to(Path(config_dir).resolve())
    except OSError, RuntimeError, ValueError:
        problem = "the path cannot be resolved"
        raise HistoryArgumentError(
            "path", "hwlogger_not_a_database", problem, path=raw_path[:200], error=problem
        ) from None
    if not inside_config and not allowed(str(resolved)):
        raise HistoryArgumentError(
            "path",
            "hwlogger_path_not_allowed",
            "the file is neither in the configuration folder nor in an allowed folder",
            path=raw_path[:200],
        )
    try:
        return list(read_hwlogger_db(resolved, series=series, tz=tz, resolution=300))
    except NotAnHwLoggerDatabaseError as err:
        raise HistoryArgumentError(
            "path", "hwlogger_not_a_database", str(err), path=raw_path[:200], error=str(err)
        ) from None


async def async_import_hwlogger(
    hass: HomeAssistant, history: MeterHistory, raw_path: object
) -> HwLoggerImport:
    """Import the 5-minute windows of an hwLogger ``meter_data.db`` into a meter's history.

    Windows already stored from readings are kept (only missing or synthetic ones are added),
    so importing twice changes nothing; the statistics are imported again from the first
    imported hour. A file that is not such a database raises :class:`HistoryArgumentError`
    and nothing is written; an unusable store raises ``StoreError``.
    """
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise HistoryArgumentError("path", "hwlogger_path_missing", "a file path is required")
    store = history.store
    if store is None:
        raise StoreError("the history store is not available")
    windows = await hass.async_add_executor_job(
        _read_hwlogger,
        hass.config.config_dir,
        hass.config.is_allowed_path,
        raw_path.strip(),
        history.series,
        UTC,  # hwLogger's daemon writes naive UTC (datetime.utcnow()), not local time
    )
    added = await hass.async_add_executor_job(partial(store.write_windows, windows, replace=False))
    hours = 0
    if windows and (statistics := history.statistics) is not None:
        statistics.mark(windows[0].start)
        bounds = await hass.async_add_executor_job(
            store.window_range, history.series, STATISTICS_RESOLUTION
        )
        if bounds is not None:
            hours = await statistics.async_import(bounds[1] + STATISTICS_RESOLUTION)
    LOGGER.info(
        "%s: imported %d of %d hwLogger windows, %d hours of statistics",
        history.title,
        added,
        len(windows),
        hours,
    )
    return HwLoggerImport(
        len(windows),
        added,
        windows[0].start if windows else None,
        windows[-1].end if windows else None,
        hours,
    )
