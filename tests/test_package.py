"""The integration's package files agree with each other: manifest, HACS, translations, icons."""

from __future__ import annotations

import json
from pathlib import Path
import re
import tomllib
from typing import Any

from homeassistant.util.yaml import load_yaml_dict
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "custom_components" / "meterit"
STRINGS: dict[str, Any] = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))
LANGUAGES = ("en", "es", "nl")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _leaves(tree: Any, prefix: str = "") -> dict[str, str]:
    """Flatten a translation tree to {"a.b.c": text}."""
    if isinstance(tree, str):
        return {prefix: tree}
    assert isinstance(tree, dict), prefix
    out: dict[str, str] = {}
    for key, value in tree.items():
        out |= _leaves(value, f"{prefix}.{key}" if prefix else key)
    return out


def test_manifest() -> None:
    """The manifest has what HACS and Home Assistant need, and the version is the project's."""
    manifest = json.loads((PACKAGE / "manifest.json").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert manifest["domain"] == "meterit"
    assert manifest["version"] == project["version"]
    assert manifest["config_flow"] is True
    # local_push: the meter and the webhooks push, locally; the README says which entry
    # kind needs the cloud (PVPC prices, polled)
    assert manifest["iot_class"] == "local_push"
    # API v2 announcements of P1 meters only (Home Assistant lower-cases the value it matches)
    assert manifest["zeroconf"] == [
        {"type": "_homewizard._tcp.local.", "properties": {"product_type": "hwe-p1"}}
    ]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for source_class in ("local push", "cloud polling"):
        assert source_class in readme.lower()
    assert {"recorder", "webhook"} <= set(manifest["dependencies"])
    for requirement in manifest["requirements"]:
        assert ">=" in requirement, f"{requirement}: use a range, not a pin"
    assert f"## [{project['version']}]" in (ROOT / "CHANGELOG.md").read_text(
        encoding="utf-8"
    ) or "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_hacs_minimum_is_the_tested_release_line() -> None:
    """hacs.json's minimum is the first release of the line the pinned test plugin brings.

    2026.10.0 and the tested 2026.10.4 differ in none of the modules Meterit imports (compared
    file by file, see CHANGELOG); a patch release is not a reason to shut users out. The README
    says the same minimum.
    """
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    from homeassistant.const import MAJOR_VERSION, MINOR_VERSION, __version__  # noqa: PLC0415

    assert hacs["homeassistant"] == f"{MAJOR_VERSION}.{MINOR_VERSION}.0"
    assert __version__.startswith(f"{MAJOR_VERSION}.{MINOR_VERSION}.")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Requires Home Assistant {hacs['homeassistant']} or newer" in readme
    assert hacs["render_readme"] is True
    pins = (ROOT / "requirements_test.txt").read_text(encoding="utf-8")
    assert "pytest-homeassistant-custom-component==" in pins


def test_english_translation_is_strings() -> None:
    """translations/en.json is strings.json, as Home Assistant's tooling would build it."""
    english = json.loads((PACKAGE / "translations" / "en.json").read_text(encoding="utf-8"))
    assert english == STRINGS


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_complete(language: str) -> None:
    """Every language has every key, with the same placeholders, and nothing left empty."""
    expected = _leaves(STRINGS)
    path = PACKAGE / "translations" / f"{language}.json"
    actual = _leaves(json.loads(path.read_text(encoding="utf-8")))
    assert set(actual) == set(expected), f"{language}: keys differ"
    for key, text in expected.items():
        assert actual[key].strip(), f"{language}: {key} is empty"
        assert set(PLACEHOLDER.findall(actual[key])) == set(PLACEHOLDER.findall(text)), (
            f"{language}: {key} placeholders differ"
        )


def test_every_translation_key_in_code_exists() -> None:
    """Each translation_key the code names is in strings.json (entities, exceptions, issues)."""
    known: set[str] = set()
    for section in ("exceptions", "issues", "device", "selector"):
        known |= set(STRINGS.get(section, {}))
    for platform in STRINGS.get("entity", {}).values():
        known |= set(platform)
    used: set[str] = set()
    for source in PACKAGE.glob("*.py"):
        used |= set(re.findall(r'translation_key\s*=\s*"([a-z0-9_]+)"', source.read_text()))
    assert used, "no translation keys found: the pattern is broken"
    assert used - known == set()


def test_icons_name_existing_entities() -> None:
    """icons.json only speaks of entities and services that exist."""
    icons = json.loads((PACKAGE / "icons.json").read_text(encoding="utf-8"))
    for platform, entities in icons.get("entity", {}).items():
        assert set(entities) <= set(STRINGS["entity"][platform]), platform
    services = load_yaml_dict(PACKAGE / "services.yaml")
    assert set(icons.get("services", {})) == set(services)


def test_services_are_described() -> None:
    """Every action in services.yaml has a name, a description and its fields in strings.json."""
    services = load_yaml_dict(PACKAGE / "services.yaml")
    described = STRINGS.get("services", {})
    for name, spec in services.items():
        assert described[name]["name"]
        assert described[name]["description"]
        for field in (spec or {}).get("fields", {}) or {}:
            assert described[name]["fields"][field]["name"], f"{name}.{field}"
