"""Benchmark of the power webhook through a real Home Assistant (not part of pytest).

Run: ``.venv/bin/python bench/bench_webhook.py [--seconds 2] [--pairs 12] [--concurrency 32]
[--no-pin]``

1. Starts Home Assistant (``python -m homeassistant -c <tmp> --skip-pip``) on 127.0.0.1 with a
   Meterit power webhook entry (local only, no price source) and, beside it, a webhook whose
   handler does nothing (``bench_null``): the ceiling of Home Assistant's HTTP + webhook stack.
2. A load generator in a second process (this file with ``--loadgen``: plain asyncio streams, a
   fixed number of keep-alive HTTP/1.1 connections each posting back to back; bodies
   ``{"watts": w, "station_id": i % 4}``, four stations) runs one warm-up second per webhook,
   then ``--pairs`` pairs of runs, null and meterit, in ABBA order (null-meterit,
   meterit-null, ...) on the same connections. Each run reports requests/s, p50/p99
   latency, the CPU time per request of Home Assistant (all threads) and of the load
   generator, and how busy each was (share of one CPU). A load generator busy >= 90 % makes
   the run invalid: the null handler's figure would be its ceiling, not Home Assistant's.
3. Prints the ratio meterit / null of each pair (runs seconds apart see the same machine: a
   shared machine's speed drifts by tens of percent within a minute), their median and
   quartiles (target: median >= 0.8), and, after Home Assistant stopped, the readings in
   ``meterit.db`` against the 200 answers the webhook gave (must be equal), and duplicate
   (time, station) rows (for information). Exit status 0 only when the run is valid, the
   median ratio reaches the target, every answer was 200 and the counts agree.

By default (``--pin``) Home Assistant (every thread) runs on one CPU and the load generator on
another: Home Assistant is then limited to one core, saturated in both runs (checked), so the
ratio is the ratio of its CPU time per request, and the load generator (which stands for sensors
on other machines) takes none of Home Assistant's CPU. This is the reading of the 0.8 target.
``--no-pin`` lets both processes share both CPUs: Home Assistant's writer thread can run beside
its event loop, and the load generator takes CPU time Home Assistant could have used; printed
for information (``bench/README.md`` says why the two differ).
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
import json
import os
from pathlib import Path
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.error
import urllib.request

ROOT = Path(__file__).resolve().parents[1]
METERIT_HOOK = "be" * 32
NULL_HOOK = "0e" * 32
STATIONS = 4
TARGET_RATIO = 0.8
SATURATED = 0.9
"""A load generator at least this busy (share of one CPU) may set the pace: the run is invalid."""
SERVER_SATURATED = 0.85
"""Pinned, Home Assistant must be at least this busy for the ratio to be its CPU time's ratio."""
ANSWER_TIMEOUT = 30.0
"""Seconds to wait for an answer before counting it as none (status 0)."""

NULL_MANIFEST = {
    "domain": "bench_null",
    "name": "Bench null webhook",
    "codeowners": [],
    "dependencies": ["webhook"],
    "documentation": "https://example.invalid",
    "iot_class": "local_push",
    "version": "0.0.1",
}
NULL_INIT = f'''"""A webhook whose handler does nothing: the ceiling of the HTTP stack."""

from homeassistant.components import webhook

DOMAIN = "bench_null"


async def _handle(hass, webhook_id, request):
    return None


async def async_setup(hass, config):
    webhook.async_register(
        hass, DOMAIN, "null", "{NULL_HOOK}", _handle, local_only=True, allowed_methods=("POST",)
    )
    return True
'''


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(config: Path, port: int) -> None:
    """configuration.yaml, the two custom integrations and the Meterit config entry."""
    (config / "configuration.yaml").write_text(
        "homeassistant:\n"
        "  name: bench\n  latitude: 40.4\n  longitude: -3.7\n  elevation: 600\n"
        "  unit_system: metric\n  time_zone: UTC\n  country: ES\n  currency: EUR\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        "logger:\n  default: warning\n"
        "recorder:\n  commit_interval: 5\n"
        "bench_null:\n",
        encoding="utf-8",
    )
    custom = config / "custom_components"
    custom.mkdir()
    (custom / "meterit").symlink_to(ROOT / "custom_components" / "meterit")
    null = custom / "bench_null"
    null.mkdir()
    (null / "manifest.json").write_text(json.dumps(NULL_MANIFEST), encoding="utf-8")
    (null / "__init__.py").write_text(NULL_INIT, encoding="utf-8")
    now = datetime.now(UTC).isoformat()
    entry: dict[str, object] = {
        "created_at": now,
        "data": {"source": "webhook", "webhook_id": METERIT_HOOK},
        "disabled_by": None,
        "discovery_keys": {},
        "domain": "meterit",
        "entry_id": "01BENCHWEBHOOK000000000000",
        "minor_version": 1,
        "modified_at": now,
        "options": {"local_only": True, "price_source": "none"},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": "Bench sensors",
        "unique_id": None,
        "version": 1,
    }
    storage = config / ".storage"
    storage.mkdir()
    (storage / "core.config_entries").write_text(
        json.dumps(
            {
                "version": 1,
                "minor_version": 5,
                "key": "core.config_entries",
                "data": {"entries": [entry]},
            }
        ),
        encoding="utf-8",
    )


def request(url: str, method: str, body: bytes | None = None) -> int:
    """Status of one plain request (readiness checks)."""
    req = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> float:
    """Wait until both webhooks are registered; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"Home Assistant exited with {process.returncode}")
        # a registered webhook answers GET with 405 (an unknown one says 200), and Meterit's
        # answers a bad body with 400
        null_ready = request(f"{base}/api/webhook/{NULL_HOOK}", "GET") == 405
        meterit_ready = request(f"{base}/api/webhook/{METERIT_HOOK}", "POST", b"{}") == 400
        if null_ready and meterit_ready:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"Home Assistant did not become ready (see {base})")


# ---------------------------------------------------------------------- load generator


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON bodies (plain asyncio streams).

    Not aiohttp's client: at ~100 µs per request it kept the load generator's CPU busy all the
    time, so the null handler's figure was partly the load generator's. This costs a fraction.
    An answer that does not come within ``ANSWER_TIMEOUT``, or a connection the server closes,
    counts as status 0 and the connection is opened again.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, head: bytes, body: bytes) -> int:
        """Send ``head`` (request line and headers up to ``Content-Length: ``) and ``body``;
        read the answer; its status (0: no answer)."""
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                if self.reader is None or self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                self.writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
                status, length, close = _answer_head(await self.reader.readuntil(b"\r\n\r\n"))
                await self.reader.readexactly(length)
        except TimeoutError, OSError, asyncio.IncompleteReadError:
            self.close()
            return 0
        if close:
            self.close()
        return status

    def close(self) -> None:
        """Close the connection (the next post opens it again)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _answer_head(head: bytes) -> tuple[int, int, bool]:
    """Status, body length and whether the server closes, from an answer's head.

    Raises ValueError for anything the bench cannot frame (no ``Content-Length``, chunked).
    """
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {lines[0]!r}")
    length: int | None = None
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise ValueError(f"chunked answer: {lines[0]!r}")
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length is None:
        raise ValueError(f"answer without Content-Length: {lines[0]!r}")
    return int(status_line[1]), length, close


async def _segment(
    connections: list[_Connection], head: bytes, seconds: float, server_pid: int
) -> dict[str, Any]:
    """Post back to back on every connection for ``seconds``; what it measured."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    concurrency = len(connections)
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        connection = connections[offset]
        i = offset
        while time.perf_counter() < deadline:
            body = json.dumps({"watts": 100.0 + (i % 1000) / 10, "station_id": i % STATIONS})
            started = time.perf_counter()
            status = await connection.post(head, body.encode())
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            i += concurrency

    server_before, own_before = cpu_seconds(server_pid), own_cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - began
    own = own_cpu_seconds() - own_before
    server = cpu_seconds(server_pid) - server_before
    requests = len(latencies)
    latencies.sort()
    return {
        "requests": requests,
        "statuses": {str(k): v for k, v in statuses.items()},
        "rps": requests / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(requests - 1, int(requests * 0.99))],
        "cpu_us": 1e6 * server / max(1, requests),
        "server_busy": server / elapsed,
        "loadgen_cpu_us": 1e6 * own / max(1, requests),
        "loadgen_busy": own / elapsed,
    }


async def _load(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the plan's segments one after the other on the same keep-alive connections."""
    host: str = plan["host"]
    port: int = plan["port"]
    connections = [_Connection(host, port) for _ in range(plan["concurrency"])]
    reports: list[dict[str, Any]] = []
    try:
        for name, seconds in plan["segments"]:
            head = (
                f"POST {plan['paths'][name]} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode()
            report = await _segment(connections, head, seconds, plan["server_pid"])
            reports.append({"webhook": name, **report})
    finally:
        for connection in connections:
            connection.close()
    return reports


def run_load(plan: dict[str, Any], cpu: int | None) -> list[dict[str, Any]]:
    """Run the load generator in a second process (on ``cpu`` if given); its reports."""
    seconds = sum(length for _, length in plan["segments"])
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--loadgen", json.dumps(plan)],
        check=False,
        stdout=subprocess.PIPE,  # (its stderr goes to ours: a failure explains itself)
        text=True,
        preexec_fn=None if cpu is None else partial(os.sched_setaffinity, 0, {cpu}),
        timeout=seconds + 60 + ANSWER_TIMEOUT,
    )
    if out.returncode:
        raise SystemExit(f"the load generator failed (exit status {out.returncode})")
    reports: list[dict[str, Any]] = json.loads(out.stdout)
    return reports


# ---------------------------------------------------------------------- main


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median and third quartile."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def main() -> None:
    """Start Home Assistant, drive both webhooks, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one run")
    parser.add_argument("--pairs", type=int, default=12, help="null/meterit pairs of runs")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Home Assistant on one CPU, the load generator on another (the default); "
        "--no-pin: both share every CPU",
    )
    parser.add_argument("--loadgen", metavar="PLAN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        print(json.dumps(asyncio.run(_load(json.loads(args.loadgen)))))
        return
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) < 2:
        raise SystemExit("--pin needs two CPUs")
    server_cpu, loadgen_cpu = (cpus[0], cpus[1]) if args.pin else (None, None)

    config = Path(tempfile.mkdtemp(prefix="meterit-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(config, port)
    log = (config / "hass.out").open("wb")
    # run from the config dir, so that ``custom_components`` is its own (Meterit is a symlink)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # BENCH_PROFILE=<file>: run Home Assistant under cProfile (the main thread) to see costs
    profile = (
        ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]]
        if "BENCH_PROFILE" in os.environ
        else []
    )
    pin_server = None if server_cpu is None else partial(os.sched_setaffinity, 0, {server_cpu})
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, *profile, "-m", "homeassistant", "-c", str(config), "--skip-pip"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=config,
        # every thread Home Assistant starts inherits the CPU set; this process has no threads
        preexec_fn=pin_server,  # noqa: PLW1509
    )
    try:
        took = wait_ready(base, process)
        print(f"Home Assistant ready on {base} in {took:.1f} s (config {config})")
        where = (
            f"on CPU {server_cpu}, load generator on CPU {loadgen_cpu}" if args.pin else "unpinned"
        )
        print(
            f"load: {args.concurrency} keep-alive connections, {args.pairs} pairs of "
            f"{args.seconds:g}-s runs (null and meterit, in alternating order), {STATIONS} "
            f"stations; load generator in a second process; Home Assistant {where}"
        )
        # warm-up (not counted in the comparison), then null/meterit pairs in ABBA order so a
        # drift in the machine's speed does not favour either
        segments = [("null", 1.0), ("meterit", 1.0)]
        for index in range(args.pairs):
            first, second = ("null", "meterit") if index % 2 == 0 else ("meterit", "null")
            segments += [(first, args.seconds), (second, args.seconds)]
        plan = {
            "host": "127.0.0.1",
            "port": port,
            "paths": {
                "null": f"/api/webhook/{NULL_HOOK}",
                "meterit": f"/api/webhook/{METERIT_HOOK}",
            },
            "segments": segments,
            "concurrency": args.concurrency,
            "server_pid": process.pid,
        }
        reports = run_load(plan, loadgen_cpu)
        accepted = sum(r["statuses"].get("200", 0) for r in reports if r["webhook"] == "meterit")
        measured = reports[2:]
        print(
            f"\n{'pair':<6}{'webhook':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'HA CPU us/req':>15}{'HA busy':>9}{'loadgen us/req':>16}{'busy':>6}  statuses"
        )
        ratios: list[float] = []
        for index in range(args.pairs):
            pair = {r["webhook"]: r for r in measured[2 * index : 2 * index + 2]}
            ratios.append(pair["meterit"]["rps"] / pair["null"]["rps"])
            for name in ("null", "meterit"):
                r = pair[name]
                print(
                    f"{index + 1:<6}{name:<10}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}"
                    f"{r['p99_ms']:>9.2f}{r['cpu_us']:>15.0f}{r['server_busy']:>9.0%}"
                    f"{r['loadgen_cpu_us']:>16.0f}{r['loadgen_busy']:>6.0%}  {r['statuses']}"
                )
        q1, ratio, q3 = quartiles(ratios)
        means = {
            name: statistics.mean(r["rps"] for r in measured if r["webhook"] == name)
            for name in ("null", "meterit")
        }
        cpu = {
            name: statistics.median(r["cpu_us"] for r in measured if r["webhook"] == name)
            for name in ("null", "meterit")
        }
        verdict = "OK" if ratio >= TARGET_RATIO else "BELOW TARGET"
        passed = ratio >= TARGET_RATIO
        busy = statistics.median(r["loadgen_busy"] for r in measured if r["webhook"] == "null")
        server_busy = statistics.median(r["server_busy"] for r in measured)
        print(
            f"\nsustained: meterit {means['meterit']:.0f} req/s vs null handler "
            f"{means['null']:.0f} req/s; Home Assistant CPU per request (median) "
            f"{cpu['meterit']:.0f} vs {cpu['null']:.0f} us"
        )
        print(
            f"ratio per pair {', '.join(f'{r:.2f}' for r in ratios)}\n"
            f"ratio median {ratio:.2f} (quartiles {q1:.2f} to {q3:.2f}; target >= "
            f"{TARGET_RATIO}) {verdict}"
        )
        print(
            f"busy (median): Home Assistant {server_busy:.0%}, load generator (null runs) "
            f"{busy:.0%} of one CPU"
        )
        if busy >= SATURATED:
            print(
                "INVALID: the load generator is saturated, so the null handler's figure is its "
                "ceiling rather than Home Assistant's"
            )
            passed = False
        if args.pin and server_busy < SERVER_SATURATED:
            print(
                "INVALID: Home Assistant's CPU is not saturated, so the ratio is not the ratio "
                "of its CPU time per request"
            )
            passed = False
        refused = sum(n for r in reports for status, n in r["statuses"].items() if status != "200")
        if refused:
            print(f"answers other than 200: {refused}")
            passed = False
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    with closing(sqlite3.connect(config / "meterit.db", isolation_level=None)) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM meterlog").fetchone()[0]
        duplicates = conn.execute(
            "SELECT COUNT(*) FROM (SELECT time, station_id FROM meterlog "
            "GROUP BY time, station_id HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    same = "OK" if stored == accepted else "MISMATCH"
    print(
        f"stored readings {stored} vs accepted (200) responses {accepted}: {same}; "
        f"duplicate (time, station) rows: {duplicates}"
    )
    shutil.rmtree(config, ignore_errors=True)
    if not passed or stored != accepted:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
