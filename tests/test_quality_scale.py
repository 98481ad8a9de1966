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
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.helpers.entity import Entity
from homeassistant.util.yaml import load_yaml_dict
import pytest

from custom_components.meterit import (
    PLATFORMS,
    config_flow,
)
from custom_components.meterit.const import CONF_SOURCE, DOMAIN, Source
from custom_components.meterit.services import ACTIONS

from .quality_common import (
    ALL_RULES,
    HA_FREE,
    IMPLICIT_ABORTS,
    PACKAGE,
    README,
    RULES,
    STRINGS,
    TESTS,
    done,
    flow_steps,
    flow_trees,
    package_trees,
    status,
)


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
        # the tests and their helpers (common.py starts the user flow for them)
        p.read_text(encoding="utf-8")
        for p in (TESTS / "components").glob("*.py")
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
    steps = set().union(*(flow_steps(cls) for cls in flows))
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
