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


def test_the_flows_reach_the_core_through_its_modules_only() -> None:
    flows = list((CORE / "flows").rglob("*.py"))
    used = {name for path in flows for name in imported_modules(path) if name.startswith("harness.")}
    private = sorted(name for name in used if any(part.startswith("_") for part in name.split(".")))
    assert private == [], "flows use the public API"


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
