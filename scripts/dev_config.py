"""The development Home Assistant config, and the Python packages it loads.

    python scripts/dev_config.py write DIR [--host 127.0.0.1] [--port 8123]
        configuration.yaml (if missing) and the stored HTTP config (if missing) in DIR
    python scripts/dev_config.py requirements
        the requirements of every integration that config sets up, one a line (scripts/setup
        installs them, so that no first start has to build or download anything)

Used by scripts/develop, scripts/setup and the browser test (tests/browser/).
"""

# ruff: noqa: INP001, T201  -- standalone script; scripts/ is intentionally not a package

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

CONFIGURATION_YAML = """\
# Development config: what Meterit needs, without default_config's voice and media pieces.
homeassistant:
  name: Meterit dev
  time_zone: Europe/Madrid
  unit_system: metric
  currency: EUR
  country: ES
# No http: here: since Home Assistant 2026.10 it lives in .storage/http (seeded by
# scripts/dev_config.py, bound to 127.0.0.1); YAML http: is staged as an unconfirmed "pending"
# config that Home Assistant reverts after 5 minutes by restarting itself.
frontend:
config:
energy:
history:
logbook:
recorder:
webhook:
logger:
  default: info
  logs:
    custom_components.meterit: info
"""
# The integrations of configuration.yaml above, and those onboarding sets up when it finishes.
CONFIG_DOMAINS = ("frontend", "config", "energy", "history", "logbook", "recorder", "webhook")
ONBOARDING_DOMAINS = ("google_translate", "met", "radio_browser", "shopping_list")
MANIFEST = Path(__file__).resolve().parents[1] / "custom_components" / "meterit" / "manifest.json"


def write(config_dir: Path, host: str, port: int) -> None:
    """Write the config into ``config_dir``; files already there are kept."""
    (config_dir / ".storage").mkdir(parents=True, exist_ok=True)
    yaml_file = config_dir / "configuration.yaml"
    if not yaml_file.exists():
        yaml_file.write_text(CONFIGURATION_YAML, encoding="utf-8")
    http_file = config_dir / ".storage" / "http"
    if not http_file.exists():
        http_file.write_text(json.dumps(_http_store(host, port), indent=2), encoding="utf-8")


def _http_store(host: str, port: int) -> dict[str, object]:
    """The stored, confirmed ("stable") HTTP config, made with Home Assistant's own schema."""
    from homeassistant.components.http import config as http  # noqa: PLC0415
    from homeassistant.util import dt as dt_util  # noqa: PLC0415

    stable = {
        **http.HTTP_STORAGE_SCHEMA({"server_host": [host], "server_port": port}),
        "created_at": dt_util.utcnow().isoformat(),
        "error": None,
        "error_message": None,
    }
    return {
        "version": http.STORAGE_VERSION,
        "minor_version": http.STORAGE_MINOR_VERSION,
        "key": http.STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }


def requirements() -> list[str]:
    """Requirements of the integrations the config sets up, with all their dependencies."""
    from homeassistant import bootstrap, components  # noqa: PLC0415

    root = Path(components.__file__).parent
    meterit = json.loads(MANIFEST.read_text(encoding="utf-8"))
    todo = {
        *bootstrap.CORE_INTEGRATIONS,
        *bootstrap.DEFAULT_INTEGRATIONS,
        *CONFIG_DOMAINS,
        *ONBOARDING_DOMAINS,
        *meterit["dependencies"],
    }
    seen: set[str] = set()
    wanted: set[str] = set(meterit["requirements"])
    while todo:
        domain = todo.pop()
        seen.add(domain)
        manifest_file = root / domain / "manifest.json"
        if not manifest_file.exists():  # a base platform without an integration of its own
            continue
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        wanted.update(manifest.get("requirements", ()))
        todo.update(set(manifest.get("dependencies", ())) - seen)
    return sorted(wanted, key=str.lower)


def main(argv: list[str]) -> None:
    """Command line: ``write DIR`` or ``requirements``."""
    parser = argparse.ArgumentParser(prog="scripts/dev_config.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    write_cmd = commands.add_parser("write")
    write_cmd.add_argument("config_dir", type=Path)
    write_cmd.add_argument("--host", default="127.0.0.1")
    write_cmd.add_argument("--port", type=int, default=8123)
    commands.add_parser("requirements")
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.config_dir, args.host, args.port)
    else:
        print("\n".join(requirements()))


if __name__ == "__main__":
    main(sys.argv[1:])
