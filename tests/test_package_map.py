"""The package map of docs/ARCHITECTURE.md is the rule: every import inside modelkit is one its
table allows, and the imports between its rows form no cycle.

The table is read from the document (not copied here), so the map and the code cannot drift
apart: a new import a row does not allow, a module no row names, or a row naming a module that
is gone fails here, naming the module and the import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = PROJECT / "notebooks" / "modelkit"
ARCHITECTURE = PROJECT / "docs" / "ARCHITECTURE.md"
TOP_LEVEL = "top-level modules"


def top_level_modules(root: Path) -> set[str]:
    return {p.stem for p in root.glob("*.py") if p.name != "__init__.py"}


def units_under(root: Path) -> set[str]:
    """The map's units: each module directly under modelkit, and each package (a folder with __init__.py)."""
    return top_level_modules(root) | {p.parent.name for p in root.glob("*/__init__.py")}


def read_map(text: str, top_level: set[str]) -> dict[str, set[str]]:
    """{unit: units it may import} from the "Package map" table."""
    section = text.split("### Package map", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    allowed: dict[str, set[str]] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        names, may_import = cells[0], cells[-1]
        imports = {name.rstrip("/") for name in re.findall(r"`([^`]+)`", may_import)}
        if TOP_LEVEL in may_import:
            imports |= top_level
        rest = re.sub(r"`[^`]+`|,|\s", "", may_import.replace(TOP_LEVEL, ""))
        assert rest in ("", "nothing"), f"package map row {names}: cannot read {may_import!r} (backticked names, {TOP_LEVEL!r} or 'nothing')"
        for name in re.findall(r"`([^`]+)`", names):
            allowed[name.rstrip("/")] = imports
    return allowed


def _unit(module: str) -> str | None:
    """modelkit.training.publish -> training; modelkit.errors -> errors; modelkit -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports_of(path: Path, root: Path) -> list[str]:
    """Every modelkit (and generator) module `path` imports, anywhere in it, as absolute names."""
    package = ["modelkit", *path.relative_to(root).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])])
            # `from modelkit import artifacts` / `from .. import artifacts` name modules, not attributes
            found += [f"{base}.{alias.name}" for alias in node.names] if base == "modelkit" else [base]
    return [name for name in found if name.split(".")[0] in ("modelkit", "generator")]


def violations(root: Path, allowed: dict[str, set[str]]) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(["modelkit", *path.relative_to(root).with_suffix("").parts]).removesuffix(".__init__")
        own = _unit(module)
        for target in imports_of(path, root):
            if target.split(".")[0] == "generator":
                problems.append(f"{module} imports {target}: the generator is a dev tool, nothing in modelkit imports it")
                continue
            unit = _unit(target)
            if own is None:
                problems.append(f"{module} imports {target}: the package's __init__ imports nothing")
            elif own not in allowed:
                problems.append(f"{module}: no row of the package map names `{own}`")
                break
            elif unit not in (own, None) and unit not in allowed[own]:
                problems.append(f"{module} imports {target}: `{own}` may import {', '.join(sorted(allowed[own])) or 'nothing'}")
    return problems


def unit_graph(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        module = ".".join(["modelkit", *path.relative_to(root).with_suffix("").parts]).removesuffix(".__init__")
        own = _unit(module)
        if own is None:
            continue
        targets = {_unit(t) for t in imports_of(path, root) if t.startswith("modelkit")}
        graph.setdefault(own, set()).update(t for t in targets if t not in (own, None))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


@pytest.fixture(scope="module")
def package_map() -> dict[str, set[str]]:
    return read_map(ARCHITECTURE.read_text(), top_level_modules(PACKAGE_ROOT))


def test_every_import_in_modelkit_is_one_the_package_map_allows(package_map):
    problems = violations(PACKAGE_ROOT, package_map)
    assert not problems, "imports the package map (docs/ARCHITECTURE.md) does not allow:\n" + "\n".join(problems)


def test_the_package_map_names_exactly_the_modules_and_packages_there_are(package_map):
    units = units_under(PACKAGE_ROOT)
    assert set(package_map) == units, (f"in the map but not in modelkit: {sorted(set(package_map) - units)}; "
                                       f"in modelkit but not in the map: {sorted(units - set(package_map))}")
    unknown = {name for imports in package_map.values() for name in imports} - units
    assert not unknown, f"the map allows imports of modules that do not exist: {sorted(unknown)}"


def test_the_packages_import_each_other_without_a_cycle():
    cycle = find_cycle(unit_graph(PACKAGE_ROOT))
    assert cycle is None, f"import cycle between modelkit's packages/modules: {' -> '.join(cycle)}"


def test_the_check_names_the_module_and_the_forbidden_import(tmp_path):
    """The rule has teeth: a lifecycle module importing training, relative or absolute, is reported."""
    root = tmp_path / "modelkit"
    for folder in ("lifecycle", "training"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "errors.py").write_text("")
    (root / "training" / "publish.py").write_text("from ..errors import X\n")
    (root / "lifecycle" / "gate.py").write_text("def f():\n    from ..training.publish import g\n")
    (root / "lifecycle" / "cli.py").write_text("import modelkit.training.publish\nfrom generator import build\n")
    text = "### Package map\n\n| `errors` | e | nothing |\n| `training/` | t | `errors` |\n| `lifecycle/` | l | `errors` |\n"
    problems = violations(root, read_map(text, {"errors"}))
    assert problems == [
        "modelkit.lifecycle.cli imports modelkit.training.publish: `lifecycle` may import errors",
        "modelkit.lifecycle.cli imports generator: the generator is a dev tool, nothing in modelkit imports it",
        "modelkit.lifecycle.gate imports modelkit.training.publish: `lifecycle` may import errors",
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
