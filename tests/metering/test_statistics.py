"""Hourly statistics from windows."""

from __future__ import annotations

import pytest

from custom_components.meterit.metering import InvalidWindowsError, Window, hourly_statistics

H = 1_782_000_000.0  # an hour boundary


def w(start: float, imp: float | None = None, exp: float | None = None, **kw: object) -> Window:
    return Window(
        "s",
        300,
        start,
        start + 300,
        energy_import_kwh=imp,
        energy_export_kwh=exp,
        **kw,  # type: ignore[arg-type]
    )


def test_hand_computed_hours() -> None:
    windows = [
        w(H + 3600, 0.5, 0.0, w_avg=100.0, w_min=50.0, w_max=300.0, reading_count=3),
        w(H, 0.1, 0.2, w_avg=1000.0, w_min=-10.0, w_max=2000.0, reading_count=3),
        w(H + 300, 0.3, 0.0, w_avg=2000.0),  # synthetic: its average bounds the hour too
        w(H + 600, 0.001, 0.002),  # no power
        w(H + 900, None, 0.0),  # export counter only
    ]
    first, second = hourly_statistics(windows, import_base=10.0, export_base=1.0)
    assert first.start == H
    assert second.start == H + 3600
    assert first.import_kwh == pytest.approx(0.401)
    assert first.export_kwh == pytest.approx(0.202)
    assert first.power_mean == pytest.approx(1500.0)
    assert (first.power_min, first.power_max) == (-10.0, 2000.0)
    assert second.import_sum == pytest.approx(10.901)
    assert second.export_sum == pytest.approx(1.202)
    assert (second.power_mean, second.power_min, second.power_max) == (100.0, 50.0, 300.0)


def test_webhook_windows_use_integrated_energy() -> None:
    stats = hourly_statistics([w(H, energy_kwh=0.25), w(H + 300, energy_kwh=-0.05), w(H + 600)])
    [hour] = stats
    assert (hour.import_kwh, hour.export_kwh, hour.power_mean) == (0.25, 0.05, None)


def test_exact_over_a_year() -> None:
    windows = [w(H + 300 * k, 0.001 * (k % 7)) for k in range(105_120)]
    stats = hourly_statistics(windows)
    assert len(stats) == 8760
    expected_wh = sum(k % 7 for k in range(105_120))
    assert round(stats[-1].import_sum * 1000) == expected_wh
    assert stats[-1].import_sum == expected_wh / 1000


def test_rejects_mixed_or_odd_resolutions() -> None:
    with pytest.raises(InvalidWindowsError, match="one resolution"):
        hourly_statistics([w(H), Window("s", 30, H, H + 30)])
    with pytest.raises(InvalidWindowsError, match="divide an hour"):
        hourly_statistics([Window("s", 7, H, H + 7)])
    assert hourly_statistics([]) == []


def test_hours_without_counter_data_are_unknown_not_zero() -> None:
    """An hour whose windows carry no counter energy has no energy; the sums go on past it."""
    windows = [
        w(H, 0.2, 0.1, w_avg=100.0),
        w(H + 3600, w_avg=50.0),  # power only: the counters were missing all hour
        w(H + 3900, w_avg=60.0),
        w(H + 7200, 0.3, None, w_avg=80.0),  # import only
    ]
    first, silent, last = hourly_statistics(windows, import_base=5.0, export_base=1.0)
    assert (silent.import_kwh, silent.export_kwh) == (None, None)
    assert silent.power_mean == pytest.approx(55.0)
    assert silent.import_sum == first.import_sum
    assert silent.export_sum == first.export_sum
    assert last.import_kwh == pytest.approx(0.3)
    assert last.export_kwh is None
    assert last.import_sum == pytest.approx(5.0 + 0.2 + 0.3)
    assert last.export_sum == pytest.approx(1.0 + 0.1)
