"""The Integration Quality Scale's silver, gold and platinum rules that Meterit claims done, checked."""

from __future__ import annotations

import ast
from collections.abc import Iterator
import importlib
import json
from pathlib import Path
import re
import tomllib

from homeassistant import const as ha_const

from custom_components.meterit import (
    PLATFORMS,
    config_flow,
    const as meterit_const,
    diagnostics,
    repairs,
)

from .quality_common import (
    HA_ERRORS,
    MANIFEST,
    PACKAGE,
    README,
    ROOT,
    STRINGS,
    TESTS,
    TRANSLATING_HELPERS,
    done,
    flow_steps,
    flow_trees,
    package_trees,
)


def _raises_translated(path: Path, tree: ast.Module) -> Iterator[str]:
    """The translation keys of user-facing exceptions; fails on one raised untranslated."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name in HA_ERRORS:
            key = next((kw.value for kw in node.keywords if kw.arg == "translation_key"), None)
            assert key is not None, f"{path.name}:{node.lineno}: {name} without translation_key"
            if isinstance(key, ast.Constant):
                yield str(key.value)
        elif name in TRANSLATING_HELPERS and not isinstance(node.func, ast.Attribute):
            position = TRANSLATING_HELPERS[name]
            argument = node.args[position] if len(node.args) > position else None
            if isinstance(argument, ast.Constant):
                yield str(argument.value)


def test_exceptions_are_translated() -> None:
    """Every user-facing exception has a translation_key, and strings.json has each key."""
    done("exception-translations")
    keys = {key for path, tree in package_trees() for key in _raises_translated(path, tree)}
    assert {"no_price_entry", "history_start_missing", "p1_token_rejected"} <= keys
    assert keys - set(STRINGS["exceptions"]) == set()


def test_action_exceptions() -> None:
    done("action-exceptions")
    for actions in ("prices/services.py", "history/services.py"):
        source = (PACKAGE / actions).read_text(encoding="utf-8")
        assert "ServiceValidationError" in source
        assert "HomeAssistantError" in source


def test_parallel_updates_in_every_platform() -> None:
    done("parallel-updates")
    for platform in {p for platforms in PLATFORMS.values() for p in platforms}:
        module = importlib.import_module(f"custom_components.meterit.{platform.value}")
        assert isinstance(getattr(module, "PARALLEL_UPDATES", None), int), platform


def test_integration_owner_and_coverage_floor() -> None:
    done("integration-owner")
    assert MANIFEST["codeowners"]
    done("test-coverage")
    coverage = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "coverage"
    ]
    assert coverage["report"]["fail_under"] >= 95


def test_reauthentication_and_reconfiguration_flows() -> None:
    done("reauthentication-flow")
    assert "reauth" in flow_steps(config_flow.MeteritConfigFlow)
    done("reconfiguration-flow")
    assert "reconfigure" in flow_steps(config_flow.MeteritConfigFlow)


def _constant(name: str) -> str:
    """A ``CONF_*`` constant's value: Home Assistant's or Meterit's."""
    value = getattr(ha_const, name, None) or getattr(meterit_const, name)
    assert isinstance(value, str), name
    return value


def test_diagnostics_redact_every_secret_an_entry_holds() -> None:
    """Each key a config flow writes into an entry's data, but the kind and the region, is redacted."""
    done("diagnostics")
    keys: set[str] = set()
    for tree in flow_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Name) and k.id == "CONF_SOURCE" for k in node.keys
            ):
                keys |= {_constant(k.id) for k in node.keys if isinstance(k, ast.Name)}
    assert {"host", "token", "webhook_id", "identifier"} <= keys
    assert keys - {"source", "region"} <= diagnostics.TO_REDACT
    assert {"serial", "unique_id"} <= diagnostics.TO_REDACT
    for test in ("test_p1_live.py", "test_prices_internals.py", "test_webhook_state.py"):
        assert "async_get_config_entry_diagnostics" in (TESTS / "components" / test).read_text()


def test_discovery() -> None:
    done("discovery")
    assert MANIFEST["zeroconf"]
    assert "zeroconf" in flow_steps(config_flow.MeteritConfigFlow)


def test_stale_devices() -> None:
    """Devices that are gone are removed: external meters after 30 days, or by the user."""
    done("stale-devices")
    from custom_components.meterit.p1.devices import STALE_AFTER  # noqa: PLC0415

    assert STALE_AFTER.days == 30
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    assert any(
        isinstance(n, ast.AsyncFunctionDef) and n.name == "async_remove_config_entry_device"
        for n in tree.body
    )
    assert "test_p1_devices.py" in {p.name for p in (TESTS / "components").glob("*.py")}


def test_icons_and_repairs() -> None:
    done("icon-translations")
    assert json.loads((PACKAGE / "icons.json").read_text(encoding="utf-8"))["entity"]
    done("repair-issues")
    assert set(repairs.ENTRY_ISSUE_KINDS) == set(STRINGS["issues"])


def test_docs_gold() -> None:
    done("docs-troubleshooting")
    assert "## Troubleshooting" in README
    done("docs-known-limitations")
    assert "## Known limitations" in README
    done("docs-data-update")
    for how in ("local push", "cloud polling"):
        assert how in README.lower()


def test_strict_typing() -> None:
    """mypy --strict covers the package, and the libraries it imports are typed."""
    done("strict-typing")
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert mypy["strict"] is True
    assert "custom_components/meterit" in mypy["files"]
    # the libraries Meterit uses are typed (its own package is checked by mypy above)
    for library in set(MANIFEST["loggers"]) - {"custom_components.meterit"}:
        module = importlib.import_module(library)
        assert module.__file__ is not None
        assert (Path(module.__file__).parent / "py.typed").is_file(), library


def test_inject_websession() -> None:
    """REST clients get Home Assistant's session; none opens an aiohttp.ClientSession itself."""
    done("inject-websession")
    for path, _ in package_trees():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"aiohttp\.ClientSession\(|\bClientSession\(", text), path.name
    for client in ("p1/client.py", "p1/coordinator.py", "prices/coordinator.py"):
        assert "async_get_clientsession" in (PACKAGE / client).read_text(encoding="utf-8")
