"""quality_scale.yaml is complete and honest: each mechanically checkable "done" is checked here.

The rule list is Home Assistant's own: ``ALL_RULES`` of home-assistant/core
``script/hassfest/quality_scale.py`` (hassfest is not part of the ``homeassistant`` package, so the
names and tiers are written out below; a rule added upstream shows up as missing here once copied).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import importlib
import inspect
import json
from pathlib import Path
import re
import tomllib
from types import MappingProxyType
from typing import Any

from homeassistant import const as ha_const
from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.helpers.entity import Entity
from homeassistant.util.yaml import load_yaml_dict
import pytest

from custom_components.meterit import (
    PLATFORMS,
    config_flow,
    const as meterit_const,
    diagnostics,
    repairs,
)
from custom_components.meterit.const import CONF_SOURCE, DOMAIN, Source
from custom_components.meterit.services import ACTIONS

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


def test_every_rule_of_every_tier_and_no_other() -> None:
    assert sorted(RULES) == sorted(ALL_RULES)
    assert len(ALL_RULES) == len(set(ALL_RULES))


@pytest.mark.parametrize("rule", ALL_RULES)
def test_each_rule_has_a_status_and_a_comment(rule: str) -> None:
    entry = RULES[rule]
    assert isinstance(entry, dict), f"{rule}: give status and comment"
    assert entry["status"] in {"done", "todo", "exempt"}, rule
    assert str(entry.get("comment", "")).strip(), f"{rule}: say why"


def test_header_names_what_stands_between_meterit_and_platinum() -> None:
    header = "\n".join(
        line
        for line in (PACKAGE / "quality_scale.yaml").read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    missing = [rule for rule in ALL_RULES if status(rule) == "todo" and rule not in header]
    assert missing == []


# ------------------------------------------------------------------------------ bronze


def test_action_setup() -> None:
    done("action-setup")
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    (setup,) = [
        n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == "async_setup"
    ]
    calls = {
        c.func.id
        for c in ast.walk(setup)
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
    }
    assert "async_setup_services" in calls


def test_common_modules() -> None:
    """Each source's package has its coordinator and its base entity, as core's integrations."""
    done("common-modules")
    for source in ("p1", "prices", "webhook"):
        assert (PACKAGE / source / "coordinator.py").is_file(), source
        assert (PACKAGE / source / "entity.py").is_file(), source


def test_brands() -> None:
    done("brands")
    for name in ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png"):
        assert (PACKAGE / "brand" / name).is_file(), name


def _form_fields(section: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for step_id, step in STRINGS[section].get("step", {}).items():
        yield section, step_id, step


def test_config_flow_fields_are_described() -> None:
    """Every field of every form has a label and a data_description."""
    done("config-flow")
    for section, step_id, step in [*_form_fields("config"), *_form_fields("options")]:
        fields = set(step.get("data", {}))
        described = set(step.get("data_description", {}))
        assert fields == described, f"{section}.step.{step_id}"


def test_config_flow_aborts_errors_and_steps_have_texts() -> None:
    """Every abort reason (also those Home Assistant adds), error and form step is in strings."""
    done("config-flow")
    aborts: set[str] = set()
    errors: set[str] = set()
    steps: set[str] = set()
    for tree in flow_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                for kw in node.keywords:
                    if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        if kw.arg == "reason":
                            aborts.add(kw.value.value)
                        elif kw.arg == "step_id":
                            steps.add(kw.value.value)
                if name in IMPLICIT_ABORTS and not (
                    name == "async_update_reload_and_abort"
                    and any(kw.arg == "reason" for kw in node.keywords)
                ):
                    aborts.add(IMPLICIT_ABORTS[name])
                if name == "async_update_reload_and_abort":
                    aborts.add("reauth_successful")
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and getattr(target.value, "id", "") == "errors"
                    ):
                        errors.add(str(node.value.value))
                    if isinstance(target, ast.Name) and target.id.startswith("STEP_"):
                        steps.add(str(node.value.value))
    assert {"already_in_progress", "wrong_device"} <= aborts  # the scan sees what it must
    assert aborts - set(STRINGS["config"]["abort"]) == set()
    assert errors - set(STRINGS["config"]["error"]) - set(STRINGS["options"]["error"]) == set()
    assert steps - set(STRINGS["config"]["step"]) - set(STRINGS["options"]["step"]) == set()


def _steps(cls: type) -> set[str]:
    return {
        name.removeprefix("async_step_")
        for name in dir(cls)
        if name.startswith("async_step_")
        and getattr(cls, name).__module__.startswith("custom_components.meterit")
    }


STEP_STARTERS = {
    "user": ("SOURCE_USER",),
    "zeroconf": ("SOURCE_ZEROCONF",),
    "reauth": ("start_reauth_flow", "SOURCE_REAUTH"),
    "reconfigure": ("start_reconfigure_flow",),
    "init": ("options.async_init",),
}


def _entry_of(source: Source) -> ConfigEntry:
    """A bare config entry of a source (only its data is read by ``async_get_options_flow``)."""
    return ConfigEntry(
        data={CONF_SOURCE: source.value},
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=1,
        options={},
        source="user",
        subentries_data=None,
        title=source.value,
        unique_id=None,
        version=1,
    )


def test_config_flow_tests_exist_for_every_step() -> None:
    """Each step of the config and options flows is reached by some test."""
    done("config-flow-test-coverage")
    tests = "\n".join(
        p.read_text(encoding="utf-8") for p in (TESTS / "components").glob("test_*.py")
    )
    flows: list[type] = [
        config_flow.MeteritConfigFlow,
        *(
            type(config_flow.MeteritConfigFlow.async_get_options_flow(_entry_of(source)))
            for source in Source
        ),
    ]
    assert issubclass(flows[0], ConfigFlow)
    assert all(issubclass(cls, OptionsFlow) for cls in flows[1:])
    steps = set().union(*(_steps(cls) for cls in flows))
    assert {"user", "p1", "p1_token", "prices", "webhook", "reconfigure"} <= steps
    untested = [
        step
        for step in sorted(steps)
        if not any(marker in tests for marker in STEP_STARTERS.get(step, (f'"{step}"',)))
    ]
    assert untested == []


def _entity_classes() -> list[type[Entity]]:
    """The entity classes of the platforms, wherever they live (each source's package)."""
    classes: list[type[Entity]] = []
    names = [f"custom_components.meterit.{p.value}" for ps in PLATFORMS.values() for p in ps]
    names += [
        "custom_components.meterit." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for path in sorted(PACKAGE.glob("*/*.py"))
        if path.parent.name not in HA_FREE and path.name != "__init__.py"
    ]
    for name in sorted(set(names)):
        module = importlib.import_module(name)
        classes += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Entity)
            and obj.__module__ == module.__name__
        ]
    return classes


def test_entities_have_unique_ids() -> None:
    done("entity-unique-id")
    classes = _entity_classes()
    assert len(classes) >= 5
    for cls in classes:
        sets_it = any(
            "self._attr_unique_id =" in _source(base)
            for base in cls.__mro__
            if base.__module__.startswith("custom_components.meterit")
        )
        assert sets_it, cls.__name__


def _source(cls: type) -> str:
    return inspect.getsource(cls)


def test_entities_have_entity_names() -> None:
    done("has-entity-name")
    for cls in _entity_classes():
        assert any(  # (Home Assistant's metaclass turns _attr_ values into properties)
            "_attr_has_entity_name = True" in _source(base)
            for base in cls.__mro__
            if base.__module__.startswith("custom_components.meterit")
        ), cls.__name__


def test_runtime_data() -> None:
    done("runtime-data")
    for path, tree in package_trees():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "data"
                and getattr(node.value.value, "id", "") == "hass"
            ):
                assert "DOMAIN" not in ast.unparse(node.slice), f"{path.name}: hass.data[DOMAIN]"


def test_docs_bronze() -> None:
    for rule, needle in (
        ("docs-installation-instructions", "## Installation"),
        ("docs-removal-instructions", "## Removal"),
    ):
        if status(rule) == "done":
            assert needle in README, rule
    done("docs-actions")
    for action in load_yaml_dict(PACKAGE / "services.yaml"):
        assert f"meterit.{action}" in README, action


def test_every_registered_action_is_described() -> None:
    """services.yaml describes exactly the actions registered, and each name once."""
    names = [action.name for action in ACTIONS]
    assert len(names) == len(set(names))
    assert set(names) == set(load_yaml_dict(PACKAGE / "services.yaml"))
    assert {a.name for a in ACTIONS if a.admin} == {"import_hwlogger"}


# ------------------------------------------------------------------------------ silver


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
    assert "reauth" in _steps(config_flow.MeteritConfigFlow)
    done("reconfiguration-flow")
    assert "reconfigure" in _steps(config_flow.MeteritConfigFlow)


# ------------------------------------------------------------------------------ gold


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
    assert "zeroconf" in _steps(config_flow.MeteritConfigFlow)


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


# ------------------------------------------------------------------------------ platinum


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
