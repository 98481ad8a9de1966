"""Footprint of a P1 meter in Home Assistant: Meterit against core ``homewizard`` (not pytest).

Run: ``.venv/bin/python bench/bench_p1_footprint.py [--minutes 10] [--from 09:00]
[--scenarios defaults,same] [--meterit-options JSON] [--keep DIR]``

One run, one simulated meter (``simulator.p1_meter.FakeP1Meter`` in this process: real TLS,
API v2 REST + WebSocket, playing ``../shared/tools/p1-trace`` from ``--from`` at 1 message/s,
in real time), and beside it several real Home Assistant processes (``hass -c <tmp>
--skip-pip``, minimal config: ``recorder`` on SQLite, no ``default_config``), all at once:

* ``idle``: no meter at all (the CPU baseline);
* for each scenario, ``meterit`` (a P1 entry of Meterit, options from ``--meterit-options``)
  and ``core`` (a config entry of Home Assistant's own ``homewizard``, API v2 with a token).

Scenarios: ``defaults`` (each integration's entities as it enables them by default) and
``same`` (only the entities both integrations have, see ``COMMON``, enabled on both sides,
every other one disabled, through the entity registry before the measured start).

Core's v2 client (``homewizard_energy``) only trusts ``homewizard_energy.v2.CACERT``: its Home
Assistant gets a ``sitecustomize`` (on ``PYTHONPATH``, bench only) that appends the simulator's
CA to it. Meterit's gets ``METERIT_P1_EXTRA_CA_FILE``. The simulator answers ``/api/batteries``
with 404 (no battery paired); core treats that as "no batteries" and carries on.

Steps: every Home Assistant starts once (the config entries are written into
``.storage/core.config_entries`` first; the first start fills the entity registry), stops,
the ``same`` registries are edited, every one starts again and settles, then the measured
stretch of ``--minutes`` is played. Nothing is compressed in time: core polls every 5 s and
Meterit gets every push, as with a real meter; the figures of the stretch are scaled to a day
(x 86,400 / its length in seconds), so they stand for a day like that stretch of the trace.

Per meter-day (scaled): Home Assistant CPU seconds (utime + stime of all threads, from
``/proc/<pid>/stat``), raw and net of the idle instance; recorder ``states`` rows of the
integration's entities (counted after the stop, by ``last_updated_ts`` in the stretch); the
recorder database's growth (``page_count - freelist_count`` pages, read live at both ends, so
WAL checkpoints do not blur it) and its files (db + wal) after the stop; the same for Meterit's
own store (``meterit.db``); the ratios Meterit/core. Then rows per entity per day for both.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import closing, suppress
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.p1_meter import FakeP1Meter, load_trace  # noqa: E402

TRACE = ROOT.parent / "shared" / "tools" / "p1-trace"
SERIAL = "5c2fafaabbcc"
DAY = 86_400.0
HASS = Path(sys.executable).with_name("hass")

# Entities both integrations have, as (Meterit unique_id suffix, core unique_id suffix): the
# unique ID after the meter's prefix (Meterit ``<serial>_``, core ``HWE-P1_<serial>_``), read
# from the registries of a first start (``--list-entities`` prints both). Left out: Meterit's
# 5-minute window and cost sensors, core's Wi-Fi, uptime, identify button, status light,
# cloud switch and battery select (each has no counterpart on the other side).
COMMON: tuple[tuple[str, str], ...] = (
    ("power_w", "active_power_w"),
    ("power_l1_w", "active_power_l1_w"),
    ("power_l2_w", "active_power_l2_w"),
    ("power_l3_w", "active_power_l3_w"),
    ("energy_import_kwh", "total_power_import_kwh"),
    ("energy_import_t1_kwh", "total_power_import_t1_kwh"),
    ("energy_import_t2_kwh", "total_power_import_t2_kwh"),
    ("energy_export_kwh", "total_power_export_kwh"),
    ("energy_export_t1_kwh", "total_power_export_t1_kwh"),
    ("energy_export_t2_kwh", "total_power_export_t2_kwh"),
    ("voltage_l1_v", "active_voltage_l1_v"),
    ("voltage_l2_v", "active_voltage_l2_v"),
    ("voltage_l3_v", "active_voltage_l3_v"),
    ("current_a", "active_current_a"),
    ("current_l1_a", "active_current_l1_a"),
    ("current_l2_a", "active_current_l2_a"),
    ("current_l3_a", "active_current_l3_a"),
    ("tariff", "active_tariff"),
    ("voltage_sag_l1_count", "voltage_sag_l1_count"),
    ("voltage_sag_l2_count", "voltage_sag_l2_count"),
    ("voltage_sag_l3_count", "voltage_sag_l3_count"),
    ("any_power_fail_count", "any_power_fail_count"),
    ("long_power_fail_count", "long_power_fail_count"),
    ("protocol_version", "smr_version"),
    ("meter_model", "meter_model"),
    ("unique_id", "unique_meter_id"),
)
CORE_TO_METERIT = {core: ours for ours, core in COMMON}

SITECUSTOMIZE = '''"""Bench only: make homewizard_energy's v2 client trust the simulator's CA too."""
import os

_ca = os.environ.get("BENCH_HOMEWIZARD_EXTRA_CA")
if _ca:
    import homewizard_energy.v2 as _v2

    with open(_ca, encoding="ascii") as _f:
        _v2.CACERT = _v2.CACERT + "\\n" + _f.read()
'''

CONFIGURATION_YAML = """\
homeassistant:
  name: bench
  latitude: 40.4
  longitude: -3.7
  elevation: 600
  unit_system: metric
  time_zone: Europe/Madrid
  country: ES
  currency: EUR
logger:
  default: warning
recorder:
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def db_used_bytes(path: Path) -> int | None:
    """Bytes of the pages in use of a live SQLite database (WAL included), or None."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
            page_count = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.Error:
        return None
    return int((page_count - free) * size)


def file_bytes(path: Path) -> int:
    """Size of a SQLite database and its WAL file (0 for what is missing)."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


class Instance:
    """One Home Assistant process with its config directory."""

    def __init__(self, name: str, kind: str, scenario: str, base: Path) -> None:
        self.name, self.kind, self.scenario = name, kind, scenario
        self.dir = base / name
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.cpu0 = self.cpu1 = 0.0
        self.db0: int | None = None
        self.db1: int | None = None
        self.store0: int | None = None
        self.store1: int | None = None

    @property
    def recorder_db(self) -> Path:
        return self.dir / "home-assistant_v2.db"

    @property
    def store_db(self) -> Path:
        return self.dir / "meterit.db"

    @property
    def platform(self) -> str | None:
        return {"meterit": "meterit", "core": "homewizard"}.get(self.kind)

    def write(self, meter: FakeP1Meter, options: dict[str, Any], sitedir: Path) -> None:
        """configuration.yaml, the stored HTTP config and the config entry."""
        self.dir.mkdir(parents=True)
        # the stored HTTP config on its own port (as scripts/develop and the browser test do)
        subprocess.run(  # noqa: S603 (our interpreter and our script)
            [
                sys.executable,
                str(ROOT / "scripts" / "dev_config.py"),
                "write",
                str(self.dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            check=True,
        )
        (self.dir / "configuration.yaml").write_text(CONFIGURATION_YAML, encoding="utf-8")
        self.env = dict(os.environ)
        entries: list[dict[str, Any]] = []
        now = datetime.now(UTC).isoformat()
        common: dict[str, Any] = {
            "created_at": now,
            "disabled_by": None,
            "discovery_keys": {},
            "minor_version": 1,
            "modified_at": now,
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": "P1 Meter",
            "unique_id": f"HWE-P1_{meter.serial}",
            "version": 1,
        }
        if self.kind == "meterit":
            custom = self.dir / "custom_components"
            custom.mkdir()
            (custom / "meterit").symlink_to(ROOT / "custom_components" / "meterit")
            entries.append(
                {
                    **common,
                    "domain": "meterit",
                    "entry_id": "01BENCHMETERIT000000000000",
                    "data": {
                        "source": "p1",
                        "host": f"127.0.0.1:{meter.port}",
                        "token": meter.issue_token(f"meterit-{self.scenario}"),
                        "identifier": meter.identifier,
                    },
                    "options": options,
                }
            )
            self.env["METERIT_P1_EXTRA_CA_FILE"] = str(sitedir / "ca.pem")
        elif self.kind == "core":
            entries.append(
                {
                    **common,
                    "domain": "homewizard",
                    "entry_id": "01BENCHCOREHOMEWIZARD00000",
                    "data": {
                        "ip_address": f"127.0.0.1:{meter.port}",
                        "token": meter.issue_token(f"core-{self.scenario}"),
                    },
                    "options": {},
                }
            )
            self.env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(sitedir), self.env.get("PYTHONPATH", "")) if p
            )
            self.env["BENCH_HOMEWIZARD_EXTRA_CA"] = str(sitedir / "ca.pem")
        (self.dir / ".storage" / "core.config_entries").write_text(
            json.dumps(
                {
                    "version": 1,
                    "minor_version": 5,
                    "key": "core.config_entries",
                    "data": {"entries": entries},
                }
            ),
            encoding="utf-8",
        )

    def start(self) -> None:
        log = (self.dir / "bench-hass.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our venv's hass)
            [str(HASS), "-c", str(self.dir), "--skip-pip"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        self.started_at = time.time()

    def stop(self, timeout: float = 90.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def registry(self) -> list[dict[str, Any]]:
        """The stored entity registry entries of this instance's integration."""
        path = self.dir / ".storage" / "core.entity_registry"
        if not path.exists() or self.platform is None:
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return []
        return [e for e in data["data"]["entities"] if e["platform"] == self.platform]

    def entity_ids(self) -> list[str]:
        return [e["entity_id"] for e in self.registry()]

    def newest_state(self) -> float | None:
        """The newest ``last_updated_ts`` of this integration's entities in the recorder."""
        ids = self.entity_ids()
        if not ids or not self.recorder_db.exists():
            return None
        marks = ",".join("?" * len(ids))
        try:
            with closing(
                sqlite3.connect(f"file:{self.recorder_db}?mode=ro", uri=True, timeout=10)
            ) as conn:
                row = conn.execute(
                    "SELECT MAX(s.last_updated_ts) FROM states s JOIN states_meta m"  # noqa: S608 (placeholders)
                    f" ON s.metadata_id = m.metadata_id WHERE m.entity_id IN ({marks})",
                    ids,
                ).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else row[0]

    def mark(self, end: bool) -> None:
        """CPU and used database bytes at one end of the stretch."""
        values = (
            cpu_seconds(self.pid),
            db_used_bytes(self.recorder_db),
            db_used_bytes(self.store_db) if self.kind == "meterit" else None,
        )
        if end:
            self.cpu1, self.db1, self.store1 = values
        else:
            self.cpu0, self.db0, self.store0 = values

    def rows(self, t0: float, t1: float) -> dict[str, int]:
        """``states`` rows per entity of this integration, last updated in [t0, t1)."""
        ids = self.entity_ids()
        counts = dict.fromkeys(ids, 0)
        if not ids:
            return counts
        marks = ",".join("?" * len(ids))
        with closing(sqlite3.connect(self.recorder_db)) as conn:
            for entity_id, n in conn.execute(
                "SELECT m.entity_id, COUNT(*) FROM states s JOIN states_meta m"  # noqa: S608 (placeholders)
                " ON s.metadata_id = m.metadata_id"
                f" WHERE m.entity_id IN ({marks})"
                " AND s.last_updated_ts >= ? AND s.last_updated_ts < ?"
                " GROUP BY m.entity_id",
                [*ids, t0, t1],
            ):
                counts[entity_id] = n
        return counts

    def short_term_rows(self, t0: float, t1: float) -> int:
        """``statistics_short_term`` rows of this integration's entities starting in [t0, t1)."""
        ids = self.entity_ids()
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with closing(sqlite3.connect(self.recorder_db)) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM statistics_short_term s JOIN statistics_meta m"  # noqa: S608 (placeholders)
                " ON s.metadata_id = m.id"
                f" WHERE m.statistic_id IN ({marks})"
                " AND s.start_ts >= ? AND s.start_ts < ?",
                [*ids, t0, t1],
            ).fetchone()
        return int(row[0])


def suffix(entry: dict[str, Any]) -> str:
    """The unique ID of an entity without the meter's prefix (``HWE-P1_<serial>_``, ...)."""
    uid = str(entry["unique_id"])
    for prefix in (f"HWE-P1_{SERIAL}_", f"{SERIAL}_", "01BENCHMETERIT000000000000_"):
        if uid.startswith(prefix):
            return uid.removeprefix(prefix)
    return uid


def edit_registry(inst: Instance, keep: set[str]) -> tuple[int, int]:
    """Enable the entities whose unique-ID suffix is in ``keep``, disable every other one."""
    path = inst.dir / ".storage" / "core.entity_registry"
    data = json.loads(path.read_text(encoding="utf-8"))
    on = off = 0
    for entry in data["data"]["entities"]:
        if entry["platform"] != inst.platform:
            continue
        if suffix(entry) in keep:
            entry["disabled_by"] = None
            entry["hidden_by"] = None
            on += 1
        else:
            entry["disabled_by"] = "user"
            off += 1
    path.write_text(json.dumps(data), encoding="utf-8")
    return on, off


def wait_for(what: str, check: Any, instances: list[Instance], timeout: float) -> None:
    """Wait until ``check()`` is true; fail if a Home Assistant died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for inst in instances:
            if inst.process is not None and not inst.alive():
                raise SystemExit(f"{inst.name}: Home Assistant exited (see {inst.dir})")
        if check():
            return
        time.sleep(1.0)
    raise SystemExit(f"timed out waiting for {what}")


async def run(args: argparse.Namespace, base: Path) -> int:
    hours = (args.minutes + 30) / 60 + 0.5
    start = f"2026-06-21T{args.from_}:00Z"
    trace = base / "trace.jsonl"
    with trace.open("w") as fh:
        subprocess.run(  # noqa: S603, ASYNC221 (our interpreter and the shared tool, at start)
            [sys.executable, str(TRACE), "--hours", f"{hours:.2f}", "--start", start],
            stdout=fh,
            check=True,
        )
    items = list(load_trace(trace))
    meter = FakeP1Meter(serial=SERIAL, measurement=items[0]["data"])  # type: ignore[arg-type]
    await meter.start()
    sitedir = base / "site"
    sitedir.mkdir()
    (sitedir / "ca.pem").write_text(meter.cadata, encoding="ascii")
    (sitedir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    options = json.loads(args.meterit_options)
    instances = [Instance("idle", "idle", "-", base)]
    for scenario in args.scenarios:
        instances.append(Instance(f"meterit-{scenario}", "meterit", scenario, base))
        instances.append(Instance(f"core-{scenario}", "core", scenario, base))
    for inst in instances:
        inst.write(meter, options, sitedir)
    play = asyncio.create_task(meter.play(items, 1.0))
    loop = asyncio.get_running_loop()
    meters = [i for i in instances if i.platform]
    try:
        print(f"priming {len(instances)} Home Assistants (first start) ...", flush=True)
        for inst in instances:
            inst.start()
        await loop.run_in_executor(
            None,
            lambda: wait_for(
                "the entity registries",
                lambda: all(i.registry() and i.newest_state() for i in meters),
                instances,
                300,
            ),
        )
        await asyncio.sleep(15)  # registry saved (10 s delay) with every entity
        for inst in instances:
            await loop.run_in_executor(None, inst.stop)
        if args.list_entities:
            for inst in meters:
                print(f"\n{inst.name}:")
                for e in inst.registry():
                    print(f"  {suffix(e):<40} {e['entity_id']:<55} {e['disabled_by']}")
        if "same" in args.scenarios:
            for inst in meters:
                if inst.scenario == "same":
                    keep = {pair[0 if inst.kind == "meterit" else 1] for pair in COMMON}
                    on, off = edit_registry(inst, keep)
                    print(f"{inst.name}: {on} entities enabled, {off} disabled", flush=True)
        print("starting them again ...", flush=True)
        restart = time.time()
        for inst in instances:
            inst.start()
        await loop.run_in_executor(
            None,
            lambda: wait_for(
                "the meters' states",
                lambda: all((i.newest_state() or 0) > restart for i in meters),
                instances,
                300,
            ),
        )
        print(f"all up after {time.time() - restart:.0f} s; settling {args.settle} s", flush=True)
        await asyncio.sleep(args.settle)
        t0 = time.time()
        for inst in instances:
            inst.mark(end=False)
        first = meter.measurement.get("timestamp")
        print(f"measuring {args.minutes} min from meter time {first} ...", flush=True)
        await asyncio.sleep(args.minutes * 60)
        t1 = time.time()
        for inst in instances:
            inst.mark(end=True)
        last = meter.measurement.get("timestamp")
        for inst in instances:
            if not inst.alive():
                raise SystemExit(f"{inst.name}: Home Assistant died during the stretch")
    finally:
        for inst in instances:
            await loop.run_in_executor(None, inst.stop)
        play.cancel()
        with suppress(asyncio.CancelledError):
            await play
        await meter.stop()
    report(args, instances, t0=t0, t1=t1, first=first, last=last)
    return 0


def fmt_bytes(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:,.2f} MB"


def fmt_count(n: float | None) -> str:
    return "n/a" if n is None else f"{n:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def report(
    args: argparse.Namespace,
    instances: list[Instance],
    *,
    t0: float,
    t1: float,
    first: object,
    last: object,
) -> None:
    span = t1 - t0
    scale = DAY / span
    idle = instances[0]
    idle_cpu = idle.cpu1 - idle.cpu0
    print()
    print(
        f"Stretch: {span:.0f} s of wall time, 1 push/s in real time (no compression), meter"
        f" time {first} -> {last}; every figure x {scale:.1f} = per meter-day."
    )
    print(f"Meterit options: {args.meterit_options}")
    print(
        f"Idle Home Assistant (no meter): {idle_cpu * scale:,.0f} CPU s/day,"
        f" recorder +{fmt_bytes((idle.db1 or 0) - (idle.db0 or 0))} (raw, in the stretch)"
    )
    for scenario in args.scenarios:
        pair = {i.kind: i for i in instances if i.scenario == scenario}
        figures: dict[str, dict[str, float | None]] = {}
        for kind in ("meterit", "core"):
            inst = pair[kind]
            rows = inst.rows(t0, t1)
            inst.rows_per_entity = rows  # type: ignore[attr-defined]
            cpu = inst.cpu1 - inst.cpu0
            db = None if inst.db0 is None or inst.db1 is None else inst.db1 - inst.db0
            store = (
                None if inst.store0 is None or inst.store1 is None else inst.store1 - inst.store0
            )
            figures[kind] = {
                "entities enabled": float(
                    sum(1 for e in inst.registry() if e["disabled_by"] is None)
                ),
                "CPU s, raw": cpu * scale,
                "CPU s, net of idle": (cpu - idle_cpu) * scale,
                "states rows": sum(rows.values()) * scale,
                "short-term statistics rows": inst.short_term_rows(t0, t1) * scale,
                "recorder db growth (bytes)": None if db is None else db * scale,
                "Meterit store growth (bytes)": None if store is None else store * scale,
                "recorder files after stop, raw (bytes)": float(file_bytes(inst.recorder_db)),
                "Meterit store files after stop, raw (bytes)": (
                    float(file_bytes(inst.store_db)) if kind == "meterit" else None
                ),
            }
        m, c = figures["meterit"], figures["core"]
        both = (m["recorder db growth (bytes)"] or 0) + (m["Meterit store growth (bytes)"] or 0)
        print(f"\nScenario {scenario!r} (per meter-day unless 'raw'):")
        print(f"  {'measure':<44} {'Meterit':>16} {'core':>16} {'Meterit/core':>13}")
        for key in m:
            mv, cv = m[key], c[key]
            show = fmt_bytes if "bytes" in key else fmt_count
            print(f"  {key:<44} {show(mv):>16} {show(cv):>16} {ratio(mv, cv):>13}")
        print(
            f"  {'recorder + Meterit store growth (bytes)':<44} {fmt_bytes(both):>16}"
            f" {fmt_bytes(c['recorder db growth (bytes)']):>16}"
            f" {ratio(both, c['recorder db growth (bytes)']):>13}"
        )
        print_entities(pair, scale)


def print_entities(pair: dict[str, Instance], scale: float) -> None:
    """Rows per entity per day of both sides, side by side (matched through ``COMMON``)."""
    table: dict[str, dict[str, str]] = {}
    for kind in ("meterit", "core"):
        inst = pair[kind]
        rows: dict[str, int] = inst.rows_per_entity  # type: ignore[attr-defined]
        for entry in inst.registry():
            key = suffix(entry)
            if kind == "core":
                key = CORE_TO_METERIT.get(key, f"core:{key}")
            n = rows.get(entry["entity_id"], 0)
            mark = "" if entry["disabled_by"] is None else " (off)"
            table.setdefault(key, {})[kind] = f"{n * scale:,.0f}{mark}"
    print(f"  rows/day per entity ('off': disabled)  {'Meterit':>16} {'core':>16}")
    for key in sorted(table, key=lambda k: (k.startswith("core:"), k)):
        cells = table[key]
        print(f"    {key:<38} {cells.get('meterit', '-'):>14} {cells.get('core', '-'):>16}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured stretch, real time")
    parser.add_argument("--from", dest="from_", default="09:00", help="trace start, HH:MM UTC")
    parser.add_argument("--settle", type=float, default=45.0, help="seconds after start-up")
    parser.add_argument(
        "--scenarios",
        type=lambda s: [x for x in s.split(",") if x],
        default=["defaults", "same"],
        help="comma-separated: defaults, same",
    )
    parser.add_argument(
        "--meterit-options", default="{}", help="JSON put into the Meterit entry's options"
    )
    parser.add_argument("--list-entities", action="store_true", help="print both registries")
    parser.add_argument("--keep", type=Path, help="keep the config directories here")
    args = parser.parse_args()
    bad = set(args.scenarios) - {"defaults", "same"}
    if bad:
        parser.error(f"unknown scenario(s): {', '.join(sorted(bad))}")
    if args.keep is not None:
        if args.keep.exists():
            shutil.rmtree(args.keep)
        args.keep.mkdir(parents=True)
        return asyncio.run(run(args, args.keep))
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
