"""Errors raised by the ESIOS client and parsers.

Messages never contain the API token.
"""

from __future__ import annotations


class EsiosError(Exception):
    """Base class of every ESIOS error."""


class EsiosConnectionError(EsiosError):
    """The server could not be reached, timed out or answered with a transient error (5xx, 429)."""


class EsiosAuthError(EsiosError):
    """The API token was rejected (HTTP 401/403) or a token is required and missing."""


class EsiosTokenRequiredError(EsiosAuthError):
    """The requested data (the surplus price, indicator 1739) is only available with a token."""


class InvalidPriceDataError(EsiosError):
    """The response could not be parsed; the message names the field and the problem."""


class PricesNotPublishedError(EsiosError):
    """The response is well formed but holds no prices for the requested day (not published yet)."""
