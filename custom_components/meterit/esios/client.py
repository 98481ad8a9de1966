"""Async client for PVPC prices: the ESIOS indicators API (token) or the public daily file.

The caller owns the ``aiohttp.ClientSession`` (Home Assistant's shared one). The token is sent
only in the ``x-api-key`` header and never appears in logs, exception messages or ``repr``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
import logging
import random
from typing import Final

import aiohttp

from .errors import (
    EsiosAuthError,
    EsiosConnectionError,
    EsiosError,
    EsiosTokenRequiredError,
    InvalidPriceDataError,
    PricesNotPublishedError,
)
from .models import MADRID_TZ, DayPrices, PriceKind, Region
from .parser import (
    INDICATOR_CONSUMER,
    INDICATOR_SURPLUS,
    MAX_BODY_BYTES,
    decode_body,
    parse_indicator,
    parse_public_file,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.esios.ree.es"
ACCEPT_HEADER: Final = "application/json; application/vnd.esios-api-v1+json"
PUBLICATION_LOCAL_TIME: Final = time(20, 15)
"""Next-day PVPC prices are published around 20:15 Europe/Madrid."""

_INDICATOR_BY_KIND = {PriceKind.CONSUMER: INDICATOR_CONSUMER, PriceKind.SURPLUS: INDICATOR_SURPLUS}
_RNG = random.Random()  # noqa: S311 - jitter, not cryptography


def publication_time(day: date) -> datetime:
    """When ``day``'s prices are expected: the previous day at 20:15 Europe/Madrid, in UTC."""
    return datetime.combine(day - timedelta(days=1), PUBLICATION_LOCAL_TIME, MADRID_TZ).astimezone(
        UTC
    )


def next_fetch_delay(
    attempt: int,
    *,
    base: float = 60.0,
    cap: float = 1800.0,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): exponential, jittered, capped.

    ``base * 2**attempt`` limited to ``cap``, then multiplied by a random factor in
    ``[1 - jitter, 1 + jitter]``, never above ``cap`` nor below ``base * (1 - jitter)``.
    """
    if attempt < 0:
        raise ValueError(f"attempt: must be >= 0, got {attempt}")
    if not 0 < base <= cap:
        raise ValueError(f"base/cap: need 0 < base <= cap, got base={base}, cap={cap}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter: must be in [0, 1), got {jitter}")
    exponent = min(attempt, 64)
    delay = min(cap, base * 2.0**exponent)
    factor = (rng or _RNG).uniform(1 - jitter, 1 + jitter)
    return min(cap, delay * factor)


class EsiosClient:
    """Fetch one day of PVPC prices from ESIOS.

    With a token: the indicators API (1001 consumer, 1739 surplus). Without a token: the public
    daily file, which only carries the consumer price; asking for the surplus price without a
    token raises :class:`EsiosTokenRequiredError` (a subclass of :class:`EsiosAuthError`)
    before any request is made.

    Errors: timeouts, connection failures, HTTP 429 and 5xx -> :class:`EsiosConnectionError`;
    HTTP 401/403 with a token -> :class:`EsiosAuthError` (without a token they are treated as a
    refusal of the public endpoint, :class:`EsiosConnectionError`); HTTP 404 or no values for
    the day -> :class:`PricesNotPublishedError`; any other HTTP error -> :class:`EsiosError`;
    an unparsable body -> :class:`InvalidPriceDataError`. A day with only some periods is
    returned with ``complete`` False so the caller can keep retrying.
    """

    __slots__ = ("_base_url", "_session", "_timeout", "_token")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0, got {timeout}")
        self._session = session
        self._token = token.strip() if token and token.strip() else None
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        token = "set" if self._token else "none"
        return f"EsiosClient(base_url={self._base_url!r}, token={token}, timeout={self._timeout})"

    @property
    def has_token(self) -> bool:
        """Whether an API token is configured (the indicators API is used)."""
        return self._token is not None

    @property
    def base_url(self) -> str:
        """Base URL of the ESIOS API."""
        return self._base_url

    async def fetch_day(
        self, day: date, region: Region, kind: PriceKind | str = PriceKind.CONSUMER
    ) -> DayPrices:
        """Fetch the prices of local ``day`` for ``region`` (``kind``: consumer or surplus)."""
        try:
            price_kind = PriceKind(kind)
        except ValueError:
            raise ValueError(f"kind: expected 'consumer' or 'surplus', got {kind!r}") from None
        if self._token is None:
            if price_kind is PriceKind.SURPLUS:
                raise EsiosTokenRequiredError(
                    "the surplus price (indicator 1739) needs an ESIOS API token; "
                    "the public file only has the consumer price"
                )
            body = await self._get(
                "/archives/70/download_json",
                {"locale": "es", "date": day.isoformat()},
                auth=False,
            )
            return parse_public_file(decode_body(body, "public file"), region=region, day=day)
        indicator = _INDICATOR_BY_KIND[price_kind]
        body = await self._get(
            f"/indicators/{indicator}",
            {
                "start_date": f"{day.isoformat()}T00:00",
                "end_date": f"{day.isoformat()}T23:59",
            },
            auth=True,
        )
        payload = decode_body(body, f"indicator {indicator}")
        return parse_indicator(payload, region=region, day=day, kind=price_kind)

    async def validate_token(self) -> None:
        """Check the token with a small indicators request; raise EsiosAuthError if rejected."""
        if self._token is None:
            raise EsiosAuthError("no ESIOS API token configured")
        today = datetime.now(MADRID_TZ).date().isoformat()
        await self._get(
            f"/indicators/{INDICATOR_CONSUMER}",
            {"start_date": f"{today}T00:00", "end_date": f"{today}T00:59"},
            auth=True,
        )

    def _headers(self, *, auth: bool) -> dict[str, str]:
        headers = {"Accept": ACCEPT_HEADER, "Content-Type": "application/json"}
        if auth and self._token is not None:
            if any(ord(char) < 0x20 or ord(char) == 0x7F for char in self._token):
                # aiohttp would raise a bare ValueError (header injection guard)
                raise EsiosAuthError("the API token contains control characters (a line break?)")
            headers["x-api-key"] = self._token
        return headers

    async def _get(self, path: str, params: dict[str, str], *, auth: bool) -> bytes:
        """GET ``path`` and return the body; map every failure to an EsiosError."""
        url = f"{self._base_url}{path}"
        try:
            async with self._session.get(
                url,
                params=params,
                headers=self._headers(auth=auth),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                # aiohttp drops only Authorization on a cross-host redirect, not x-api-key
                allow_redirects=not auth,
            ) as response:
                self._check_status(response.status, path, auth=auth)
                return await _read_limited(response, path)
        except TimeoutError:
            raise EsiosConnectionError(
                f"ESIOS {path}: no answer within {self._timeout:g} s"
            ) from None
        except aiohttp.ClientError as err:
            raise EsiosConnectionError(f"ESIOS {path}: {type(err).__name__}: {err}") from None

    @staticmethod
    def _check_status(status: int, path: str, *, auth: bool) -> None:
        if status < 300:
            return
        if status in (401, 403):
            if auth:
                raise EsiosAuthError(f"ESIOS rejected the API token (HTTP {status})")
            raise EsiosConnectionError(f"ESIOS {path}: public endpoint refused (HTTP {status})")
        if status < 400 and auth:
            raise EsiosError(f"ESIOS {path}: redirect (HTTP {status}) not followed with the token")
        if status == 404:
            raise PricesNotPublishedError(f"ESIOS {path}: not found (HTTP 404)")
        if status == 429 or status >= 500:
            raise EsiosConnectionError(f"ESIOS {path}: server error (HTTP {status})")
        raise EsiosError(f"ESIOS {path}: unexpected HTTP {status}")


async def _read_limited(response: aiohttp.ClientResponse, path: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidPriceDataError(f"ESIOS {path}: body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    _LOGGER.debug("ESIOS %s: %d bytes", path, size)
    return b"".join(chunks)
