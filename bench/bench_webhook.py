"""Benchmark of the power webhook through a real Home Assistant (not part of pytest).

Run: ``.venv/bin/python bench/bench_webhook.py [--seconds 5] [--concurrency 32] [--rounds 5]``

1. Starts Home Assistant (``python -m homeassistant -c <tmp> --skip-pip``) on 127.0.0.1 with a
   Meterit power webhook entry (local only, no price source) and, beside it, a webhook whose
   handler does nothing (``bench_null``): the ceiling of Home Assistant's HTTP + webhook stack.
2. A load generator in a second process (this file with ``--loadgen``, aiohttp, a fixed number
   of keep-alive connections each posting back to back) drives one webhook at a time, in
   alternating rounds (null, meterit, null, meterit, ...), and reports requests/s, p50/p99
   latency and Home Assistant's CPU time per request (all threads). Bodies are ``{"watts": w, "station_id": i % 4}``: four stations.
3. Prints the ratio meterit / null of each round (a meterit run against the null run just
   before it: a shared machine's speed drifts between rounds) and their median (target >= 0.8), and, after Home Assistant stopped, the
   readings in ``meterit.db`` against the 200 answers the webhook gave (must be equal).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
import json
import os
from pathlib import Path
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


async def _load(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    import aiohttp  # noqa: PLC0415 - only the load generator process needs it

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            nonlocal counter
            i = offset
            while time.perf_counter() < deadline:
                body = json.dumps({"watts": 100.0 + (i % 1000) / 10, "station_id": i % STATIONS})
                started = time.perf_counter()
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    status = response.status
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                counter += 1
                i += concurrency

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": counter,
        "statuses": {str(k): v for k, v in statuses.items()},
        "rps": counter / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(url: str, seconds: float, concurrency: int, server_pid: int) -> dict[str, Any]:
    """Run the load generator in a second process; its JSON report plus the server's CPU."""
    before = cpu_seconds(server_pid)
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--loadgen", url, str(seconds), str(concurrency)],
        check=True,
        capture_output=True,
        text=True,
    )
    report: dict[str, Any] = json.loads(out.stdout)
    report["cpu_us"] = 1e6 * (cpu_seconds(server_pid) - before) / max(1, report["requests"])
    return report


# ---------------------------------------------------------------------- main


def main() -> None:
    """Start Home Assistant, drive both webhooks, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loadgen", nargs=3, metavar=("URL", "SECONDS", "CONCURRENCY"))
    args = parser.parse_args()
    if args.loadgen:
        url, seconds, concurrency = args.loadgen
        print(json.dumps(asyncio.run(_load(url, float(seconds), int(concurrency)))))
        return

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
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, *profile, "-m", "homeassistant", "-c", str(config), "--skip-pip"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=config,
    )
    try:
        took = wait_ready(base, process)
        print(f"Home Assistant ready on {base} in {took:.1f} s (config {config})")
        print(
            f"load: {args.concurrency} keep-alive connections, {args.seconds:g} s per run, "
            f"{args.rounds} rounds, {STATIONS} stations; load generator in a second process"
        )
        urls = {
            "null": f"{base}/api/webhook/{NULL_HOOK}",
            "meterit": f"{base}/api/webhook/{METERIT_HOOK}",
        }
        for name, url in urls.items():  # warm-up (not counted in the comparison)
            warm = run_load(url, 1.0, args.concurrency, process.pid)
            if name == "meterit":
                accepted = warm["statuses"].get("200", 0)
        results: dict[str, list[dict[str, Any]]] = {"null": [], "meterit": []}
        for _ in range(args.rounds):
            for name, url in urls.items():
                report = run_load(url, args.seconds, args.concurrency, process.pid)
                results[name].append(report)
                if name == "meterit":
                    accepted += report["statuses"].get("200", 0)
        print()
        print(
            f"{'round':<7}{'webhook':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'HA CPU us/req':>15}  statuses"
        )
        for index in range(args.rounds):
            for name, reports in results.items():
                report = reports[index]
                print(
                    f"{index + 1:<7}{name:<10}{report['rps']:>9.0f}{report['p50_ms']:>9.2f}"
                    f"{report['p99_ms']:>9.2f}{report['cpu_us']:>15.0f}  {report['statuses']}"
                )
        # each meterit run against the null run just before it: the machine's speed drifts
        ratios = [
            m["rps"] / n["rps"] for n, m in zip(results["null"], results["meterit"], strict=True)
        ]
        ratio = statistics.median(ratios)
        null_rps = statistics.mean(r["rps"] for r in results["null"])
        meterit_rps = statistics.mean(r["rps"] for r in results["meterit"])
        verdict = "OK" if ratio >= TARGET_RATIO else "BELOW TARGET"
        print(
            f"\nsustained: meterit {meterit_rps:.0f} req/s vs null handler {null_rps:.0f} req/s; "
            f"ratio per round {', '.join(f'{r:.2f}' for r in ratios)} -> median {ratio:.2f} "
            f"(target >= {TARGET_RATIO}) {verdict}"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    with sqlite3.connect(config / "meterit.db") as conn:
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


if __name__ == "__main__":
    main()
