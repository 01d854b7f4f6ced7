"""The public API: every name of ``harness.__all__`` resolves, and ``import harness`` stays cheap."""

from __future__ import annotations

import subprocess
import sys

import harness


def test_every_public_name_resolves_to_its_home() -> None:
    for name in harness.__all__:
        value = getattr(harness, name)
        assert getattr(value, "__name__", name) == name or name == "SUPPORTED", name
    assert set(harness.__all__) >= {"Vps", "Fleet", "Snapshot", "VpsContainer", "HarnessError", "UsageError"}


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
