"""Spreading integer energy and filling holes in stored window series."""

from __future__ import annotations

import pytest

from custom_components.meterit.metering import (
    InvalidWindowsError,
    Window,
    fill_missing_windows,
    spread,
)
from custom_components.meterit.metering.gapfill import synthetic_window

from .helpers import wh


def test_spread_by_duration_exact() -> None:
    assert spread(100, 0.0, 10.0, [2.0, 7.0]) == [20, 50, 30]
    assert spread(1, 0.0, 3.0, [1.0, 2.0]) == [0, 1, 0]
    assert spread(7, 0.0, 1.0, []) == [7]
    shares = spread(1000, 0.0, 7.0, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert sum(shares) == 1000
    assert max(shares) - min(shares) <= 1
    with pytest.raises(ValueError, match="end > start"):
        spread(1, 5.0, 5.0, [])


def test_synthetic_window_without_energy() -> None:
    w = synthetic_window("s", 300, 600.0, import_wh=None, export_wh=None)
    assert (w.end, w.reading_count, w.energy_kwh, w.w_avg) == (900.0, 0, 0.0, None)
    w2 = synthetic_window("s", 300, 600.0, import_wh=None, export_wh=30)
    assert w2.w_avg == pytest.approx(-360.0)
    assert w2.energy_import_kwh is None


def _w(
    start: float, imp: float | None, exp: float | None = 1.0, res: int = 300, series: str = "s"
) -> Window:
    return Window(series, res, start, start + res, import_kwh=imp, export_kwh=exp, reading_count=5)


def test_fill_missing_windows() -> None:
    out = list(fill_missing_windows([_w(0, 1.0), _w(300, 1.01), _w(1200, 1.05, 1.004)]))
    assert [(w.start, w.reading_count) for w in out] == [
        (0, 5),
        (300, 5),
        (600, 0),
        (900, 0),
        (1200, 5),
    ]
    assert out[0].energy_import_kwh is None
    # 40 Wh over three windows by cumulative rounding: 40/3 -> 13, 80/3 -> 27, 40
    assert [wh(w.energy_import_kwh) for w in out[1:]] == [10, 13, 14, 13]
    assert [wh(w.energy_export_kwh) for w in out[1:]] == [0, 1, 2, 1]
    assert out[2].import_kwh == 1.023
    assert out[3].import_kwh == 1.037


def test_fill_missing_windows_reset_and_unknown() -> None:
    out = list(fill_missing_windows([_w(0, 5.0), _w(900, 1.0, None)]))
    assert [w.energy_import_kwh for w in out] == [None, None, None, None]
    assert all(w.energy_kwh == 0.0 for w in out if w.synthetic)


def test_fill_missing_windows_rejects_bad_order() -> None:
    with pytest.raises(InvalidWindowsError, match="duplicate or out of order"):
        list(fill_missing_windows([_w(300, 1.0), _w(0, 1.0)]))
    with pytest.raises(InvalidWindowsError, match="one series"):
        list(fill_missing_windows([_w(0, 1.0), _w(300, 1.0, series="t")]))
