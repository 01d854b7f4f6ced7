"""What a VPS asks the engine for, per engine: privileges, cgroup namespace, the cgroup tree."""

from __future__ import annotations

from typing import Any

import pytest

from harness import engine, privilege
from harness.launch import INIT_COMMANDS, run_options


class FakeApi:
    _version = "1.41"

    def __init__(self, base_url: str) -> None:
        self.created: dict[str, Any] = {}
        self.base_url = base_url

    def create_container(self, **args: Any) -> dict[str, str]:
        self.created = args
        return {"Id": "abc"}


class FakeClient:
    """An engine that answers ``docker info`` with ``info`` and counts the questions."""

    def __init__(self, info: dict[str, Any] | None = None, base_url: str = "unix:///fake.sock") -> None:
        self.api = FakeApi(base_url)
        self.containers = self
        self._info = info or {}
        self.asked = 0

    def get(self, container_id: str) -> str:
        return f"container {container_id}"

    def info(self) -> dict[str, Any]:
        self.asked += 1
        return self._info


def test_an_own_engine_vps_gets_the_one_set_in_the_host_config_docker_py_builds() -> None:
    client = FakeClient()
    options = {"name": "vps-x", "detach": True, "labels": {"a": "b"}, **privilege.OWN_ENGINE}
    assert privilege.create(client, "image:tag", options) == "container abc"  # type: ignore[arg-type]
    host_config = client.api.created["host_config"]
    assert host_config["MaskedPaths"] == [] and host_config["ReadonlyPaths"] == [], "/proc/sys writable"
    assert host_config["CapAdd"] == ["SYS_ADMIN", "NET_ADMIN"]
    assert host_config["SecurityOpt"] == ["seccomp=unconfined", "apparmor=unconfined", "label=disable"]
    assert "Privileged" not in host_config or host_config["Privileged"] is False
    assert client.api.created["name"] == "vps-x" and client.api.created["image"] == "image:tag"


@pytest.mark.parametrize(
    ("info", "version"),
    [({"CgroupVersion": "2"}, 2), ({"CgroupVersion": "1"}, 1), ({}, 1)],
    ids=["v2", "v1", "engine-before-20.10"],
)
def test_the_cgroup_version_is_the_engines_answer_asked_once(info: dict[str, Any], version: int) -> None:
    client = FakeClient(info, base_url=f"unix:///fake-{version}-{len(info)}.sock")
    assert engine.cgroup_version(client) == version  # type: ignore[arg-type]
    assert engine.cgroup_version(client) == version  # type: ignore[arg-type]
    assert client.asked == 1


@pytest.mark.parametrize(
    ("server_version", "version", "own"),
    [("20.10.24+dfsg1", (20, 10, 24), False), ("26.1.5+dfsg1", (26, 1, 5), True), ("29.1.3", (29, 1, 3), True),
     ("22.06.0-beta.0", (22, 6, 0), False), ("dev", (), True)],
)  # fmt: skip
def test_what_all_capabilities_mean_follows_the_engines_release(
    server_version: str, version: tuple[int, ...], own: bool
) -> None:
    client = FakeClient({"ServerVersion": server_version}, base_url=f"unix:///fake-{server_version}.sock")
    facts = engine.facts(client)  # type: ignore[arg-type]
    assert (facts.version, facts.all_caps_are_its_own) == (version, own)


def test_systemd_gets_every_capability_the_engine_can_give() -> None:
    """Docker before 23 would name CAP_SYS_RESOURCE in ALL, which hosts like ours withhold; from 23 on ALL is what
    the engine holds, and a --cap-drop of a capability it lacks is refused (Docker 26 and 29 inside a VPS)."""
    old = run_options("systemd", all_caps_are_its_own=False)
    assert (old["cap_add"], old["cap_drop"]) == (["ALL"], ["SYS_RESOURCE"])
    new = run_options("systemd", all_caps_are_its_own=True)
    assert new["cap_add"] == ["ALL"] and "cap_drop" not in new


def test_systemd_on_cgroup_v1_binds_the_hosts_tree_in_the_hosts_namespace() -> None:
    options = run_options("systemd", cgroup_version=1)
    assert [(m["Source"], m["Target"], m["Type"]) for m in options["mounts"]] == [
        ("/sys/fs/cgroup", "/sys/fs/cgroup", "bind")
    ]
    assert "cgroupns" not in options, "the engine's default: the host's namespace on v1"
    assert options["command"] == INIT_COMMANDS["systemd"] == ["/usr/local/sbin/vps-init"]


def test_systemd_on_cgroup_v2_gets_a_private_namespace_and_no_bind() -> None:
    options = run_options("systemd", cgroup_version=2)
    assert options["cgroupns"] == "private"
    assert "mounts" not in options, "no view of the host's tree: vps-init remounts its own subtree writable"
    assert "apparmor=unconfined" in options["security_opt"], "docker-default denies systemd's mounts"
    assert "privileged" not in options


def test_sshd_as_pid_1_needs_no_cgroup_options_on_either_engine() -> None:
    for version in (1, 2):
        options = run_options("sshd", cgroup_version=version)
        assert "cgroupns" not in options and "mounts" not in options and "cap_add" not in options


def test_an_unknown_cgroup_version_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cgroup_version=3 is not 1 or 2"):
        run_options("systemd", cgroup_version=3)
