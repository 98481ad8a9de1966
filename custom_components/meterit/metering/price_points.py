"""Price periods as the store keeps them: one row per region, kind and start."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    InvalidRecordError,
    finite,
)


@dataclass(slots=True, frozen=True)
class PricePoint:
    """One price period ``[start, end)`` (UTC unix seconds) of a region and kind."""

    region: str
    kind: str
    start: float
    end: float
    price: float


def _price_values(index: int, p: PricePoint) -> tuple[str, str, float, float, float]:
    for name in ("region", "kind"):
        value = getattr(p, name)
        if not isinstance(value, str) or not value:
            raise InvalidRecordError(f"price {index}: field {name!r} must be non-empty")
    for name in ("start", "end", "price"):
        if not finite(getattr(p, name)):
            raise InvalidRecordError(
                f"price {index}: field {name!r} must be finite: {getattr(p, name)!r}"
            )
    if p.end <= p.start:
        raise InvalidRecordError(
            f"price {index}: 'end' {p.end!r} must be after 'start' {p.start!r}"
        )
    return (p.region, p.kind, p.start, p.end, p.price)
