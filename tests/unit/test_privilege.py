"""The privilege fallback of Docker-in-Docker VPSes: what reaches the engine's create call."""

from __future__ import annotations

from typing import Any

from harness import privilege


class FakeApi:
    _version = "1.41"

    def __init__(self) -> None:
        self.created: dict[str, Any] = {}

    def create_container(self, **args: Any) -> dict[str, str]:
        self.created = args
        return {"Id": "abc"}


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeApi()
        self.containers = self

    def get(self, container_id: str) -> str:
        return f"container {container_id}"


def test_the_fallback_unmasks_system_paths_in_the_host_config_docker_py_builds() -> None:
    client = FakeClient()
    options = {"name": "vps-x", "detach": True, "labels": {"a": "b"}, **privilege.FALLBACK}
    assert privilege.create(client, "image:tag", options) == "container abc"  # type: ignore[arg-type]
    host_config = client.api.created["host_config"]
    assert host_config["MaskedPaths"] == [] and host_config["ReadonlyPaths"] == [], "/proc/sys writable"
    assert host_config["CapAdd"] == ["SYS_ADMIN", "NET_ADMIN"]
    assert host_config["SecurityOpt"] == ["seccomp=unconfined", "apparmor=unconfined"]
    assert client.api.created["name"] == "vps-x" and client.api.created["image"] == "image:tag"


def test_privileged_needs_no_extra_fields() -> None:
    assert privilege.HOST_CONFIG not in privilege.PRIVILEGED
