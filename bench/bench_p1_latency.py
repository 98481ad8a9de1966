"""P1 push latency benchmark: meter send -> ``state_changed`` of the power sensor in Home Assistant.

Run: ``.venv/bin/python bench/bench_p1_latency.py [--slow 60] [--fast 1000]``

Setup (nothing mocked):

* The meter is ``simulator.p1_meter.FakeP1Meter`` (real TLS on 127.0.0.1, API v2 REST and
  WebSocket) in a child process of its own, as a real meter is a device of its own: the child and
  Home Assistant do not share an event loop or the GIL.
* Home Assistant is real and in-process: ``homeassistant.bootstrap.async_setup_hass`` on a
  temporary config directory (``http`` on a free loopback port, ``recorder`` on SQLite), with
  ``custom_components/meterit`` linked into it. The P1 entry is created through Meterit's real
  config flow (menu ``p1`` -> host -> button press, which the simulator makes at once).
  ``METERIT_P1_EXTRA_CA_FILE`` points at the simulator's CA.

Each push carries a distinct ``power_w``. Latency = ``time.time()`` in a ``state_changed``
listener for ``sensor.<meter>_power`` minus the ``time.time()`` that ``FakeP1Meter.push()``
returned just before sending (same host clock, two processes). Rates: 1 Hz (``--slow`` pushes)
and 50 Hz (``--fast`` pushes). Percentiles are nearest-rank.

Baseline: Home Assistant's core ``homewizard`` integration polls every ``UPDATE_INTERVAL``
(read from ``homeassistant.components.homewizard.const``), so for a value that appears at a
uniformly random moment the push->state latency is uniform on [0, UPDATE_INTERVAL]: the q-quantile
is ``q * UPDATE_INTERVAL`` (plus its request time, ignored here in the baseline's favour).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
import shutil
import socket
import sys
import tempfile
import threading
import time
from typing import Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# ruff: noqa: E402 (the imports below need ROOT on sys.path)
from homeassistant import bootstrap
from homeassistant.components.homewizard.const import UPDATE_INTERVAL
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import EVENT_STATE_CHANGED, __version__ as ha_version
from homeassistant.core import Event, EventStateChangedData, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.runner import RuntimeConfig

from custom_components.meterit.const import DOMAIN, ENV_EXTRA_CA_FILE
from simulator.p1_meter import DEFAULT_MEASUREMENT, FakeP1Meter

TARGET_P99_S: Final = 0.050
POWER_BASE: Final = 100_000  # far from the simulator's default, so a stray value is obvious
SERIAL: Final = "5c2fafaabbcc"
SETTLE_S: Final = 3.0  # how long to wait for the last pushes of a run to arrive


# -- the meter (child process) ---------------------------------------------------------------


async def _meter_child(ca_dir: Path) -> None:
    """Run a FakeP1Meter; obey ``{"rate", "count", "base"}`` lines on stdin; report send times."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    meter = FakeP1Meter(serial=SERIAL, auto_press_after=0.0)
    async with meter:
        ca_file = await loop.run_in_executor(None, meter.ca.write_ca, ca_dir)
        print(json.dumps({"port": meter.port, "ca": str(ca_file)}), flush=True)
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("quit"):
                break
            rate, count, base = float(command["rate"]), int(command["count"]), command["base"]
            sent: list[float] = []
            start = loop.time()
            for i in range(count):
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = dict(DEFAULT_MEASUREMENT)
                data["power_w"] = base + i
                sent.append(await meter.push(data))
            print(json.dumps({"sent": sent}), flush=True)


class MeterProcess:
    """The child process that runs the simulator; a tiny JSON-lines protocol over stdio."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, ca_file: Path) -> None:
        """Wrap a started child."""
        self.proc = proc
        self.port = port
        self.ca_file = ca_file

    @classmethod
    async def start(cls, ca_dir: Path) -> MeterProcess:
        """Start the child and wait until it listens."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--meter-child",
            str(ca_dir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        hello = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        return cls(proc, int(hello["port"]), Path(hello["ca"]))

    async def run(self, rate: float, count: int, base: int) -> list[float]:
        """Push ``count`` measurements (power ``base + i``) at ``rate`` Hz; return send times."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        command = {"rate": rate, "count": count, "base": base}
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        reply = json.loads(await self.proc.stdout.readline())
        sent: list[float] = reply["sent"]
        return sent

    async def stop(self) -> None:
        """Ask the child to stop; kill it if it does not."""
        if self.proc.returncode is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write(b'{"quit": true}\n')
        try:
            await self.proc.stdin.drain()
            await asyncio.wait_for(self.proc.wait(), 10)
        except ConnectionError, TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in (0, 1]) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class RunResult:
    """Latencies (seconds) of one run and how many pushes never showed up."""

    name: str
    rate: float
    sent: int
    latencies: list[float]

    @property
    def lost(self) -> int:
        """Pushes without a state change."""
        return self.sent - len(self.latencies)

    def line(self) -> str:
        """One printable summary line (milliseconds)."""
        if not self.latencies:
            return f"{self.name:>6}: {self.sent} pushes, none arrived"
        lat = self.latencies
        return (
            f"{self.name:>6}: {self.sent:5d} pushes at {self.rate:g} Hz, {self.lost} lost | "
            f"p50 {percentile(lat, 0.50) * 1e3:7.2f} ms  p99 {percentile(lat, 0.99) * 1e3:7.2f} ms"
            f"  max {max(lat) * 1e3:7.2f} ms"
        )


# -- Home Assistant (this process) -----------------------------------------------------------

CONFIGURATION_YAML: Final = """\
homeassistant:
  name: Meterit bench
  time_zone: Europe/Madrid
  unit_system: metric
  currency: EUR
http:
  server_host: 127.0.0.1
  server_port: {port}
recorder:
  db_url: sqlite:///{db}
logger:
  default: critical  # the bench host lacks ffmpeg, turbojpeg...: keep their noise out of the output
  logs:
    custom_components.meterit: warning
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _bench(config_dir: Path, slow: int, fast: int) -> bool:
    """Run both rates against a real Home Assistant; print the report; True if the target is met."""
    (config_dir / "custom_components").mkdir(parents=True)
    (config_dir / "custom_components" / "meterit").symlink_to(
        ROOT / "custom_components" / "meterit"
    )
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(port=_free_port(), db=config_dir / "home-assistant_v2.db"),
        encoding="utf-8",
    )
    meter = await MeterProcess.start(config_dir)
    os.environ[ENV_EXTRA_CA_FILE] = str(meter.ca_file)
    hass = await bootstrap.async_setup_hass(
        RuntimeConfig(
            config_dir=str(config_dir),
            skip_pip=True,
            log_file=str(config_dir / "home-assistant.log"),
            log_no_color=True,
        )
    )
    if hass is None:
        await meter.stop()
        raise RuntimeError("Home Assistant did not set up")
    try:
        await hass.async_start()
        t0 = time.perf_counter()
        flow = hass.config_entries.flow
        result = await flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await flow.async_configure(result["flow_id"], {"next_step_id": "p1"})
        result = await flow.async_configure(result["flow_id"], {"host": f"127.0.0.1:{meter.port}"})
        if result["type"] is not FlowResultType.CREATE_ENTRY:
            raise RuntimeError(f"config flow did not create the entry: {result}")
        await hass.async_block_till_done()
        entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{SERIAL}_power_w")
        if entity_id is None:
            raise RuntimeError("no power sensor was created")
        print(f"config flow + entry setup: {time.perf_counter() - t0:.2f} s; sensor {entity_id}")

        arrived: dict[int, float] = {}

        @callback
        def _on_state(event: Event[EventStateChangedData]) -> None:
            now = time.time()
            new = event.data["new_state"]
            if event.data["entity_id"] != entity_id or new is None:
                return
            try:
                value = round(float(new.state))
            except ValueError:
                return
            arrived.setdefault(value, now)

        unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, _on_state)
        # Warm up: push until one arrives (the stream connects in the background).
        for attempt in range(20):
            await meter.run(1.0, 1, POWER_BASE - 1000 + attempt)
            await asyncio.sleep(0.5)
            if arrived:
                break
        else:
            raise RuntimeError("the live stream never delivered a push")

        results: list[RunResult] = []
        base = POWER_BASE
        for name, rate, count in (("1 Hz", 1.0, slow), ("50 Hz", 50.0, fast)):
            sent = await meter.run(rate, count, base)
            await asyncio.sleep(SETTLE_S)
            latencies = [arrived[base + i] - t for i, t in enumerate(sent) if base + i in arrived]
            results.append(RunResult(name, rate, count, latencies))
            base += count + 1000
        unsub()
    finally:
        await hass.async_stop()
        await meter.stop()

    interval = UPDATE_INTERVAL.total_seconds()
    print()
    print(
        f"Meterit P1 push -> state_changed (Home Assistant {ha_version}, Python "
        f"{sys.version.split()[0]}, loopback TLS, {os.cpu_count()} CPUs)"
    )
    for run in results:
        print("  " + run.line())
    print()
    print(
        f"Baseline: core homewizard polls every {interval:g} s (UPDATE_INTERVAL), latency "
        f"uniform on [0, {interval:g}] s: p50 {0.50 * interval * 1e3:.0f} ms  "
        f"p99 {0.99 * interval * 1e3:.0f} ms  max {interval * 1e3:.0f} ms"
    )
    for run in results:
        if run.latencies:
            p50, p99 = percentile(run.latencies, 0.5), percentile(run.latencies, 0.99)
            print(
                f"  ratio baseline/ours at {run.name:>5}: p50 {0.5 * interval / p50:,.0f}x  "
                f"p99 {0.99 * interval / p99:,.0f}x"
            )
    if any(r.lost for r in results):
        print(f"\nFAIL: pushes lost ({', '.join(f'{r.name}: {r.lost}' for r in results)})")
        return False
    worst = max(percentile(r.latencies, 0.99) for r in results)
    passed = worst < TARGET_P99_S
    print(
        f"\n{'PASS' if passed else 'FAIL'}: worst p99 {worst * 1e3:.2f} ms "
        f"(target < {TARGET_P99_S * 1e3:.0f} ms)"
    )
    return passed


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main() -> None:
    """Parse arguments; run the benchmark (or, with --meter-child, the meter process).

    Exit status 0 only when nothing was lost and the worst p99 meets the target.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--slow", type=_positive, default=60, help="pushes at 1 Hz (default 60)")
    parser.add_argument(
        "--fast", type=_positive, default=1000, help="pushes at 50 Hz (default 1000)"
    )
    parser.add_argument("--meter-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.meter_child is not None:
        asyncio.run(_meter_child(args.meter_child))
        return
    tmp = Path(tempfile.mkdtemp(prefix="meterit-bench-"))
    try:
        passed = asyncio.run(_bench(tmp / "config", args.slow, args.fast))
    finally:
        # Home Assistant flags blocking calls made on its loop's thread (this one) even after the
        # loop ended: remove the temporary config directory from another thread.
        cleaner = threading.Thread(
            target=shutil.rmtree, args=(tmp,), kwargs={"ignore_errors": True}
        )
        cleaner.start()
        cleaner.join()
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
