from __future__ import annotations

from pathlib import Path

import pytest

from harness import bootstrap
from harness.errors import BuildFailed, ImageUnavailable
from harness.spec import parse_spec


def test_shipped_ubuntu_keyring_holds_exactly_the_pinned_archive_keys() -> None:
    data = bootstrap.pinned_ubuntu_keyring()
    assert set(bootstrap.key_fingerprints(data)) == bootstrap.UBUNTU_ARCHIVE_FINGERPRINTS


def test_a_keyring_missing_a_pinned_key_is_refused(tmp_path: Path) -> None:
    text = bootstrap.UBUNTU_KEY_FILE.read_text()
    data = bootstrap.dearmor(text)
    # Keep only the first key's packets: up to the second public-key packet.
    first_only = data[: data.index(b"\x99\x02\x0d\x04", 10)]
    assert len(bootstrap.key_fingerprints(first_only)) == 1
    import base64

    armored = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + base64.b64encode(first_only).decode()
    armored += "\n-----END PGP PUBLIC KEY BLOCK-----\n"
    path = tmp_path / "keys.asc"
    path.write_text(armored)
    with pytest.raises(ImageUnavailable, match="not the pinned Ubuntu archive keys"):
        bootstrap.pinned_ubuntu_keyring(path)


def test_dearmor_rejects_text_that_is_no_key() -> None:
    with pytest.raises(ValueError, match="not an ASCII-armored"):
        bootstrap.dearmor("hello")


def test_debootstrap_command_names_no_mirror_and_checks_signatures(tmp_path: Path) -> None:
    command = bootstrap.debootstrap_command(parse_spec("ubuntu:16.04"), tmp_path / "r", tmp_path / "k.gpg")
    assert command == [
        "debootstrap",
        "--variant=minbase",
        "--components=main,universe",
        f"--keyring={tmp_path / 'k.gpg'}",
        "xenial",
        str(tmp_path / "r"),
    ]
    assert not any("://" in word for word in command)
    unchecked = bootstrap.debootstrap_command(parse_spec("debian:12"), tmp_path / "r", None)
    assert "--no-check-gpg" in unchecked and "--components=main" in unchecked


def test_scripts_overlay_maps_an_unknown_suite_to_its_family_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system"
    (system / "scripts").mkdir(parents=True)
    (system / "functions").write_text("# functions\n")
    for name in ("gutsy", "sid", "jammy"):
        (system / "scripts" / name).write_text(f"# {name}\n")
    monkeypatch.setenv("DEBOOTSTRAP_DIR", str(system))
    work = tmp_path / "work"
    work.mkdir()
    assert bootstrap._scripts_overlay(parse_spec("ubuntu:22.04"), work) is None
    overlay = bootstrap._scripts_overlay(parse_spec("ubuntu:24.04"), work)
    assert overlay is not None
    assert (overlay / "scripts" / "noble").read_text() == "# gutsy\n"
    assert (overlay / "scripts" / "jammy").read_text() == "# jammy\n"
    assert (overlay / "functions").read_text() == "# functions\n"


def test_rpm_family_cannot_be_bootstrapped(tmp_path: Path) -> None:
    with pytest.raises(ImageUnavailable, match="only apt-family bases can be bootstrapped"):
        bootstrap.bootstrap_rootfs(parse_spec("centos:7"), tmp_path)


def test_build_failed_shows_the_last_40_lines_and_how_to_reproduce() -> None:
    output = [f"line {i}" for i in range(100)]
    error = BuildFailed("build of x", "docker build -t x .", output, "exit 1")
    message = str(error)
    assert message.startswith("build of x failed: exit 1")
    assert "line 59" not in message and "line 60" in message and "line 99" in message
    assert message.rstrip().endswith("to reproduce: docker build -t x .")
    assert error.output == output
