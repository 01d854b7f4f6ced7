from __future__ import annotations

import pytest

from harness.cli import main


def test_bad_spec_is_one_line_naming_it_and_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "build", "debian:12", "ubuntu:15.10"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'ubuntu:15.10'" in err and "ubuntu:16.04" in err and "rockylinux:9" in err


def test_a_bad_setting_is_one_line_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VPS_HARNESS_PULL", "maybe")
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert err == "vps-harness: VPS_HARNESS_PULL='maybe' is not a yes/no value; use 1 or 0\n"


def test_no_engine_is_one_sentence(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["images", "ls"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in err


def test_specs_may_follow_an_option_and_anything_else_left_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # A bad SPEC after --kind is still read as a SPEC: refused by name, before the engine is asked.
    assert main(["images", "save", "/nonexistent/d", "--kind", "base", "debian:12", "ubuntu:15.10"]) == 1
    assert "'ubuntu:15.10'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["images", "save", "/nonexistent/d", "--kind", "base", "debian:12", "--bogus"])
    assert refused.value.code == 2 and "unrecognized arguments: debian:12 --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["images", "ls", "extra"])
    assert "unrecognized arguments: extra" in capsys.readouterr().err
