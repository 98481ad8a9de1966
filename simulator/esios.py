"""A fake ESIOS server on loopback: indicators API and public daily file, with fault injection.

It serves the real payloads in the fixture folder (``PRICES_ESIOS_<id>_<YYYY>_<MM>_<DD>.json``
for ``/indicators/<id>``, ``PVPC_CURV_DD_<YYYY>_<MM>_<DD>.json`` for
``/archives/70/download_json``) plus any payload added with :meth:`FakeEsios.add_indicator` /
:meth:`FakeEsios.add_public_file`. Unknown days get an empty answer (``values: []`` /
``PVPC: []``), as ESIOS does before publication; with ``moved_days`` (``--moved-days``), days
up to tomorrow get the newest stored day's prices moved onto them instead.

Development: ``python -m simulator.esios --port 8081 --moved-days`` (``scripts/develop`` runs it
and sets ``METERIT_ESIOS_BASE_URL=http://127.0.0.1:8081``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterable, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
import io
import json
from pathlib import Path
import re
from typing import Any
import zipfile

from aiohttp import web

from .esios_days import MADRID, indicator_on, public_file_on

DEFAULT_TOKEN = "fake-esios-token"  # noqa: S105 - the fake's own test token
DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "esios"

_INDICATOR_FILE = re.compile(r"^PRICES_ESIOS_(\d+)_(\d{4})_(\d{2})_(\d{2})\.json$")
_PUBLIC_FILE = re.compile(r"^PVPC_CURV_DD_(\d{4})_(\d{2})_(\d{2})\.json$")
_PARTIAL_KEEP = 12


class Fault(StrEnum):
    """A fault the fake injects into its answers."""

    SERVER_ERROR = "server_error"
    """HTTP 500."""
    FORBIDDEN = "forbidden"
    """HTTP 403 (ESIOS's answer to a revoked token)."""
    SLOW = "slow"
    """Wait ``slow_seconds`` before answering (client timeouts)."""
    EMPTY = "empty"
    """No values (``values: []`` / ``PVPC: []``): not published yet."""
    PARTIAL = "partial"
    """Only the first 12 values per geo (or rows): a day being published."""
    ZIPPED = "zipped"
    """The JSON inside a zip archive, ``application/zip``."""
    WRONG_CONTENT_TYPE = "wrong_content_type"
    """The JSON served as ``text/html``."""
    GARBAGE = "garbage"
    """An HTML error page with status 200."""


@dataclass(slots=True, frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    api_key: str | None
    accept: str | None


@dataclass(slots=True)
class FakeEsios:
    """Fake ESIOS on ``host`` (127.0.0.1), port 0 = any free port; ``start()`` / ``stop()``."""

    fixtures_dir: Path
    valid_token: str = DEFAULT_TOKEN
    host: str = "127.0.0.1"
    port: int = 0
    fault: Fault | None = None
    fault_count: int | None = None
    """How many more requests get ``fault`` (None = all); then the fake answers normally."""
    slow_seconds: float = 5.0
    moved_days: bool = False
    """Days without a payload of their own, up to tomorrow, get the newest stored day's prices."""
    today: Callable[[], date] = field(default=lambda: datetime.now(MADRID).date())
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    _indicators: dict[tuple[int, date], object] = field(default_factory=dict, init=False)
    _public: dict[date, object] = field(default_factory=dict, init=False)
    _runner: web.AppRunner | None = field(default=None, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self) -> None:
        for path in sorted(self.fixtures_dir.glob("*.json")):
            if match := _INDICATOR_FILE.match(path.name):
                indicator, year, month, day = (int(part) for part in match.groups())
                self._indicators[indicator, date(year, month, day)] = json.loads(path.read_text())
            elif match := _PUBLIC_FILE.match(path.name):
                year, month, day = (int(part) for part in match.groups())
                self._public[date(year, month, day)] = json.loads(path.read_text())

    def add_indicator(self, indicator: int, day: date, payload: object) -> None:
        """Serve ``payload`` for ``/indicators/<indicator>`` on ``day``."""
        self._indicators[indicator, day] = payload

    def add_public_file(self, day: date, payload: object) -> None:
        """Serve ``payload`` for the public file of ``day``."""
        self._public[day] = payload

    def inject(self, fault: Fault | None, *, count: int | None = None) -> None:
        """Inject ``fault`` into the next ``count`` requests (None: until changed)."""
        self.fault = fault
        self.fault_count = count

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._runner is None:
            raise RuntimeError("FakeEsios is not started")
        return f"http://{self.host}:{self.port}"

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """The recorded requests whose path starts with ``path_prefix``."""
        return [request for request in self.requests if request.path.startswith(path_prefix)]

    async def start(self) -> None:
        """Start listening; ``port`` is updated with the bound port."""
        app = web.Application()
        app.router.add_get("/indicators/{indicator}", self._handle_indicator)
        app.router.add_get("/archives/70/download_json", self._handle_public)
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        sockets = runner.addresses
        self.port = int(sockets[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Stop the server and release slow handlers."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _record(self, request: web.Request) -> None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                api_key=request.headers.get("x-api-key"),
                accept=request.headers.get("Accept"),
            )
        )

    def _take_fault(self) -> Fault | None:
        fault = self.fault
        if fault is not None and self.fault_count is not None:
            self.fault_count -= 1
            if self.fault_count <= 0:
                self.fault, self.fault_count = None, None
        return fault

    async def _handle_indicator(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if request.headers.get("x-api-key") != self.valid_token:
            return web.json_response({"message": "HTTP Token: Access denied."}, status=401)
        try:
            indicator = int(request.match_info["indicator"])
            day = datetime.strptime(request.query["start_date"][:10], "%Y-%m-%d").date()  # noqa: DTZ007
        except KeyError, ValueError:
            return web.json_response({"message": "bad indicator or start_date"}, status=400)
        payload = self._indicators.get((indicator, day))
        if payload is None and (
            template := self._template(
                ((d, p) for (i, d), p in self._indicators.items() if i == indicator), day
            )
        ):
            payload = indicator_on(template, day)
        if payload is None:
            payload = {"indicator": {"id": indicator, "values": []}}
        geo_ids = {int(g) for g in request.query.getall("geo_ids[]", []) if g.isdigit()}
        fault = self._take_fault()
        payload = _transform_indicator(payload, geo_ids, fault)
        return await self._answer(payload, fault, "indicator.json")

    async def _handle_public(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        try:
            day = date.fromisoformat(request.query["date"])
        except KeyError, ValueError:
            return web.json_response({"message": "bad date"}, status=400)
        payload = self._public.get(day)
        if payload is None and (template := self._template(self._public.items(), day)):
            payload = public_file_on(template, day)
        if payload is None:
            payload = {"PVPC": []}
        fault = self._take_fault()
        if fault is Fault.EMPTY:
            payload = {"PVPC": []}
        elif fault is Fault.PARTIAL and isinstance(payload, dict):
            rows = payload.get("PVPC")
            payload = {"PVPC": rows[:_PARTIAL_KEEP] if isinstance(rows, list) else rows}
        return await self._answer(payload, fault, f"PVPC_CURV_DD_{day:%Y_%m_%d}.json")

    def _template(self, stored: Iterable[tuple[date, object]], day: date) -> Any:
        """With ``moved_days``, the newest stored payload to move onto ``day`` (or None)."""
        if not self.moved_days or day > self.today() + timedelta(days=1):
            return None
        newest = max(stored, key=lambda item: item[0], default=None)
        return None if newest is None else newest[1]

    async def _answer(self, payload: object, fault: Fault | None, name: str) -> web.StreamResponse:
        body = json.dumps(payload).encode()
        match fault:
            case Fault.SERVER_ERROR:
                return web.Response(status=500, text="Internal Server Error")
            case Fault.FORBIDDEN:
                return web.json_response({"message": "Forbidden"}, status=403)
            case Fault.SLOW:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.slow_seconds)
                return web.Response(body=body, content_type="application/json")
            case Fault.ZIPPED:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    archive.writestr(name, body)
                return web.Response(body=buffer.getvalue(), content_type="application/zip")
            case Fault.WRONG_CONTENT_TYPE:
                return web.Response(body=body, content_type="text/html")
            case Fault.GARBAGE:
                return web.Response(
                    text="<html><body>Service temporarily unavailable</body></html>",
                    content_type="text/html",
                )
            case _:
                return web.Response(body=body, content_type="application/json")


def _transform_indicator(payload: object, geo_ids: set[int], fault: Fault | None) -> object:
    """Apply the ``geo_ids[]`` filter and the EMPTY / PARTIAL faults to an indicator payload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("indicator"), dict):
        return payload
    indicator = dict(payload["indicator"])
    values = indicator.get("values")
    if not isinstance(values, list):
        return payload
    if geo_ids:
        values = [v for v in values if isinstance(v, dict) and v.get("geo_id") in geo_ids]
    if fault is Fault.EMPTY:
        values = []
    elif fault is Fault.PARTIAL:
        seen: dict[object, int] = {}
        kept = []
        for value in values:
            geo = value.get("geo_id") if isinstance(value, dict) else None
            seen[geo] = seen.get(geo, 0) + 1
            if seen[geo] <= _PARTIAL_KEEP:
                kept.append(value)
        values = kept
    indicator["values"] = values
    return {**payload, "indicator": indicator}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator.esios", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the API token the fake accepts")
    parser.add_argument("--fault", choices=[fault.value for fault in Fault], default=None)
    parser.add_argument(
        "--moved-days",
        action="store_true",
        help="serve the newest fixture day's prices for any day up to tomorrow",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, stop: asyncio.Event) -> FakeEsios:
    """Run the fake from CLI arguments until ``stop`` is set; return it (stopped)."""
    fake = FakeEsios(
        args.fixtures,
        valid_token=args.token,
        host=args.host,
        port=args.port,
        moved_days=args.moved_days,
    )
    fake.inject(Fault(args.fault) if args.fault else None)
    await fake.start()
    print(f"Fake ESIOS on {fake.base_url} (fixtures: {args.fixtures})", flush=True)
    try:
        await stop.wait()
    finally:
        await fake.stop()
    return fake


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - interactive
    """Command-line entry point: serve until interrupted."""
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args, asyncio.Event()))


if __name__ == "__main__":
    main()
