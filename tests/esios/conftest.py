"""Fixtures for the ESIOS tests: the fake server on loopback and an aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from pathlib import Path

import aiohttp
import pytest

from simulator.esios import DEFAULT_TOKEN, FakeEsios

TOKEN = DEFAULT_TOKEN


class Loader:
    """Reads fixture files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, name: str) -> object:
        return json.loads((self.folder / name).read_text())

    def raw(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()


@pytest.fixture
def esios_dir(fixtures_dir: Path) -> Path:
    """The real ESIOS payloads."""
    return fixtures_dir / "esios"


@pytest.fixture
def load(esios_dir: Path) -> Loader:
    """Load a fixture file as JSON."""
    return Loader(esios_dir)


@pytest.fixture
async def fake_esios(socket_enabled: None, esios_dir: Path) -> AsyncGenerator[FakeEsios]:
    """A started fake ESIOS serving the fixture files; stopped at teardown."""
    fake = FakeEsios(esios_dir)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def session(socket_enabled: None) -> AsyncGenerator[aiohttp.ClientSession]:
    """A client session, closed at teardown."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session
