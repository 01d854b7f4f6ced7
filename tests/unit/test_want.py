"""VpsWant: one value for a wanted VPS, checked once, whatever layer it comes in by."""

from __future__ import annotations

import dataclasses
import doctest
from pathlib import Path
from typing import Any

import pytest

import harness.want
from harness.errors import UsageError
from harness.fleet import Fleet
from harness.identity import Identity
from harness.snapshot import Snapshot
from harness.spec import parse_spec
from harness.ssh import KeyPair
from harness.want import FIELDS, FIXED_BY_IMAGE, PLACEMENT, VpsWant


class FakeNetwork:
    """What a want reads of a docker-py Network: its name (and it hashes, as docker-py's models do)."""

    def __init__(self, name: str) -> None:
        self.name = name


def test_module_examples() -> None:
    assert doctest.testmod(harness.want).failed == 0


def test_text_and_lists_are_taken_as_values() -> None:
    net = FakeNetwork("vpsnet-a")
    want = VpsWant("debian:12", name="web", networks=[net], aliases=["db"], addresses={"vpsnet-a": "10.9.0.5"})
    assert want.os == parse_spec("debian:12")
    assert (want.networks, want.aliases) == ((net,), ("db",))
    with pytest.raises(TypeError):
        want.addresses["vpsnet-a"] = "10.9.0.6"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        want.name = "db"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"init": "openrc"}, "init='openrc' is not one of systemd, sshd"),
        ({"docker": "podman"}, "docker='podman' is not one of none, dind, bare, socket"),
        ({"init": "sshd", "docker": "dind"}, "docker='dind' runs docker.service under systemd; init='sshd' has none"),
        ({"inner": [object()]}, "inner images are seeded in a DinD VPS's engine; docker='none' has none"),
        ({"name": "lonely", "default_bridge": False}, "VPS lonely is to be off the engine's default bridge"),
        ({"addresses": {"vpsnet-b": "10.9.0.5"}}, "a VPS is given an address on vpsnet-b, a network it is not on"),
    ],
)
def test_a_want_that_cannot_work_is_refused_naming_it(fields: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        VpsWant("debian:12", **fields)


def test_an_os_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="ubuntu:15.10"):
        VpsWant("ubuntu:15.10")
    with pytest.raises(UsageError, match="not dict"):
        VpsWant.of({"os": "debian:12"})  # type: ignore[arg-type]


def test_of_changes_fields_and_refuses_one_it_has_not_by_name() -> None:
    base = VpsWant("debian:12", docker="dind")
    assert VpsWant.of(base) is base
    changed = VpsWant.of(base, name="registry", aliases=["registry.local"])
    assert (changed.name, changed.docker, changed.aliases, base.name) == ("registry", "dind", ("registry.local",), "")
    with pytest.raises(UsageError, match=r"a VPS has no 'docker_mode', 'nmae': it is given os, name, init, docker"):
        VpsWant.of(base, nmae="db", docker_mode="dind")
    assert VpsWant.of("debian:12", name="web") == VpsWant(parse_spec("debian:12"), name="web")


def test_the_field_groups_cover_the_want() -> None:
    assert set(FIXED_BY_IMAGE) | set(PLACEMENT) | {"name"} == set(FIELDS)
    assert not set(FIXED_BY_IMAGE) & set(PLACEMENT)


def unengined_fleet(tmp_path: Path) -> Fleet:
    """A fleet that never reaches an engine: what it refuses, it refuses before asking one."""
    return Fleet(None, None, session="unit", identity=Identity(tmp_path, KeyPair.generate("unit")))  # type: ignore[arg-type]


def test_a_fleet_refuses_a_typo_in_the_callers_thread(tmp_path: Path) -> None:
    fleet = unengined_fleet(tmp_path)
    with pytest.raises(UsageError, match="a VPS has no 'nmae'"):
        fleet.vps("debian:12", nmae="web")
    with pytest.raises(UsageError, match="not dict"):
        fleet.start(VpsWant("debian:12"), {"os": "debian:12", "nmae": "web"})  # type: ignore[arg-type]
    assert fleet.vpses == []


def test_a_copy_of_a_snapshot_is_given_a_place_not_what_the_image_decides(tmp_path: Path) -> None:
    snap = Snapshot("t", "sha256:0", parse_spec("debian:12"), "web", "systemd", "none", "ssh-ed25519 AAAA", "")
    fleet = unengined_fleet(tmp_path)
    with pytest.raises(UsageError, match="a copy of snapshot t is what the snapshot was; drop init, docker"):
        fleet.restore(snap, init="sshd", docker="dind", aliases=["www"])
