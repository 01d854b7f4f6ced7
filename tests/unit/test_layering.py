"""The core never imports the provisioning flows: they are built on its public API."""

from __future__ import annotations

import ast
from pathlib import Path

import harness

CORE = Path(harness.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_core_module_imports_the_flows() -> None:
    core = [path for path in CORE.rglob("*.py") if "flows" not in path.relative_to(CORE).parts]
    assert len(core) > 20
    offenders = {
        str(path.relative_to(CORE)): sorted(name for name in imported_modules(path) if name.startswith("harness.flows"))
        for path in core
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_flows_reach_the_core_through_its_public_api_only() -> None:
    """A flow is built as a user's would be: on what ``harness.__all__`` names, imported from ``harness``."""
    outside = []
    for path in (CORE / "flows").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                outside += [alias.name for alias in node.names if alias.name.split(".")[0] == "harness"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "harness":
                if node.module == "harness":
                    outside += [alias.name for alias in node.names if alias.name not in harness.__all__]
                elif not (node.module or "").startswith("harness.flows"):
                    outside.append(f"{path.relative_to(CORE)}: from {node.module} import ...")
    assert outside == []


def test_every_error_class_of_the_core_is_in_errors_py() -> None:
    """One place lists what the core raises on purpose (the flows, a plugin of their own, keep theirs)."""
    elsewhere = []
    for path in CORE.rglob("*.py"):
        if "flows" in path.relative_to(CORE).parts or path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                if any(base.endswith(("Error", "Exception", "Failed", "Unavailable", "Refused")) for base in bases):
                    elsewhere.append(f"{path.relative_to(CORE)}: {node.name}")
    assert elsewhere == []


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__")


def harness_imports(path: Path, modules: set[str]) -> set[str]:
    """The harness modules ``path`` imports, at run time or for type checking alike.

    ``from harness import X`` is X's own module: a submodule, or the home ``harness`` exports X from.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "harness")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "harness":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    found.add(full)
                elif node.module == "harness":
                    found.add(harness._HOMES[alias.name])
                else:
                    found.add(node.module)
    return found - {module_name(path)}


def test_no_import_circle_among_the_harness_modules() -> None:
    """Counting imports made for type checking too: a part that takes the facade it is part of is a circle.

    The package's ``__init__`` is left out: it imports each public name's home lazily, on first use.
    """
    paths = {module_name(path): path for path in CORE.rglob("*.py")}
    graph = {name: harness_imports(path, set(paths)) for name, path in paths.items() if name != "harness"}
    circles = []
    for start in graph:
        # A depth-first walk from each module: a path that comes back to it is a circle.
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            name, path = stack.pop()
            for imported in sorted(graph.get(name, ())):
                if imported == start:
                    circles.append(" -> ".join([*path, start]))
                elif imported not in seen:
                    seen.add(imported)
                    stack.append((imported, [*path, imported]))
    assert circles == []


def test_the_package_init_imports_the_harness_only_lazily() -> None:
    tree = ast.parse((CORE / "__init__.py").read_text())
    guarded = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) for n in ast.walk(node)}
    eager = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness") and id(node) not in guarded
    ]
    assert eager == []


def test_no_class_over_300_lines_and_no_function_over_8_parameters() -> None:
    """A class that outgrows a screenful of screens is doing several jobs; a long parameter list is a value
    that wants a name (a VpsWant, a ContainerPlan)."""
    big, long = [], []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(CORE)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ClassDef) and node.end_lineno and node.end_lineno - node.lineno + 1 > 300:
                big.append(f"{where} {node.name}")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
                count = len(names) + (args.vararg is not None) + (args.kwarg is not None)
                count -= bool(names) and names[0] in ("self", "cls")
                if count > 8:
                    long.append(f"{where} {node.name} ({count})")
    assert (big, long) == ([], [])
