"""VPSes made outside pytest (``vps-harness up``): named by the user, owned by
no process, reached with a key kept in the cache, removed by ``down`` or
``gc --all``.

>>> desk = Standalone(docker_client(), HarnessConfig.from_env().cli_dir)  # doctest: +SKIP
>>> web = desk.up(desk.image(Images(desk.client), parse_spec("debian:12")), name="web")  # doctest: +SKIP
>>> desk.down("web")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

import docker
from docker.models.containers import Container

from harness import labels
from harness.errors import HarnessError, NoSuchVps
from harness.fleet import Fleet
from harness.identity import Identity
from harness.images import Images, VpsImage
from harness.reaper import remove_labelled
from harness.seeding import seeder
from harness.spec import OsSpec
from harness.vps import Vps
from harness.want import DockerMode, VpsWant

#: The session label of every VPS the CLI makes; it has no pid label, so
#: the reaper leaves it to ``down`` and ``gc --all``.
SESSION = "cli"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class World(Protocol):
    """What a provisioned world gives the CLI (``harness.flows.world.World`` is one)."""

    def describe(self) -> str: ...

    def close(self) -> None: ...


#: A world's provisioning: ``provision(fleet, spec[, variant])``, found by entry point (group ``WORLDS``).
Provision = Callable[..., World]
#: The entry point group of worlds ``vps-harness world up NAME`` can make (the flows register theirs).
WORLDS = "vps_harness.worlds"


def worlds() -> dict[str, Provision]:
    """The worlds installed packages offer, by name."""
    if sys.version_info >= (3, 10):
        offered = list(entry_points(group=WORLDS))
    else:  # Python 3.9's entry_points() takes no group and maps groups to lists
        offered = list(entry_points().get(WORLDS, []))
    return {entry.name: entry.load() for entry in offered}


def container_name(name: str) -> str:
    """The container of the CLI's VPS ``name`` (also its ssh_config alias)."""
    return f"{labels.PREFIX}-{name}"


class Standalone:
    """The VPSes of ``vps-harness up``, with their key and state under ``state_dir``."""

    def __init__(self, client: docker.DockerClient, state_dir: Path) -> None:
        self.client = client
        self.state_dir = state_dir
        self.identity = Identity.at(state_dir, comment=f"{labels.PREFIX}-cli")
        #: Which state directory (and so which key) a world belongs to: worlds of
        #: the same name from two state directories are two worlds.
        self.state_id = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]

    def _fleet(self, images: Images) -> Fleet:
        """A fleet whose VPSes belong to no process (no pid label) and outlive it."""
        owner = {labels.SESSION: SESSION, labels.HOST: socket.gethostname()}
        return Fleet(self.client, images, session=SESSION, identity=self.identity, owner_labels=owner)

    def image(self, images: Images, spec: OsSpec, docker: DockerMode = "none") -> VpsImage:
        """The image ``up`` starts; for ``docker="dind"`` it may first seed one (see :meth:`Images.dind`)."""
        if docker == "socket":
            raise HarnessError(
                "docker='socket' needs the process serving the VPS's Docker socket to outlive it, "
                "and `vps-harness up` exits: use --docker=dind here, or vps_factory(docker='socket') in a test"
            )
        if docker != "dind":
            return images.vps(spec, bare=docker == "bare")
        # A seeding VPS, if one is needed, belongs to this process: the reaper removes it if the CLI is killed.
        return images.dind(spec, seeder(self.client, images, self.identity, labels.new_session_id()))

    def up(self, images: Images, image: VpsImage, want: VpsWant) -> Vps:
        """Start ``want`` from ``image`` (see :meth:`image`), named as it says or the first free ``vpsN``;
        wait until it is ready."""
        taken = {c.labels.get(labels.NAME) for c in self.containers()}
        name = want.name
        if not name:
            name = next(f"vps{n}" for n in range(1, len(taken) + 2) if f"vps{n}" not in taken)
        elif not _NAME.match(name):
            raise HarnessError(f"name {name!r} is not a host name: use lowercase letters, digits and '-'")
        elif name in taken:
            raise HarnessError(f"a VPS named {name!r} exists already; `vps-harness down {name}` removes it")
        shutil.rmtree(self.identity.staging(container_name(name)), ignore_errors=True)  # `gc --all` left it
        return self._fleet(images).vps(want, name=name, image=image, container_name=container_name(name))

    def containers(self) -> list[Container]:
        """The CLI's VPS containers, running or not."""
        mine = {"label": f"{labels.SESSION}={SESSION}"}
        found = self.client.containers.list(all=True, filters=mine, ignore_removed=True)
        return [c for c in found if labels.WORLD not in c.labels]  # a world's VPSes are `world down`'s

    def get(self, name: str) -> Vps:
        """The running VPS ``name``, ready to use."""
        for container in self.containers():
            if container.labels.get(labels.NAME) == name:
                if container.status != "running":
                    raise HarnessError(f"VPS {name!r} is {container.status}; `vps-harness down {name}` removes it")
                return Vps.attach(self.client, container, self.identity)
        raise NoSuchVps(f"no VPS named {name!r} was made by `vps-harness up`; {self._which()}")

    def down(self, name: str | None = None) -> list[str]:
        """Remove VPS ``name`` (or, with None, every one of the CLI's) and its state; the names removed."""
        chosen = [c for c in self.containers() if name is None or c.labels.get(labels.NAME) == name]
        if name is not None and not chosen:
            raise NoSuchVps(f"no VPS named {name!r} was made by `vps-harness up`; {self._which()}")
        for container in chosen:
            vps_name = container.labels[labels.NAME]
            remove_labelled(self.client, {"label": [f"{labels.SESSION}={SESSION}", f"{labels.NAME}={vps_name}"]})
            remove_labelled(self.client, {"label": f"{labels.PARENT}={container.name}"})
            self.identity.forget(container.name)
        self.forget_removed()
        return [c.labels.get(labels.NAME, c.name) for c in chosen]

    def forget_removed(self) -> None:
        """Delete the staged keys and known_hosts of CLI VPSes that no longer exist."""
        self.identity.forget_all_but({c.name for c in self.containers()})

    # -- worlds ---------------------------------------------------------------

    def world_containers(self, name: str | None = None) -> list[Container]:
        """The VPS containers of world ``name`` (of every world, with None)."""
        selector = [
            f"{labels.SESSION}={SESSION}",
            f"{labels.STATE}={self.state_id}",
            labels.WORLD if name is None else f"{labels.WORLD}={name}",
        ]
        return list(self.client.containers.list(all=True, filters={"label": selector}, ignore_removed=True))

    def world_up(
        self, images: Images, name: str, provision: Provision, spec: OsSpec, variant: str | None = None
    ) -> World:
        """Make world ``name`` of ``spec`` (its VPSes outlive this process); on failure remove what was made."""
        if self.world_containers(name):
            raise HarnessError(f"world {name} is up already; `vps-harness world down {name}` removes it")
        owner = {
            labels.SESSION: SESSION,
            labels.HOST: socket.gethostname(),
            labels.WORLD: name,
            labels.STATE: self.state_id,
        }
        session = f"{SESSION}-{labels.new_session_id()[:8]}"  # container names unique across state dirs
        fleet = Fleet(
            self.client, images, session=session, identity=self.identity, owner_labels=owner, progress=images.progress
        )
        try:
            world = provision(fleet, spec, variant) if variant else provision(fleet, spec)
        except BaseException:
            fleet.close()
            raise
        for vps in fleet.vpses:
            vps.close()
        return world

    def world_down(self, name: str) -> list[str]:
        """Remove world ``name``'s VPSes, network and volumes; the names of its VPSes."""
        chosen = self.world_containers(name)
        if not chosen:
            up = sorted({c.labels.get(labels.WORLD, "?") for c in self.world_containers()})
            which = f"there are: {', '.join(up)}" if up else "there are none"
            raise NoSuchVps(f"no world named {name!r} is up; {which}")
        selector = [f"{labels.SESSION}={SESSION}", f"{labels.STATE}={self.state_id}", f"{labels.WORLD}={name}"]
        remove_labelled(self.client, {"label": selector})
        for container in chosen:
            self.identity.forget(container.name)
        return sorted(c.labels.get(labels.NAME, c.name) for c in chosen)

    def _which(self) -> str:
        names = sorted(c.labels.get(labels.NAME, "?") for c in self.containers())
        return f"there are: {', '.join(names)}" if names else "there are none (`vps-harness up SPEC` makes one)"
