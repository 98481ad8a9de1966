"""What the quality-scale checks share: the rule list, the claimed statuses, the package's sources."""

from __future__ import annotations

import ast
from collections.abc import Iterator
import json
from pathlib import Path
from typing import Any

from homeassistant.util.yaml import load_yaml_dict
import pytest

ROOT = Path(__file__).resolve().parents[1]


PACKAGE = ROOT / "custom_components" / "meterit"


TESTS = ROOT / "tests"


STRINGS: dict[str, Any] = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))


MANIFEST: dict[str, Any] = json.loads((PACKAGE / "manifest.json").read_text(encoding="utf-8"))


README = (ROOT / "README.md").read_text(encoding="utf-8")


HA_FREE = ("homewizard", "esios", "metering", "powerhook")


def flow_paths() -> list[Path]:
    """The config flow and each source's flow steps and options (``<source>/flow*.py``, ``options.py``)."""
    return [
        PACKAGE / "config_flow.py",
        *sorted(PACKAGE.glob("flow_*.py")),
        *sorted(PACKAGE.glob("*/flow*.py")),
        *sorted(PACKAGE.glob("*/options.py")),
    ]


TIERS: dict[str, tuple[str, ...]] = {
    "bronze": (
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ),
    "silver": (
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ),
    "gold": (
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}


ALL_RULES = [rule for rules in TIERS.values() for rule in rules]


RULES: dict[str, Any] = load_yaml_dict(PACKAGE / "quality_scale.yaml")["rules"]


# Exceptions that Home Assistant shows to the user: each must be raised translated.
HA_ERRORS = frozenset(
    {
        "HomeAssistantError",
        "ServiceValidationError",
        "ConfigEntryNotReady",
        "ConfigEntryAuthFailed",
        "ConfigEntryError",
        "UpdateFailed",
    }
)


# Helpers that build such an exception from a key their callers pass (argument position).
TRANSLATING_HELPERS = {"_invalid": 0, "HistoryArgumentError": 1}


# Reasons Home Assistant's flow helpers abort with by themselves.
IMPLICIT_ABORTS = {
    "async_set_unique_id": "already_in_progress",
    "_abort_if_unique_id_configured": "already_configured",
    "async_update_reload_and_abort": "reconfigure_successful",
}


def status(rule: str) -> str:
    entry = RULES[rule]
    return str(entry["status"] if isinstance(entry, dict) else entry)


def done(rule: str) -> None:
    """Skip a check whose rule is not claimed done (the check is what 'done' promises)."""
    if status(rule) != "done":
        pytest.skip(f"{rule} is {status(rule)}")


def package_trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def flow_trees() -> Iterator[ast.Module]:
    for path in flow_paths():
        yield ast.parse(path.read_text(encoding="utf-8"))


def flow_steps(cls: type) -> set[str]:
    return {
        name.removeprefix("async_step_")
        for name in dir(cls)
        if name.startswith("async_step_")
        and getattr(cls, name).__module__.startswith("custom_components.meterit")
    }
