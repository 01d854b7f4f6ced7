"""The public API: every name of ``harness.__all__`` resolves, and ``import harness`` stays cheap."""

from __future__ import annotations

import subprocess
import sys

import harness


def test_every_public_name_resolves_to_its_home() -> None:
    values = {"SUPPORTED", "KEY_LABEL", "DockerMode", "Init"}  # values and Literal types: no __name__ of their own
    for name in harness.__all__:
        value = getattr(harness, name)
        assert getattr(value, "__name__", name) == name or name in values, name
    assert set(harness.__all__) >= {"Vps", "VpsWant", "Fleet", "Snapshot", "VpsContainer", "HarnessError"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        _ = harness.NoSuchThing  # type: ignore[attr-defined]
    except AttributeError as e:
        assert "no attribute 'NoSuchThing'" in str(e)
    else:
        raise AssertionError("harness.NoSuchThing resolved")


def test_importing_harness_loads_no_engine_or_ssh_client() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, harness; print(sorted(m for m in ('docker', 'paramiko') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded == "[]\n"


def test_all_names_exactly_the_names_with_a_home() -> None:
    assert sorted(harness.__all__) == sorted(harness._HOMES)


def test_without_the_testcontainers_extra_vps_container_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['testcontainers'] = None\n"
        "try:\n    from harness import VpsContainer\nexcept ImportError as e:\n    print(e)\n"
    )
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'vps-harness[testcontainers]'" in said


def test_the_core_imports_testcontainers_nowhere_but_the_adapter() -> None:
    from tests.unit.test_layering import CORE, imported_modules

    users = sorted(
        str(path.relative_to(CORE))
        for path in CORE.rglob("*.py")
        if any(name.startswith("testcontainers") for name in imported_modules(path))
    )
    assert users == ["containers.py"]


def test_the_pytest_plugin_and_its_fixtures_load_no_engine_or_ssh_client() -> None:
    """Collecting a suite costs no Docker, requests or paramiko import: the hooks and fixtures import them on use."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, harness.plugin, harness.fixtures; "
            "print(sorted(m for m in ('docker', 'paramiko', 'requests', 'testinfra') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded == "[]\n"
