"""Client tests against the fake ESIOS over real loopback sockets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import logging
import random
import socket

import aiohttp
from aiohttp import web
import pytest

from custom_components.meterit.esios import (
    EsiosAuthError,
    EsiosClient,
    EsiosConnectionError,
    EsiosError,
    EsiosTokenRequiredError,
    InvalidPriceDataError,
    PriceKind,
    PricesNotPublishedError,
    Region,
    client as client_module,
    next_fetch_delay,
    publication_time,
)
from simulator.esios import FakeEsios, Fault

from .conftest import TOKEN

ACCEPT = "application/json; application/vnd.esios-api-v1+json"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def make(session: aiohttp.ClientSession, fake: FakeEsios, **kwargs: object) -> EsiosClient:
    return EsiosClient(session, base_url=fake.base_url, **kwargs)  # type: ignore[arg-type]


async def test_indicator_with_token(session: aiohttp.ClientSession, fake_esios: FakeEsios) -> None:
    client = make(session, fake_esios, token=TOKEN)
    day = await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)
    assert day.complete
    assert len(day.periods) == 24
    assert day.price_at(utc(2024, 3, 9, 10)) == pytest.approx(42.83 / 1000)
    [request] = fake_esios.requests
    assert request.path == "/indicators/1001"
    assert request.api_key == TOKEN
    assert request.accept == ACCEPT
    assert request.query["start_date"] == "2024-03-09T00:00"
    assert request.query["end_date"] == "2024-03-09T23:59"


async def test_indicator_25_hours_and_canarias(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    client = make(session, fake_esios, token=TOKEN)
    day = await client.fetch_day(date(2021, 10, 31), Region.BALEARES)
    assert len(day.periods) == 25
    assert day.complete
    canarias = await client.fetch_day(date(2024, 3, 9), Region.CANARIAS)
    assert canarias.periods[0].start == utc(2024, 3, 9, 0)
    assert canarias.price_at(utc(2024, 3, 9, 0)) == pytest.approx(44.98 / 1000)


async def test_surplus_with_token(session: aiohttp.ClientSession, fake_esios: FakeEsios) -> None:
    client = make(session, fake_esios, token=TOKEN)
    day = await client.fetch_day(date(2024, 3, 9), Region.PENINSULA, "surplus")
    assert day.kind is PriceKind.SURPLUS
    assert day.price_at(utc(2024, 3, 8, 23)) == pytest.approx(-1.45 / 1000)
    assert [r.path for r in fake_esios.requests] == ["/indicators/1739"]


async def test_public_file_without_token(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    client = make(session, fake_esios)
    assert not client.has_token
    day = await client.fetch_day(date(2022, 3, 27), Region.PENINSULA)
    assert len(day.periods) == 23
    assert day.complete
    assert day.price_at(utc(2022, 3, 27, 1)) == pytest.approx(104.85 / 1000)
    [request] = fake_esios.requests_to("/archives/70/download_json")
    assert request.query == {"locale": "es", "date": "2022-03-27"}
    assert request.api_key is None
    assert fake_esios.requests_to("/indicators") == []


async def test_surplus_without_token_needs_a_token(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    client = make(session, fake_esios)
    with pytest.raises(EsiosTokenRequiredError, match="needs an ESIOS API token"):
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA, PriceKind.SURPLUS)
    assert issubclass(EsiosTokenRequiredError, EsiosAuthError)
    assert fake_esios.requests == []


async def test_token_rejected(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-token-123"
    client = make(session, fake_esios, token=secret)
    with pytest.raises(EsiosAuthError, match=r"rejected the API token \(HTTP 401\)") as err:
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)
    assert secret not in str(err.value)
    with pytest.raises(EsiosAuthError):
        await client.validate_token()
    assert secret not in repr(client)
    assert "token=set" in repr(client)
    assert secret not in caplog.text
    assert fake_esios.requests[-1].api_key == secret


async def test_token_forbidden(session: aiohttp.ClientSession, fake_esios: FakeEsios) -> None:
    fake_esios.inject(Fault.FORBIDDEN)
    client = make(session, fake_esios, token=TOKEN)
    with pytest.raises(EsiosAuthError, match="HTTP 403"):
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)
    public = make(session, fake_esios)
    with pytest.raises(EsiosConnectionError, match=r"public endpoint refused \(HTTP 403\)"):
        await public.fetch_day(date(2022, 3, 27), Region.PENINSULA)


async def test_validate_token(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make(session, fake_esios, token=f"  {TOKEN} ")
    await client.validate_token()
    [request] = fake_esios.requests
    assert request.path == "/indicators/1001"
    assert request.api_key == TOKEN
    assert TOKEN not in caplog.text
    with pytest.raises(EsiosAuthError, match="no ESIOS API token configured"):
        await make(session, fake_esios, token="  ").validate_token()


async def test_server_error_then_recovery(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    fake_esios.inject(Fault.SERVER_ERROR, count=1)
    client = make(session, fake_esios, token=TOKEN)
    with pytest.raises(EsiosConnectionError, match=r"server error \(HTTP 500\)"):
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)
    day = await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)
    assert day.complete
    assert len(fake_esios.requests) == 2


async def test_timeout(session: aiohttp.ClientSession, fake_esios: FakeEsios) -> None:
    fake_esios.inject(Fault.SLOW)
    fake_esios.slow_seconds = 5
    client = make(session, fake_esios, timeout=0.2)
    with pytest.raises(EsiosConnectionError, match=r"no answer within 0.2 s"):
        await client.fetch_day(date(2022, 3, 27), Region.PENINSULA)


async def test_slow_but_within_timeout(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    fake_esios.inject(Fault.SLOW)
    fake_esios.slow_seconds = 0.05
    day = await make(session, fake_esios).fetch_day(date(2022, 3, 27), Region.PENINSULA)
    assert day.complete


async def test_connection_refused(session: aiohttp.ClientSession, socket_enabled: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = EsiosClient(session, base_url=f"http://127.0.0.1:{port}/", token=TOKEN)
    assert client.base_url == f"http://127.0.0.1:{port}"
    with pytest.raises(EsiosConnectionError, match="ClientConnectorError") as err:
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_empty_and_unknown_days(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, token: str | None
) -> None:
    client = make(session, fake_esios, token=token)
    known = date(2024, 3, 9) if token else date(2022, 3, 27)
    fake_esios.inject(Fault.EMPTY, count=1)
    with pytest.raises(PricesNotPublishedError, match="yet"):
        await client.fetch_day(known, Region.PENINSULA)
    with pytest.raises(PricesNotPublishedError):
        await client.fetch_day(date(2030, 1, 1), Region.PENINSULA)


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_partial_day(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, token: str | None
) -> None:
    client = make(session, fake_esios, token=token)
    known = date(2024, 3, 9) if token else date(2021, 6, 1)
    fake_esios.inject(Fault.PARTIAL)
    day = await client.fetch_day(known, Region.MELILLA)
    assert len(day.periods) == 12
    assert not day.complete


@pytest.mark.parametrize("fault", [Fault.ZIPPED, Fault.WRONG_CONTENT_TYPE])
@pytest.mark.parametrize("token", [TOKEN, None])
async def test_zipped_and_wrong_content_type(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, fault: Fault, token: str | None
) -> None:
    client = make(session, fake_esios, token=token)
    known = date(2021, 10, 31) if token else date(2022, 3, 27)
    expected = await client.fetch_day(known, Region.PENINSULA)
    fake_esios.inject(fault)
    assert await client.fetch_day(known, Region.PENINSULA) == expected


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_garbage(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, token: str | None
) -> None:
    fake_esios.inject(Fault.GARBAGE)
    client = make(session, fake_esios, token=token)
    with pytest.raises(InvalidPriceDataError, match=r": not JSON \(.*starts with '<html>"):
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)


async def test_body_too_large(
    session: aiohttp.ClientSession, fake_esios: FakeEsios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_BODY_BYTES", 1000)
    with pytest.raises(InvalidPriceDataError, match="body larger than 1000 bytes"):
        await make(session, fake_esios).fetch_day(date(2022, 3, 27), Region.PENINSULA)


def test_status_mapping() -> None:
    check = EsiosClient._check_status
    check(200, "/x", auth=True)
    with pytest.raises(PricesNotPublishedError, match="HTTP 404"):
        check(404, "/x", auth=True)
    with pytest.raises(EsiosConnectionError, match="HTTP 429"):
        check(429, "/x", auth=False)
    with pytest.raises(EsiosConnectionError, match="HTTP 503"):
        check(503, "/x", auth=False)
    with pytest.raises(EsiosError, match="unexpected HTTP 418") as err:
        check(418, "/x", auth=True)
    assert type(err.value) is EsiosError
    with pytest.raises(EsiosError, match=r"redirect \(HTTP 302\) not followed") as err:
        check(302, "/x", auth=True)
    assert type(err.value) is EsiosError
    with pytest.raises(EsiosError, match="unexpected HTTP 302"):
        check(302, "/x", auth=False)  # (aiohttp follows public redirects before this)


async def test_token_with_control_characters(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    client = EsiosClient(session, token="abc\ndef", base_url=fake_esios.base_url)
    with pytest.raises(EsiosAuthError, match="control characters") as err:
        await client.validate_token()
    assert "abc" not in str(err.value)
    assert fake_esios.requests == []


async def test_token_not_sent_across_a_redirect(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    """A redirect must not carry ``x-api-key`` to another server; public ones are followed."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{fake_esios.base_url}{request.path_qs}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        with_token = EsiosClient(session, token=TOKEN, base_url=base_url)
        with pytest.raises(EsiosError, match="redirect") as err:
            await with_token.fetch_day(date(2024, 3, 9), Region.PENINSULA)
        assert TOKEN not in str(err.value)
        assert fake_esios.requests == []  # the token never reached the other server
        public = EsiosClient(session, base_url=base_url)
        prices = await public.fetch_day(date(2022, 3, 27), Region.PENINSULA)
        assert prices.day == date(2022, 3, 27)
        assert [r.path for r in fake_esios.requests] == ["/archives/70/download_json"]
    finally:
        await runner.cleanup()


async def test_argument_validation(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="timeout"):
        EsiosClient(session, timeout=0)
    client = EsiosClient(session)
    assert client.base_url == "https://api.esios.ree.es"
    assert repr(client) == (
        "EsiosClient(base_url='https://api.esios.ree.es', token=none, timeout=30.0)"
    )
    with pytest.raises(ValueError, match="kind: expected 'consumer' or 'surplus'"):
        await client.fetch_day(date(2024, 3, 9), Region.PENINSULA, "export")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 3, 9), utc(2024, 3, 8, 19, 15)),  # CET, UTC+1
        (date(2024, 7, 1), utc(2024, 6, 30, 18, 15)),  # CEST, UTC+2
        (date(2024, 4, 1), utc(2024, 3, 31, 18, 15)),  # the day summer time started
        (date(2024, 10, 28), utc(2024, 10, 27, 19, 15)),  # the day it ended
    ],
)
def test_publication_time(day: date, expected: datetime) -> None:
    assert publication_time(day) == expected
    assert publication_time(day).utcoffset() == timedelta(0)


def test_next_fetch_delay() -> None:
    rng = random.Random(1)
    assert next_fetch_delay(0, jitter=0) == 60
    assert next_fetch_delay(3, jitter=0) == 480
    assert next_fetch_delay(10, jitter=0) == 1800
    assert next_fetch_delay(10_000, jitter=0) == 1800
    samples = [next_fetch_delay(0, rng=rng) for _ in range(200)]
    assert all(48 <= s <= 72 for s in samples)
    assert len(set(samples)) > 100  # jittered
    assert all(1440 <= next_fetch_delay(30, rng=rng) <= 1800 for _ in range(100))
    assert 0.8 <= next_fetch_delay(0, base=1, cap=10) <= 1.2
    with pytest.raises(ValueError, match="attempt"):
        next_fetch_delay(-1)
    with pytest.raises(ValueError, match="base/cap"):
        next_fetch_delay(0, base=10, cap=5)
    with pytest.raises(ValueError, match="jitter"):
        next_fetch_delay(0, jitter=1)
