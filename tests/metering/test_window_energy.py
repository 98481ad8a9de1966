"""window_energy: a window's import and export as the hourly statistics count them."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.meterit.metering import Window, hourly_statistics
from custom_components.meterit.metering.statistics import window_energy

H = 1_700_000_000 - 1_700_000_000 % 3600


def test_counters_win_over_integrated_energy() -> None:
    assert window_energy(0.004, 0.001, 0.5) == (0.004, 0.001)
    assert window_energy(0.004, None, -0.5) == (0.004, None)
    assert window_energy(None, 0.002, 0.5) == (None, 0.002)


def test_integrated_energy_by_sign() -> None:
    assert window_energy(None, None, 0.25) == (0.25, 0.0)
    assert window_energy(None, None, -0.05) == (0.0, 0.05)
    assert window_energy(None, None, 0.0) == (0.0, 0.0)
    assert window_energy(None, None, None) == (None, None)


finite = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)


@given(st.lists(st.one_of(st.none(), finite), min_size=1, max_size=12))
def test_hours_are_the_sum_of_their_windows(energies: list[float | None]) -> None:
    """An hour's import/export is the sum of its windows' window_energy (a station's windows)."""
    windows = [
        Window("station:x", 300, H + k * 300, H + k * 300 + 300, energy_kwh=e)
        for k, e in enumerate(energies)
    ]
    (hour,) = hourly_statistics(windows)
    parts = [window_energy(None, None, e) for e in energies]
    rounding = len(energies) * 1e-9  # the hours count in micro-Wh
    if all(e is None for e in energies):  # no energy at all is unknown, not zero
        assert (hour.import_kwh, hour.export_kwh) == (None, None)
        return
    assert hour.import_kwh is not None
    assert hour.export_kwh is not None
    assert hour.import_kwh == pytest.approx(sum(i or 0.0 for i, _ in parts), abs=rounding)
    assert hour.export_kwh == pytest.approx(sum(x or 0.0 for _, x in parts), abs=rounding)
    assert hour.import_kwh >= 0
    assert hour.export_kwh >= 0
