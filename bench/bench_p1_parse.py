"""P1 push parsing, per push: the one pass against the field-by-field check (not pytest).

Run: ``.venv/bin/python bench/bench_p1_parse.py [--pushes 2000] [--repeat 7]``

Pushes from ``../shared/tools/p1-trace`` (generated once, outside the timing), as WebSocket
text. Prints µs per push, the fastest of ``--repeat`` runs, for: decoding (``parse_ws_message``,
orjson when installed) beside the standard library's ``json.loads`` of the same text; and reading
the fields (``parse_measurement``, which takes the one pass for a clean push) beside the
field-by-field check it falls back to (``_checked_values`` + ``Measurement``), all in this run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import subprocess
import sys
import timeit
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from custom_components.meterit.homewizard.models import (  # noqa: E402
    Measurement,
    _checked_values,
    parse_measurement,
    parse_ws_message,
)

TRACE = ROOT.parent / "shared" / "tools" / "p1-trace"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    out = subprocess.run(  # noqa: S603 - our interpreter and the shared tool
        [sys.executable, str(TRACE), "--start", "2026-06-21T10:00:00Z", "--hours", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pushes = [json.loads(line)["data"] for line in out.splitlines()][: args.pushes]
    texts = [json.dumps({"type": "measurement", "data": data}) for data in pushes]
    data: list[dict[str, Any]] = [parse_ws_message(t).data for t in texts]  # type: ignore[misc]

    def field_by_field() -> None:
        for push in data:
            Measurement(**_checked_values(push, []))  # type: ignore[arg-type]

    cases = {
        "decode: json.loads (baseline)": lambda: [json.loads(t) for t in texts],
        "decode: parse_ws_message": lambda: [parse_ws_message(t) for t in texts],
        "fields: field by field (baseline)": field_by_field,
        "fields: parse_measurement": lambda: [parse_measurement(push) for push in data],
    }
    print(f"{len(texts)} pushes of p1-trace, fastest of {args.repeat} runs, µs per push:")
    for name, run in cases.items():
        best = min(timeit.repeat(run, number=1, repeat=args.repeat))
        print(f"  {name:<36} {1e6 * best / len(texts):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
