"""MeterStore prices: upserts, overlapping days, bad price points."""

from __future__ import annotations

import pytest

from custom_components.meterit.metering import InvalidRecordError, MeterStore, PricePoint


def test_prices_upsert_and_overlap(store: MeterStore) -> None:
    points = [
        PricePoint("pen", "pvpc", h * 3600.0, (h + 1) * 3600.0, 0.1 + h / 100) for h in range(4)
    ]
    assert store.write_prices(points) == 4
    store.write_prices([PricePoint("pen", "pvpc", 0.0, 3600.0, 0.5)])
    got = store.query_prices("pen", "pvpc", 1800.0, 7200.0)
    assert [(p.start, p.price) for p in got] == [(0.0, 0.5), (3600.0, points[1].price)]
    assert store.query_prices("pen", "injection", 0, 1e9) == []


@pytest.mark.parametrize(
    ("point", "field"),
    [
        (PricePoint("", "pvpc", 0.0, 1.0, 1.0), "'region'"),
        (PricePoint("pen", "", 0.0, 1.0, 1.0), "'kind'"),
        (PricePoint("pen", "pvpc", 0.0, 1.0, float("nan")), "'price'"),
        (PricePoint("pen", "pvpc", 5.0, 5.0, 1.0), "'end'"),
    ],
)
def test_bad_price_rejected(store: MeterStore, point: PricePoint, field: str) -> None:
    with pytest.raises(InvalidRecordError, match=field):
        store.write_prices([point])
