"""The code's layout: HA-free libraries apart, one package per source, no import cycle, small modules.

Read from the source (``ast``), not by importing it: an import cycle that happens to resolve at
run time today is still a cycle, and a module's size is its text.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "custom_components" / "meterit"
PREFIX = "custom_components.meterit"
HA_FREE = ("homewizard", "esios", "metering", "powerhook")
"""The libraries that know nothing of Home Assistant (DESIGN.md: the layers)."""
SOURCES = ("p1", "prices", "webhook")
"""One package per source, each with its coordinator."""
MAX_LINES = 500
CHECKED_TREES = ("custom_components", "tests")


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target module, and whether it only runs for type checkers."""

    module: str
    names: tuple[str, ...]
    typing_only: bool
    line: int


def module_name(path: Path) -> str:
    """``custom_components/meterit/p1/sensor.py`` -> ``custom_components.meterit.p1.sensor``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in a module, in functions too (a lazy import is still a dependency)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    typing_lines: set[int] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for inner in node.body:
                typing_lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, (), node.lineno in typing_lines, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            yield Import(target, names, node.lineno in typing_lines, node.lineno)


def integration_modules() -> dict[str, Path]:
    """Every module of the integration by its dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _package(module: str) -> str:
    """``custom_components.meterit.webhook.writer`` -> ``webhook``; a top-level module: itself."""
    return module.removeprefix(f"{PREFIX}.").split(".")[0]


def import_graph(*, typing: bool = True) -> dict[str, set[str]]:
    """Module -> the integration's modules it imports (``typing=False``: when it runs only).

    ``from .p1 import sensor`` depends on the submodule; importing ``a.b.c`` also runs the
    packages ``a`` and ``a.b``.
    """
    modules = integration_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for found in imports_of(path):
            if (found.typing_only and not typing) or not found.module.startswith(PREFIX):
                continue
            if found.typing_only and _package(found.module) == _package(name):
                continue  # an owned helper naming its owner's type: one package, one design
            targets = {found.module}
            targets |= {
                f"{found.module}.{n}" for n in found.names if f"{found.module}.{n}" in modules
            }
            for target in targets:
                parts = target.split(".")
                for end in range(3, len(parts) + 1):
                    dependency = ".".join(parts[:end])
                    if (
                        dependency in modules
                        and dependency != name
                        and not name.startswith(f"{dependency}.")
                    ):
                        graph[name].add(dependency)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself: a two-module loop and a three-module loop are found, a chain is not."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b"], ["c", "d", "e"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_are_resolved_relative_to_their_package() -> None:
    """``from ..const import X`` in ``p1/sensor.py`` is ``custom_components.meterit.const``."""
    found = {i.module for i in imports_of(PACKAGE / "p1" / "sensor.py")}
    assert f"{PREFIX}.const" in found
    assert f"{PREFIX}.p1.coordinator" in found
    entry = list(imports_of(PACKAGE / "entry.py"))
    assert any(i.module == f"{PREFIX}.p1.coordinator" and i.typing_only for i in entry)


def test_no_import_cycle() -> None:
    """No module of the integration imports, through others, itself: not even for types.

    (A cycle through ``if TYPE_CHECKING:`` imports is one lazy import away from a real one.)
    Only inside one package may a helper name, for type checkers, the coordinator that owns
    it (``webhook/writer.py`` and its ``WebhookCoordinator``).
    """
    assert cycles(import_graph()) == []


def test_the_typed_entry_needs_no_coordinator() -> None:
    """``entry.py`` names the coordinators for type checkers only: any module can import it."""
    assert import_graph(typing=False)[f"{PREFIX}.entry"] == set()


@pytest.mark.parametrize("library", HA_FREE)
def test_ha_free_libraries_import_no_home_assistant(library: str) -> None:
    """The libraries import neither Home Assistant nor the integration's other modules."""
    own = f"{PREFIX}.{library}"
    for path in sorted((PACKAGE / library).rglob("*.py")):
        for found in imports_of(path):
            where = f"{path.relative_to(ROOT)}:{found.line}"
            assert found.module.split(".")[0] != "homeassistant", where
            if found.module.startswith(PREFIX):
                assert found.module == own or found.module.startswith(f"{own}."), where


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_is_a_package_with_its_coordinator(source: str) -> None:
    """``p1/``, ``prices/``, ``webhook/``: a coordinator, entities, and an empty ``__init__``."""
    package = PACKAGE / source
    assert (package / "coordinator.py").is_file()
    assert (package / "entity.py").is_file()
    assert (package / "sensor.py").is_file()
    init = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    # only a docstring: importing one module of a package runs nothing else of it
    assert len(init.body) == 1
    assert isinstance(init.body[0], ast.Expr)


def test_sources_do_not_import_each_other() -> None:
    """A source's package uses shared modules, not another source's (but for PVPC's prices)."""
    graph = import_graph()
    allowed = {("webhook", "prices")}  # a webhook may price its readings from a PVPC entry
    for module, dependencies in graph.items():
        parts = module.split(".")
        if len(parts) < 4 or parts[2] not in SOURCES:
            continue
        for dependency in dependencies:
            other = dependency.split(".")
            if len(other) >= 3 and other[2] in SOURCES and other[2] != parts[2]:
                assert (parts[2], other[2]) in allowed, f"{module} imports {dependency}"


def test_no_module_is_longer_than_the_limit() -> None:
    """Every module of the integration and of the tests fits in a screenful of screens."""
    long = {
        str(path.relative_to(ROOT)): lines
        for tree in CHECKED_TREES
        for path in sorted((ROOT / tree).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
