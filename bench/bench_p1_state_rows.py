"""Recorder state rows per day of a P1 meter: Meterit's state rate against core's 5 s polling.

Replays a day of 1 Hz P1 pushes (``../shared/tools/p1-trace``) offline, without Home Assistant
running, and counts the states each entity would write (a recorder row per state change):

* Meterit, policy: ``metering.state_rate.StateRate`` as ``p1/sensor.py`` applies it (first
  value, then what is due; counters also offered at the start of each boundary guard);
* Meterit, every push: a row whenever a pushed value changed (before the state rate);
* core ``homewizard``: polls every 5 s (its ``UPDATE_INTERVAL``) and writes a row when a polled
  value changed.

Two scenarios: each integration with its own default entities (``entity_registry_enabled_default``
of Meterit's ``P1_SENSORS`` and of core's ``SENSORS``), and the same entities enabled on both (every
field the trace has). Availability rows, restarts and attribute-only changes are not counted.

  .venv/bin/python bench/bench_p1_state_rows.py [--hours 24] [--interval 60 ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from homeassistant.components.homewizard.const import UPDATE_INTERVAL  # noqa: E402
from homeassistant.components.homewizard.sensor import SENSORS as CORE_SENSORS  # noqa: E402

from custom_components.meterit.metering.state_rate import (  # noqa: E402
    StateRate,
    StateRatePolicy,
    ValueKind,
)
from custom_components.meterit.p1.sensor import P1_SENSORS  # noqa: E402
from custom_components.meterit.p1.state_rate import value_kind  # noqa: E402

TRACE = next(
    (p / "shared" / "tools" / "p1-trace" for p in ROOT.parents if (p / "shared").is_dir()),
    ROOT.parent / "shared" / "tools" / "p1-trace",
)

# Meterit's field (the meter's API v2 name) -> core homewizard's sensor key for it
CORE_KEY = {
    "power_w": "active_power_w",
    **{f"power_l{p}_w": f"active_power_l{p}_w" for p in "123"},
    **{
        f"energy_{d}{t}_kwh": f"total_power_{d}{t}_kwh"
        for d in ("import", "export")
        for t in ("", "_t1", "_t2", "_t3", "_t4")
    },
    "voltage_v": "active_voltage_v",
    **{f"voltage_l{p}_v": f"active_voltage_l{p}_v" for p in "123"},
    "current_a": "active_current_a",
    **{f"current_l{p}_a": f"active_current_l{p}_a" for p in "123"},
    "frequency_hz": "active_frequency_hz",
    "tariff": "active_tariff",
    "protocol_version": "smr_version",
    "meter_model": "meter_model",
    "unique_id": "unique_meter_id",
    **{
        f"voltage_{k}_l{p}_count": f"voltage_{k}_l{p}_count"
        for k in ("sag", "swell")
        for p in "123"
    },
    "any_power_fail_count": "any_power_fail_count",
    "long_power_fail_count": "long_power_fail_count",
    "average_power_15m_w": "active_power_average_w",
    "monthly_power_peak_w": "monthly_power_peak_w",
}
CORE_ENABLED = {d.key: d.entity_registry_enabled_default for d in CORE_SENSORS}
MINE = {d.key: d for d in P1_SENSORS}


def trace(hours: float) -> Iterator[tuple[float, dict[str, Any]]]:
    """The pushes of the p1-trace day: (arrival time, data)."""
    out = subprocess.run(  # noqa: S603 - our own trace tool
        [sys.executable, str(TRACE), "--hours", str(hours)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        push = json.loads(line)
        yield push["t"], push["data"]


def _value(key: str, data: dict[str, Any]) -> Any:
    value = data.get(key)
    return str(value) if key == "tariff" and value is not None else value


def rows_every_push(pushes: list[tuple[float, dict[str, Any]]], key: str) -> int:
    """A row whenever the pushed value changed (the first one included)."""
    rows, last = 0, object()
    for _t, data in pushes:
        if (value := _value(key, data)) != last:
            rows, last = rows + 1, value
    return rows


def rows_core(pushes: list[tuple[float, dict[str, Any]]], key: str) -> int:
    """Core: a poll every 5 s reads the latest push; a row when the polled value changed."""
    step = UPDATE_INTERVAL.total_seconds()
    rows, last = 0, object()
    poll = pushes[0][0]
    latest: Any = None
    for t, data in pushes:
        while poll < t:
            if latest is not None and latest != last:
                rows, last = rows + 1, latest
            poll += step
        latest = _value(key, data)
    return rows


def rows_policy(
    pushes: list[tuple[float, dict[str, Any]]], key: str, kind: ValueKind, policy: StateRatePolicy
) -> int:
    """Meterit's state rate: what each push makes due, and the offers before each boundary."""
    rate = StateRate(policy)
    rows = 0
    flush = rate.next_flush(pushes[0][0])
    latest: Any = None
    for t, data in pushes:
        while flush <= t:
            if kind is ValueKind.COUNTER and latest is not None:
                rows += rate.due(key, kind, latest, flush)
            flush = rate.next_flush(flush)
        latest = _value(key, data)
        if latest is not None:
            rows += rate.due(key, kind, latest, t)
    return rows


def _table(rows: Iterable[tuple[str, int, int, int]], title: str) -> str:
    lines = [
        f"\n{title}",
        f"{'entity (field)':26} {'policy':>8} {'every push':>11} {'core 5 s':>9}",
    ]
    total = [0, 0, 0]
    for key, policy, every, core in rows:
        lines.append(f"{key:26} {policy:8,} {every:11,} {core:9,}")
        total = [total[0] + policy, total[1] + every, total[2] + core]
    lines.append(f"{'total':26} {total[0]:8,} {total[1]:11,} {total[2]:9,}")
    lines.append(
        f"ratio to core: policy {total[0] / total[2]:.2f}, every push {total[1] / total[2]:.2f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the rows per entity and day, for both scenarios."""
    defaults = StateRatePolicy()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    for name in ("interval", "power_deadband", "voltage_deadband", "current_deadband"):
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name)
        )
    parser.add_argument("--counter-interval", type=float, default=defaults.counter_interval)
    args = parser.parse_args(argv)
    policy = StateRatePolicy(
        interval=args.interval,
        power_deadband=args.power_deadband,
        voltage_deadband=args.voltage_deadband,
        current_deadband=args.current_deadband,
        counter_interval=args.counter_interval,
    )
    pushes = list(trace(args.hours))
    scale = 24 / args.hours
    fields = [k for k in MINE if k in pushes[0][1] or (k == "tariff" and "tariff" in pushes[0][1])]
    per_key = {}
    for key in fields:
        per_key[key] = tuple(
            round(n * scale)
            for n in (
                rows_policy(pushes, key, value_kind(MINE[key]), policy),
                rows_every_push(pushes, key),
                rows_core(pushes, key),
            )
        )
    print(f"{len(pushes):,} pushes over {args.hours:g} h (rows per day); policy {policy}")

    def scenario(mine_on: bool, core_on: bool) -> Iterator[tuple[str, int, int, int]]:
        for key in fields:
            policy_rows, every_rows, core_rows = per_key[key]
            mine = MINE[key].entity_registry_enabled_default or mine_on
            core = CORE_ENABLED.get(CORE_KEY[key], True) or core_on
            yield (
                key,
                policy_rows if mine else 0,
                every_rows if mine else 0,
                core_rows if core else 0,
            )

    print(_table(scenario(False, False), "Defaults (each integration's default entities)"))
    print(_table(scenario(True, True), "Same entities (every field of the trace on both)"))


if __name__ == "__main__":
    main()
