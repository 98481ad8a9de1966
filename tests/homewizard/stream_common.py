"""Shared by the stream tests: a recorder of callbacks, streams on the test's session, waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import logging
import ssl

import aiohttp
import pytest

from custom_components.meterit.homewizard import MeasurementStream, ParsedMeasurement
from simulator.p1_meter import FakeP1Meter

LOGGER_NAME = "custom_components.meterit.homewizard"


@dataclass
class Recorder:
    """Collects what the stream hands to its callbacks."""

    items: list[tuple[ParsedMeasurement, float]] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)
    fail_measurement: bool = False

    def on_measurement(self, parsed: ParsedMeasurement, received: float) -> None:
        self.items.append((parsed, received))
        if self.fail_measurement:
            raise RuntimeError("callback bug")

    def on_connection(self, connected: bool) -> None:
        self.states.append(connected)

    @property
    def powers(self) -> list[float | None]:
        return [parsed.measurement.power_w for parsed, _ in self.items]


# The session of the running test (``stream_session``): streams run on a caller's session.
_SESSIONS: list[aiohttp.ClientSession] = []


@pytest.fixture(autouse=True)
async def stream_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test's streams, like Home Assistant's shared one."""
    async with aiohttp.ClientSession() as http:
        _SESSIONS.append(http)
        yield http
        _SESSIONS.remove(http)


async def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():
            await asyncio.sleep(0.005)


def make_stream(
    host: str,
    port: int,
    token: str,
    identifier: str,
    ctx: ssl.SSLContext,
    recorder: Recorder,
    **kwargs: float,
) -> MeasurementStream:
    options: dict[str, float] = {
        "open_timeout": 1.0,
        "receive_timeout": 5.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
    }
    options.update(kwargs)
    return MeasurementStream(
        _SESSIONS[-1],
        host,
        token,
        port=port,
        identifier=identifier,
        ssl_context=ctx,
        on_measurement=recorder.on_measurement,
        on_connection=recorder.on_connection,
        **options,
    )


@contextlib.asynccontextmanager
async def running(stream: MeasurementStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert not stream.connected


def meter_stream(
    meter: FakeP1Meter, token: str, ctx: ssl.SSLContext, recorder: Recorder, **kwargs: float
) -> MeasurementStream:
    return make_stream(meter.host, meter.port, token, meter.identifier, ctx, recorder, **kwargs)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER_NAME and r.levelno >= logging.WARNING
    ]
