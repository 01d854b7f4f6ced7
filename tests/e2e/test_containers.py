"""The testcontainers adapter: a VPS with testcontainers' lifecycle and accessors, reaped like the rest."""

from __future__ import annotations

import os

import docker
import docker.models.containers
import pytest

from harness import labels
from harness.containers import VpsContainer
from harness.errors import HarnessError
from harness.spec import OsSpec

pytestmark = pytest.mark.docker


def engine_build_step(container: docker.models.containers.Container) -> bool:
    """A step container of an image build (another worker's, on a cold machine): the engine makes it, from
    the parent image's ID, and it carries that image's labels, no owner's."""
    image = container.attrs["Config"]["Image"]
    return image == "" or image.startswith("sha256:")


def test_with_gives_the_vps_api_and_removes_everything(spec: OsSpec, vps_engine: docker.DockerClient) -> None:
    before = {c.id for c in vps_engine.containers.list(all=True)}
    adapter = VpsContainer(str(spec), name="tc1")
    with pytest.raises(HarnessError, match=r"VpsContainer 'tc1' \(.*\) is not started: use it in a with block"):
        _ = adapter.vps
    with adapter as container:
        assert container is adapter, "with gives the container, as testcontainers' contract says"
        vps = container.vps
        assert vps.run("hostname").stdout == "tc1\n"
        assert vps.run("systemctl is-system-running").stdout.strip() == "running"
        assert vps.os == spec
        # testcontainers' own accessors work on it.
        assert adapter.get_exposed_port(22) == vps.ssh_port
        assert adapter.get_wrapped_container().id == vps.container.id
        assert adapter.exec(["hostname"]).output == b"tc1\n"
        assert b"Welcome to" in adapter.get_logs()[0], "the console, as for any VPS"
        # Made and labelled by the harness, owned by this process: its reaper removes it if we die.
        found = vps_engine.containers.get(vps.container.id).labels
        assert found[labels.PID] == str(os.getpid()) and labels.SESSION in found
        made = [
            c
            for c in vps_engine.containers.list(all=True, ignore_removed=True)
            if c.id not in before and not engine_build_step(c)
        ]
        assert not [c.name for c in made if "ryuk" in c.attrs["Config"]["Image"]], "no Ryuk container"
        assert all(labels.SESSION in c.labels for c in made), "only labelled containers, here and elsewhere"
        key_dir = vps.key_file.parent
    assert not vps_engine.containers.list(all=True, filters={"id": vps.container.id})
    assert not key_dir.exists()


def test_a_failed_start_leaves_nothing(vps_engine: docker.DockerClient) -> None:
    with (
        pytest.raises(ValueError, match="docker='dind' runs docker.service under systemd"),
        VpsContainer("debian:12", init="sshd", docker="dind"),
    ):
        pass
    mine = {"label": f"{labels.PID}={os.getpid()}"}
    assert not [c.name for c in vps_engine.containers.list(all=True, filters=mine) if "vps1" in c.name]
