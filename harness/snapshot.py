"""Snapshots: a provisioned VPS kept as an image, and started again as fresh copies.

:func:`take` powers the VPS off (an orderly shutdown, so every service has
written what it keeps), stores its files as an image (``docker commit``)
and, when it runs an engine of its own, that engine's whole store first
(``vps-docker-seed snapshot``: images, containers, volumes, networks), then
powers it on again, as a cloud's image of an instance does by default.
:meth:`harness.fleet.Fleet.restore` starts a copy: a new container of that
image, which boots from those files.

What a copy has, and what it does not:

- the snapshot's files, users, packages and configuration; its own engine's
  images, containers and volumes (``/var/lib/docker``, captured). An engine
  on containerd's image store keeps its images in /var/lib/containerd
  instead, which is not captured: its VPS is refused;
- the snapshot's host name and **host key**: every copy presents the key the
  snapshot had, so known_hosts lines written during provisioning still hold;
- **not running processes**: a copy boots. Services enabled at boot start;
  inner containers start when their restart policy says so;
- **not /run** (tmpfs) and not the harness's staged login key: a copy lets
  in the identity of whoever restores it;
- **not addresses**: a copy gets what its networks give, unless the restore
  names them (``addresses``), as :mod:`harness.flows.world` does for worlds;
- **not a socket-mode VPS's containers**: they live on the host's engine, so
  such a VPS is refused.

Snapshots are images of kind ``snapshot`` (``vps-harness images ls``), tagged
by a content key the caller computes (:func:`harness.images.recipe_key`:
the provisioning's files and whatever else decides the result) and current
while their VPS image and those files are (``images prune`` removes the
rest). A copy's container, volume and network carry the session labels as
every VPS's do; the snapshot image is a cached image, which the reaper never
sweeps.

>>> snap = vps.snapshot(recipe_key([Path("provision")], "web"))  # doctest: +SKIP
>>> copy = fleet.restore(snap)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import docker
import docker.errors
from docker import DockerClient
from docker.models.images import Image

from harness import labels
from harness.errors import HarnessError, SnapshotRefused
from harness.images import SNAPSHOT, VpsImage
from harness.launch import HOST_KEY_LABEL, uncarried
from harness.spec import OsSpec, parse_spec
from harness.want import OWN_ENGINE, DockerMode, Init

if TYPE_CHECKING:
    from harness.server import Commands

KIND = SNAPSHOT
REPOSITORY = "vps-harness/snapshot"


@dataclass(frozen=True)
class Snapshot:
    """A snapshot image and what a copy of it is: OS, name, init, Docker mode, host key."""

    tag: str
    image_id: str
    os: OsSpec
    name: str
    init: Init
    docker: DockerMode
    #: The public host key every copy presents.
    host_key: str
    #: The VPS image the snapshot was taken of.
    source: str

    @classmethod
    def of(cls, image: Image) -> Snapshot:
        """The snapshot an image of kind ``snapshot`` is."""
        found = image.labels or {}
        return cls(
            tag=image.tags[0] if image.tags else image.id,
            image_id=str(image.id),
            os=parse_spec(found[labels.SPEC]),
            name=found[labels.NAME],
            init=cast(Init, found[labels.INIT]),
            docker=cast(DockerMode, found[labels.DOCKER]),
            host_key=found[HOST_KEY_LABEL],
            source=found.get(labels.SNAPSHOT_OF, ""),
        )

    @staticmethod
    def find(client: DockerClient, tag: str) -> Snapshot | None:
        """The snapshot tagged ``tag``, if this engine has it (see :func:`find`)."""
        return find(client, tag)

    @staticmethod
    def tag_for(spec: OsSpec, name: str, key: str) -> str:
        """The tag of the snapshot of VPS ``name`` of ``spec`` under content key ``key`` (see :func:`tag_for`)."""
        return tag_for(spec, name, key)

    def image(self) -> VpsImage:
        """What :meth:`harness.vps.Vps.create` starts: an image whose engine, if any, has its store already."""
        return VpsImage(self.os, self.tag, self.image_id, base="", built=False, seeded=True, host_key=self.host_key)


def tag_for(spec: OsSpec, name: str, key: str) -> str:
    """The tag of the snapshot of VPS ``name`` of ``spec`` under content key ``key``."""
    return f"{REPOSITORY}:{spec.id}-{name}-{key[:16]}"


def find(client: docker.DockerClient, tag: str) -> Snapshot | None:
    """The snapshot tagged ``tag``, if this engine has it."""
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    if (image.labels or {}).get(labels.IMAGE_KIND) != KIND:
        raise HarnessError(f"image {tag} is not a vps-harness snapshot; remove it (docker rmi {tag})")
    return Snapshot.of(image)


def refuse(name: str, docker: DockerMode) -> None:
    """Raise :class:`SnapshotRefused` when a snapshot of VPS ``name`` could not carry what it made."""
    if docker == "socket":
        raise SnapshotRefused(
            f"VPS {name} uses the host's engine (docker='socket'): the containers it made live there, "
            "and a snapshot cannot carry them; snapshot a VPS with docker='dind' or 'bare'"
        )


def _refuse_containerd_store(vps: Commands) -> None:
    """Raise :class:`SnapshotRefused` when the VPS's own engine keeps its images in containerd's image store.

    That store lives in /var/lib/containerd, a volume (:data:`harness.launch.ENGINE_STORES`) that a snapshot
    does not carry, while the containers and volumes ``vps-docker-seed snapshot`` keeps would name its images.
    """
    said = vps.run(
        "command -v docker >/dev/null && docker info -f '{{json .DriverStatus}}' 2>/dev/null || true",
        user="root",
        check=False,
    ).stdout
    if "io.containerd.snapshotter" in said:
        raise SnapshotRefused(
            f"VPS {vps.name}'s engine keeps its images in containerd's image store (/var/lib/containerd), "
            "which a snapshot does not carry; snapshot it with its engine on overlay2 (no containerd-snapshotter "
            "feature in /etc/docker/daemon.json)"
        )


def take(
    vps: Commands,
    key: str,
    *,
    recipe: tuple[Path, ...] = (),
    salt: tuple[str, ...] = (),
    extra_labels: dict[str, str] | None = None,
    power_on: bool = True,
) -> Snapshot:
    """Snapshot ``vps`` as ``tag_for(vps.os, vps.name, key)``; power it on again unless ``power_on`` is False.

    ``recipe`` and ``salt``: the folders and lines ``key`` was computed from
    (:func:`harness.images.recipe_key`), so ``images ls`` can tell when the
    snapshot is no longer current. ``extra_labels`` go on the image.
    """
    refuse(vps.name, vps.docker)
    if vps.docker in OWN_ENGINE:
        _refuse_containerd_store(vps)
    vps.container.reload()
    source = str(vps.container.attrs["Config"]["Image"])
    tag = tag_for(vps.os, vps.name, key)
    repository, _, version = tag.partition(":")
    image_labels = {
        labels.IMAGE_KIND: KIND,
        labels.SPEC: str(vps.os),
        labels.NAME: vps.name,
        labels.INIT: vps.init,
        labels.DOCKER: vps.docker,
        HOST_KEY_LABEL: vps.host_key,
        labels.SNAPSHOT_OF: source,
        labels.RECIPE_HASH: key,
        labels.SNAPSHOT_RECIPE: json.dumps({"folders": [str(p) for p in recipe], "salt": list(salt)}),
        # The engine merges the VPS's container labels into the image, and a copy's container
        # inherits what its own labels do not say: not the snapshot's owner, keys or CLI world.
        labels.PID: "",
        labels.HOST: "",
        labels.SECRETS: "",
        labels.WORLD: "",
        labels.STATE: "",
        **(extra_labels or {}),
    }
    before = find(vps.client, tag)
    try:
        if vps.docker in OWN_ENGINE:
            vps.run("/usr/local/sbin/vps-docker-seed snapshot", user="root", timeout=600)
        vps.stop()
        conf = {"Labels": image_labels, **uncarried(vps.container.attrs["Config"])}
        vps.client.api.commit(vps.container.id, repository=repository, tag=version, conf=conf)
        if before is not None:  # the tag moved: the older snapshot goes, unless copies of it still run
            with contextlib.suppress(docker.errors.APIError):
                vps.client.images.remove(before.image_id)
    finally:
        if power_on:
            vps.container.reload()
            if vps.container.status != "running":
                vps.start()
            elif vps.docker in OWN_ENGINE:
                vps.run("systemctl start docker", user="root")  # the snapshot stopped it, and then failed
    found = find(vps.client, tag)
    if found is None:  # another process pruned it between the commit and here
        raise HarnessError(f"snapshot {tag} was committed and is gone: was `vps-harness images prune` running?")
    return found
