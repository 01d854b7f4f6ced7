"""Programs are found in the sbin directories whatever PATH the caller has; a missing one names its package."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

import pytest

import harness.route
import harness.tools
from harness.errors import ToolMissing
from harness.tools import SBIN, find, search_path


def test_sbin_directories_are_searched_after_the_callers_path() -> None:
    assert search_path("/usr/bin:/bin").split(":") == ["/usr/bin", "/bin", *SBIN]
    assert search_path("/usr/sbin:/usr/bin").split(":") == ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/sbin"]


def test_a_tool_in_sbin_is_found_with_a_minimal_path(monkeypatch: pytest.MonkeyPatch) -> None:
    in_sbin = next(Path(d) / name for d in SBIN for name in ("chroot", "debootstrap") if (Path(d) / name).exists())
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert find(in_sbin.name, "a test") == str(in_sbin)
    assert os.environ["PATH"] == "/usr/bin:/bin", "found without changing the caller's PATH"


def test_a_missing_tool_names_its_package_and_what_needed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(harness.tools.PACKAGES, "no-such-tool-xyz", "xyz-utils")
    with pytest.raises(ToolMissing) as caught:
        find("no-such-tool-xyz", "building a base image of debian:12")
    message = str(caught.value)
    assert "no-such-tool-xyz is not installed" in message and "/usr/sbin" in message
    assert "building a base image of debian:12 needs it" in message and "install the xyz-utils package" in message


@pytest.mark.parametrize("module", [harness.route, harness.tools])
def test_module_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]
