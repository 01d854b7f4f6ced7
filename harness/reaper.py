"""Remove what vps-harness made, by label and by id, and nothing else.

A resource is this project's when it carries ``vps-harness.session``. Its
owner is the process in ``vps-harness.pid`` on the host in
``vps-harness.host``; when that process is gone (a killed run, a crashed
xdist worker) the resource is a leftover.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from harness import labels
from harness.engine import docker_client
from harness.errors import EngineUnavailable
from harness.progress import Progress

KEPT_PREFIX = "kept-"


def owner_alive(resource_labels: dict[str, str]) -> bool:
    """Whether the process that made a resource still runs (unknown counts as alive)."""
    if resource_labels.get(labels.HOST, socket.gethostname()) != socket.gethostname():
        return True  # another machine's: not ours to judge
    try:
        pid = int(resource_labels.get(labels.PID, ""))
    except ValueError:
        return True  # e.g. made by `vps-harness up`: removed by `down` or `gc --all`
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_secrets(resource_labels: dict[str, str]) -> None:
    """Delete the key directory a removed VPS had staged (only a vps-harness one).

    When its owner is gone, the session key directory holding it goes too
    (``vps-harness-keys-*``): nobody is left to use that key.
    """
    value = resource_labels.get(labels.SECRETS, "")
    folder = Path(value)
    if not value or not folder.is_absolute() or not any(p.startswith(labels.PREFIX) for p in folder.parts):
        return
    shutil.rmtree(folder, ignore_errors=True)
    if folder.parent.name.startswith(f"{labels.PREFIX}-keys-") and not owner_alive(resource_labels):
        shutil.rmtree(folder.parent, ignore_errors=True)


@dataclass
class Swept:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    #: Images built through a socket-mode VPS's socket (the host engine's).
    images: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes) + len(self.images)


Chooser = Callable[[dict[str, str], str], bool]


def remove_container(container: Container) -> bool:
    """Remove a container and its anonymous volumes, by id; False when it was already gone.

    Two processes may remove the same container at once (two xdist workers'
    start-up sweeps of one killed run's leftovers): the engine answers the
    later one 409 "removal of container ... is already in progress", which
    means the same as gone.

    A systemd VPS on a cgroup-v2 engine first releases what it holds outside
    its own cgroup (``vps-init release``: the cgroup a systemd older than
    233 got in the machine's named systemd hierarchy), so nothing of it
    outlives it in the host's cgroup tree. A stopped one released it as it
    stopped (a systemd-shutdown hook); one that was killed leaves an empty
    cgroup, which the next such VPS's start sweeps.
    """
    found = container.labels
    if found.get(labels.CGROUP) == "2" and found.get(labels.INIT) == "systemd":
        # Bounded: a hung VPS must not keep it from being removed (nor may the engine's answer).
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            container.exec_run(["timeout", "20", "/usr/local/sbin/vps-init", "release"])
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as e:
        if e.status_code == 409 and "already in progress" in str(e.explanation):
            return False
        raise
    return True


def remove_labelled(
    client: docker.DockerClient, selector: dict[str, Any], chosen: Chooser = lambda found, name: True
) -> Swept:
    """Remove, by id, the containers, images, networks, then volumes that ``selector`` finds and ``chosen`` picks.

    The one place that removes by label: the reaper, ``Vps.remove`` (what a
    VPS owns), ``vps-harness down`` and ``gc`` all come here. ``selector``
    must name a vps-harness label; ``chosen(labels, name)`` decides per
    resource. Something removed meanwhile by another process is skipped.
    """
    if not any(str(value).startswith(labels.PREFIX) for value in _values(selector.get("label"))):
        raise ValueError(f"refusing to remove by {selector!r}: it selects no vps-harness label")
    swept = Swept()
    for container in client.containers.list(all=True, filters=selector, ignore_removed=True):
        if chosen(container.labels, container.name):
            if remove_container(container):
                swept.containers.append(container.id)
            forget_secrets(container.labels)
    # The list's rows, not Image objects: docker-py looks each listed image up again, and one removed
    # meanwhile (compose's down --rmi, another sweep) would end the sweep there.
    for row in client.api.images(filters=selector):
        found = row.get("Labels") or {}
        # A cached image (a snapshot keeps its VPS's labels) is for ``images prune``, never swept; one
        # built through a socket-mode VPS FROM a harness image inherits a kind, but it names its VPS.
        if labels.IMAGE_KIND in found and labels.PARENT not in found:
            continue
        if chosen(found, ""):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_image(row["Id"], force=True)
                swept.images.append(row["Id"])
    for network in client.networks.list(filters=selector):
        if chosen(network.attrs.get("Labels") or {}, network.name):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
                swept.networks.append(network.id)
    for volume in client.volumes.list(filters=selector):
        if chosen(volume.attrs.get("Labels") or {}, volume.name):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume.remove(force=True)
                swept.volumes.append(volume.id)
    return swept


def _values(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def sweep(
    client: docker.DockerClient,
    *,
    session: str | None = None,
    pid: int | None = None,
    everything: bool = False,
    spare_kept: bool = True,
    dead_only: bool = False,
) -> Swept:
    """Remove labelled containers, images, networks, then volumes, by id.

    ``session``/``pid``: only this session's (this process's) resources,
    with ``dead_only`` only those of them whose owner is gone. Otherwise only
    those whose owner is gone, or all with ``everything``. ``spare_kept``
    leaves VPSes kept after a failed test.
    """

    def chosen(resource_labels: dict[str, str], name: str) -> bool:
        if session is not None and resource_labels.get(labels.SESSION) != session:
            return False
        if pid is not None and resource_labels.get(labels.PID) != str(pid):
            return False
        if spare_kept and name.lstrip("/").startswith(KEPT_PREFIX):
            return False
        if dead_only and owner_alive(resource_labels):
            return False
        if everything or session is not None or pid is not None:
            return True
        return not owner_alive(resource_labels)

    return remove_labelled(client, {"label": labels.SESSION}, chosen)


def sweep_leftovers(client: docker.DockerClient, progress: Progress) -> Swept:
    """A run's start-up sweep: remove what runs whose owner is gone left, and say how much."""
    swept = sweep(client)
    if swept:
        progress(f"removed {len(swept)} leftover resources of runs that were killed")
    return swept


def sweep_own(session: str, pid: int, url: str = "") -> Swept:
    """Remove what process ``pid`` of ``session`` made and still has on the engine at ``url`` (default: the
    one ``DOCKER_HOST`` names), its teardown cut short."""
    try:
        client = docker_client(url=url)
    except EngineUnavailable:
        return Swept()
    try:
        return sweep(client, session=session, pid=pid)
    finally:
        client.close()
