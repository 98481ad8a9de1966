"""Spanish PVPC electricity prices from REE's ESIOS (no Home Assistant imports).

``EsiosClient.fetch_day`` returns a :class:`DayPrices` for one local day and region; the
parsers can be used on their own for stored or fixture payloads.
"""

from __future__ import annotations

from .client import EsiosClient, next_fetch_delay, publication_time
from .days import PriceData, merge_day
from .errors import (
    EsiosAuthError,
    EsiosConnectionError,
    EsiosError,
    EsiosTokenRequiredError,
    InvalidPriceDataError,
    PricesNotPublishedError,
)
from .models import DayPrices, PriceKind, PricePeriod, Region, day_bounds
from .parser import decode_body, parse_indicator, parse_public_file

__all__ = [
    "DayPrices",
    "EsiosAuthError",
    "EsiosClient",
    "EsiosConnectionError",
    "EsiosError",
    "EsiosTokenRequiredError",
    "InvalidPriceDataError",
    "PriceData",
    "PriceKind",
    "PricePeriod",
    "PricesNotPublishedError",
    "Region",
    "day_bounds",
    "decode_body",
    "merge_day",
    "next_fetch_delay",
    "parse_indicator",
    "parse_public_file",
    "publication_time",
]
