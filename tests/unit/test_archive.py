"""The image archive's cache key: what it covers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import vps_images
from harness import archive
from harness.spec import parse_specs


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "vps_images"
    shutil.copytree(vps_images.ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(vps_images, "ROOT", copy)
    return copy


def test_the_key_changes_with_a_recipe_and_only_then(recipes: Path) -> None:
    specs = parse_specs(["ubuntu:16.04", "debian:12"])
    before = archive.key(specs)
    assert archive.key(specs) == before, "the same files, the same key"
    assert archive.key(parse_specs(["debian:12", "ubuntu:16.04"])) == before, "the order of the OSes is no change"
    packages = recipes / "apt" / "packages.sh"
    packages.write_text(packages.read_text() + "\n# one more line\n")
    assert archive.key(specs) != before


def test_the_key_changes_with_the_oses(recipes: Path) -> None:
    assert archive.key(parse_specs(["debian:12"])) != archive.key(parse_specs(["debian:12", "debian:13"]))


def test_loading_without_an_archive_says_where_it_looked_and_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(archive.HarnessError, match=r"no image archive at .*vps-harness images save"):
        archive.load(None, tmp_path)  # type: ignore[arg-type]
