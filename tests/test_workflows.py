"""The GitHub workflows run what the project and a HACS submission rely on (no silent drift)."""

from __future__ import annotations

import os
from pathlib import Path
import tomllib
from typing import Any

from homeassistant.util.yaml import load_yaml_dict

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict[Any, Any]:
    return dict(load_yaml_dict(WORKFLOWS / name))


def _triggers(workflow: dict[Any, Any]) -> set[str]:
    # YAML 1.1 reads the bare key `on` as the boolean True
    on = workflow.get("on", workflow.get(True))
    return set(on) if isinstance(on, dict) else set(on or ())


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _uses(workflow: dict[Any, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(workflow) if str(s.get("uses", "")).partition("@")[0] == action]


def test_ci_runs_the_projects_own_check_on_push_and_pull_request() -> None:
    """The CI workflow calls .ci/run itself (not a copy of its commands) on the Python it needs."""
    ci = _workflow("ci.yaml")
    assert {"push", "pull_request"} <= _triggers(ci)
    runs = [str(step["run"]).strip() for step in _steps(ci) if "run" in step]
    assert runs.count("meterit/.ci/run") == 1
    assert not [run for run in runs if "scripts/test" in run or "pytest" in run]
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    commands = script.read_text().splitlines()
    assert commands[-2:] == ["scripts/setup", "scripts/test"]
    # the clone is meterit/ with shared/ beside it, the layout .ci/run expects
    (project,) = [s for s in _uses(ci, "actions/checkout") if "repository" not in s["with"]]
    (shared,) = [s for s in _uses(ci, "actions/checkout") if "repository" in s["with"]]
    assert (project["with"]["path"], shared["with"]["path"]) == ("meterit", "shared")
    (python,) = _uses(ci, "actions/setup-python")
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert required.removeprefix(">=").startswith(str(python["with"]["python-version"]))


def test_hassfest_and_hacs_validate_on_push_and_pull_request() -> None:
    """Home Assistant's hassfest and the HACS action (category integration) both run."""
    validate = _workflow("validate.yaml")
    assert {"push", "pull_request"} <= _triggers(validate)
    assert len(_uses(validate, "home-assistant/actions/hassfest")) == 1
    (hacs,) = _uses(validate, "hacs/action")
    assert hacs["with"] == {"category": "integration"}
    for job in validate["jobs"].values():  # each validator looks at a checkout of the repository
        assert str(job["steps"][0]["uses"]).startswith("actions/checkout@")
