"""The REST client against the fake meter, over real TLS on loopback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
import ssl

import aiohttp
from aiohttp import web
import pytest

from custom_components.meterit.homewizard import (
    CertificateError,
    ConnectionFailedError,
    DeviceApiError,
    HomeWizardClient,
    InvalidResponseError,
    RegistrationNotEnabledError,
    UnauthorizedError,
    UnsupportedDeviceError,
    create_ssl_context,
)
from simulator.certs import TestCA, make_test_ca
from simulator.p1_meter import FakeP1Meter

from .conftest import load_json


def _client(
    session: aiohttp.ClientSession,
    meter: FakeP1Meter,
    ctx: ssl.SSLContext,
    *,
    token: str | None = None,
    identifier: str | None = "default",
    timeout: float = 2.0,
) -> HomeWizardClient:
    return HomeWizardClient(
        session,
        meter.host,
        port=meter.port,
        identifier=meter.identifier if identifier == "default" else identifier,
        token=token,
        ssl_context=ctx,
        timeout=timeout,
    )


async def test_device_measurement_system(
    client: HomeWizardClient, meter: FakeP1Meter, hw_fixtures: Path
) -> None:
    device = await client.device()
    assert device.serial == meter.serial
    assert device.product_type == "HWE-P1"
    assert device.api_version.startswith("2.")
    assert device.identifier == meter.identifier == f"appliance/p1dongle/{meter.serial}"

    raw = load_json(hw_fixtures / "measurement_3_phase_with_gas_with_watermeter.json")
    meter.measurement = raw
    parsed = await client.measurement()
    assert parsed.problems == ()
    assert parsed.measurement.power_w == raw["power_w"]
    assert parsed.measurement.energy_import_kwh == raw["energy_import_kwh"]
    assert len(parsed.measurement.external) == 2

    meter.system_info = load_json(hw_fixtures / "system.json")
    system = await client.system()
    assert system.wifi_ssid == meter.system_info["wifi_ssid"]
    assert system.wifi_rssi_db == meter.system_info["wifi_rssi_db"]
    assert system.uptime_s == meter.system_info["uptime_s"]
    assert system.cloud_enabled is meter.system_info["cloud_enabled"]

    await client.identify()
    await client.identify()
    assert meter.identify_count == 2


async def test_device_without_token_means_v2(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext
) -> None:
    anonymous = _client(session, meter, client_ssl)
    with pytest.raises(UnauthorizedError, match="401"):
        await anonymous.device()
    meter.api_requires_token = False
    assert (await anonymous.device()).serial == meter.serial


async def test_first_probe_without_identity(
    session: aiohttp.ClientSession, meter: FakeP1Meter, test_ca: TestCA
) -> None:
    """Before the identifier is known the chain is still verified, the name is not."""
    meter.api_requires_token = False
    probe = _client(
        session, meter, create_ssl_context(test_ca.cadata, verify_identity=False), identifier=None
    )
    assert (await probe.device()).identifier == meter.identifier
    stranger = _client(
        session,
        meter,
        create_ssl_context(make_test_ca().cadata, verify_identity=False),
        identifier=None,
    )
    with pytest.raises(CertificateError, match="not signed by the trusted"):
        await stranger.device()


async def test_unsupported_api_version(
    session: aiohttp.ClientSession,
    test_ca: TestCA,
    client_ssl: ssl.SSLContext,
    socket_enabled: None,
) -> None:
    async with FakeP1Meter(ca=test_ca, api_version="1.5.0", api_requires_token=False) as old:
        with pytest.raises(UnsupportedDeviceError, match=r"'1\.5\.0'"):
            await _client(session, old, client_ssl).device()


async def test_registration_button_flow(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext
) -> None:
    fresh = _client(session, meter, client_ssl)
    with pytest.raises(RegistrationNotEnabledError, match="press the button"):
        await fresh.register("home assistant")
    assert meter.users == {}
    meter.press_button()
    token = await fresh.register("home assistant")
    assert meter.users == {"local/home assistant": token}
    assert fresh.has_token
    assert (await fresh.measurement()).measurement.power_w is not None
    assert token not in repr(fresh)

    # re-using the name revokes the first token
    other = _client(session, meter, client_ssl)
    second = await other.register("home assistant")
    assert second != token
    with pytest.raises(UnauthorizedError):
        await fresh.measurement()
    assert (await other.system()).wifi_ssid is not None

    await other.delete_user("home assistant")
    assert meter.users == {}
    with pytest.raises(UnauthorizedError):
        await other.system()


async def test_registration_window_expires(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext
) -> None:
    meter.press_window = 0.05
    meter.press_button()
    await asyncio.sleep(0.1)
    with pytest.raises(RegistrationNotEnabledError):
        await _client(session, meter, client_ssl).register("late")


async def test_auto_press(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext
) -> None:
    meter.auto_press_after = 0.1
    fresh = _client(session, meter, client_ssl)
    with pytest.raises(RegistrationNotEnabledError):
        await fresh.register("auto")
    await asyncio.sleep(0.15)
    token = await fresh.register("auto")
    assert len(token) == 32
    assert meter.users == {"local/auto": token}


@pytest.mark.parametrize(
    "name",
    ["", "x" * 41, "bad\nname", "ümlaut", "semi;colon"],
)
async def test_register_rejects_bad_names_locally(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext, name: str
) -> None:
    meter.press_button()
    with pytest.raises(ValueError, match="user name"):
        await _client(session, meter, client_ssl).register(name)
    assert meter.users == {}


@pytest.mark.parametrize("name", ["a", "x" * 40, "my-home_1/#2 b", "back\\slash"])
async def test_register_accepts_valid_names(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext, name: str
) -> None:
    meter.press_button()
    token = await _client(session, meter, client_ssl).register(name)
    assert meter.users == {f"local/{name}": token}


async def test_revoked_token(client: HomeWizardClient, meter: FakeP1Meter, token: str) -> None:
    await client.system()
    meter.revoke(token)
    with pytest.raises(UnauthorizedError) as err:
        await client.system()
    assert token not in str(err.value)


async def test_wrong_ca(session: aiohttp.ClientSession, meter: FakeP1Meter, token: str) -> None:
    stranger = _client(session, meter, create_ssl_context(make_test_ca().cadata), token=token)
    with pytest.raises(CertificateError, match="not signed by the trusted HomeWizard CA"):
        await stranger.device()
    homewizard = _client(session, meter, create_ssl_context(), token=token)
    with pytest.raises(CertificateError, match="not signed"):
        await homewizard.device()


async def test_wrong_cn(
    session: aiohttp.ClientSession,
    test_ca: TestCA,
    client_ssl: ssl.SSLContext,
    socket_enabled: None,
) -> None:
    async with FakeP1Meter(ca=test_ca, certificate_cn="appliance/p1dongle/000000000000") as evil:
        tok = evil.issue_token("x")
        with pytest.raises(CertificateError, match="not for the expected device") as err:
            await _client(session, evil, client_ssl, token=tok).device()
        assert evil.identifier in str(err.value)
        assert tok not in str(err.value)


async def test_connection_refused(
    session: aiohttp.ClientSession,
    client_ssl: ssl.SSLContext,
    socket_enabled: None,
    test_ca: TestCA,
) -> None:
    meter = FakeP1Meter(ca=test_ca)
    await meter.start()
    await meter.stop()  # the port is free now
    with pytest.raises(ConnectionFailedError) as err:
        await _client(session, meter, client_ssl).device()
    assert not isinstance(err.value, CertificateError)


async def test_silent_device_times_out(
    session: aiohttp.ClientSession,
    client_ssl: ssl.SSLContext,
    socket_enabled: None,
    test_ca: TestCA,
) -> None:
    async with FakeP1Meter(ca=test_ca, silent=True) as silent:
        with pytest.raises(ConnectionFailedError, match=r"no answer within 0\.2 s"):
            await _client(session, silent, client_ssl, timeout=0.2).device()
        assert silent.tcp_connections_total == 1


async def test_ipv6_host_is_bracketed(
    session: aiohttp.ClientSession, client_ssl: ssl.SSLContext
) -> None:
    client = HomeWizardClient(session, "fe80::1", ssl_context=client_ssl, token="SECRET")
    assert str(client._base) == "https://[fe80::1]"
    assert "SECRET" not in repr(client)
    assert client.host == "fe80::1"


class _Plain:
    """A plain aiohttp server to send responses the meter never would."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> _Plain:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=self.status, body=self.body, content_type=self.content_type)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        ca = _PLAIN_CA
        site = web.TCPSite(
            self.runner, "127.0.0.1", 0, ssl_context=ca.server_ssl_context("appliance/p1dongle/x")
        )
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def client(self, session: aiohttp.ClientSession) -> HomeWizardClient:
        return HomeWizardClient(
            session,
            "127.0.0.1",
            port=self.port,
            identifier="appliance/p1dongle/x",
            token="T",
            ssl_context=create_ssl_context(_PLAIN_CA.cadata),
            timeout=2,
        )


_PLAIN_CA = make_test_ca()


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (200, b"not json", InvalidResponseError, "not JSON"),
        (200, b"[1, 2]", InvalidResponseError, "expected an object"),
        (200, b'{"serial": "x"}', InvalidResponseError, "'product_name' is missing"),
        (404, b"404: Not Found", UnsupportedDeviceError, "404"),
        (500, b'{"error": "system:busy"}', DeviceApiError, "system:busy"),
        (502, b"<html>", DeviceApiError, "http:502"),
        (200, b"x" * ((1 << 20) + 10), InvalidResponseError, "larger than"),
        (200, b"[" * 100_000, InvalidResponseError, "not JSON"),
        (500, b'{"error": "' + b"x" * 500 + b'"}', DeviceApiError, "http:500"),
    ],
    ids=[
        "not-json",
        "list",
        "missing-field",
        "404",
        "error-code",
        "html-502",
        "huge",
        "deep",
        "long-code",
    ],
)
async def test_bad_responses(
    *,
    session: aiohttp.ClientSession,
    socket_enabled: None,
    status: int,
    body: bytes,
    error: type[Exception],
    match: str,
) -> None:
    async with _Plain(status, body) as plain:
        with pytest.raises(error, match=match):
            await plain.client(session).device()


async def test_device_api_error_code_and_bad_token_body(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async with _Plain(400, b'{"error": "user:name-invalid"}') as plain:
        with pytest.raises(DeviceApiError) as err:
            await plain.client(session).register("ok")
        assert err.value.code == "user:name-invalid"
    async with _Plain(200, b'{"name": "local/ok"}') as plain:
        with pytest.raises(InvalidResponseError, match="no string 'token'"):
            await plain.client(session).register("ok")


async def test_token_never_logged(
    client: HomeWizardClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.device()
    await client.measurement()
    assert caplog.records, "the client should log its requests at debug level"
    assert token not in caplog.text


async def test_tls_handshake_failure(
    session: aiohttp.ClientSession, client_ssl: ssl.SSLContext, socket_enabled: None
) -> None:
    """A server that answers in clear text: a TLS error that is not about the certificate."""

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        client = HomeWizardClient(
            session,
            "127.0.0.1",
            port=port,
            identifier="appliance/p1dongle/x",
            ssl_context=client_ssl,
        )
        with pytest.raises(ConnectionFailedError):
            await client.device()
    finally:
        server.close()
        await server.wait_closed()
