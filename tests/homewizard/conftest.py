"""Fixtures for the HA-free HomeWizard client: a fake P1 meter over real TLS on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from pathlib import Path
import ssl

import aiohttp
import pytest

from custom_components.meterit.homewizard import HomeWizardClient, create_ssl_context
from simulator.certs import TestCA, make_test_ca
from simulator.p1_meter import FakeP1Meter


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """One CA for the whole session (meters issue their own certificates from it)."""
    return make_test_ca()


@pytest.fixture
def hw_fixtures(fixtures_dir: Path) -> Path:
    """The real HomeWizard v2 payloads."""
    return fixtures_dir / "homewizard-v2"


def load_json(path: Path) -> dict[str, object]:
    """Read one fixture file."""
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
async def meter(socket_enabled: None, test_ca: TestCA) -> AsyncIterator[FakeP1Meter]:
    """A running fake P1 meter."""
    async with FakeP1Meter(ca=test_ca) as running:
        yield running


@pytest.fixture
def client_ssl(test_ca: TestCA) -> ssl.SSLContext:
    """The client context trusting the test CA, verifying the identity."""
    return create_ssl_context(test_ca.cadata)


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session owned by the test."""
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def token(meter: FakeP1Meter) -> str:
    """A registered token."""
    return meter.issue_token("tests")


@pytest.fixture
def client(
    session: aiohttp.ClientSession, meter: FakeP1Meter, client_ssl: ssl.SSLContext, token: str
) -> HomeWizardClient:
    """An authorized client of ``meter``."""
    return HomeWizardClient(
        session,
        meter.host,
        port=meter.port,
        identifier=meter.identifier,
        token=token,
        ssl_context=client_ssl,
        timeout=2.0,
    )
