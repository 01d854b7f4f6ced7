"""VPSes made outside pytest (``vps-harness up``): named by the user, owned by
no process, reached with a key kept in the cache, removed by ``down`` or
``gc --all``.

>>> desk = Standalone(docker_client(), HarnessConfig.from_env().cli_dir)  # doctest: +SKIP
>>> web = desk.up(desk.image(Images(desk.client), parse_spec("debian:12")), name="web")  # doctest: +SKIP
>>> desk.down("web")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import docker
from docker.models.containers import Container

from harness import labels
from harness.errors import HarnessError
from harness.fleet import Fleet
from harness.identity import Identity
from harness.images import Images, VpsImage
from harness.launch import DockerMode, Init
from harness.reaper import remove_labelled
from harness.spec import OsSpec
from harness.vps import Vps

#: The session label of every VPS the CLI makes; it has no pid label, so
#: the reaper leaves it to ``down`` and ``gc --all``.
SESSION = "cli"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class NoSuchVps(HarnessError):
    """No VPS made by ``vps-harness up`` has that name."""


def container_name(name: str) -> str:
    """The container of the CLI's VPS ``name`` (also its ssh_config alias)."""
    return f"{labels.PREFIX}-{name}"


class Standalone:
    """The VPSes of ``vps-harness up``, with their key and state under ``state_dir``."""

    def __init__(self, client: docker.DockerClient, state_dir: Path) -> None:
        self.client = client
        self.state_dir = state_dir
        self.identity = Identity.at(state_dir, comment=f"{labels.PREFIX}-cli")

    def _fleet(self, images: Images) -> Fleet:
        """A fleet whose VPSes belong to no process (no pid label) and outlive it."""
        owner = {labels.SESSION: SESSION, labels.HOST: socket.gethostname()}
        return Fleet(self.client, images, session=SESSION, identity=self.identity, owner_labels=owner)

    def image(self, images: Images, spec: OsSpec, docker_mode: DockerMode = "none") -> VpsImage:
        """The image ``up`` starts; for ``docker_mode="dind"`` it may first seed one (see :meth:`Images.dind`)."""
        if docker_mode == "socket":
            raise HarnessError(
                "docker='socket' needs the process serving the VPS's Docker socket to outlive it, "
                "and `vps-harness up` exits: use --docker=dind here, or vps_factory(docker='socket') in a test"
            )
        # A seeding VPS, if one is needed, belongs to this process: the reaper removes it if the CLI is killed.
        seeding = Fleet(self.client, images, session=labels.new_session_id(), identity=self.identity)
        return seeding.image(spec, docker_mode)

    def up(
        self,
        images: Images,
        image: VpsImage,
        *,
        name: str | None = None,
        init: Init = "systemd",
        docker_mode: DockerMode = "none",
    ) -> Vps:
        """Start a VPS of ``image`` (see :meth:`image`) named ``name`` or the first free ``vpsN``; wait until ready."""
        taken = {c.labels.get(labels.NAME) for c in self.containers()}
        if name is None:
            name = next(f"vps{n}" for n in range(1, len(taken) + 2) if f"vps{n}" not in taken)
        elif not _NAME.match(name):
            raise HarnessError(f"name {name!r} is not a host name: use lowercase letters, digits and '-'")
        elif name in taken:
            raise HarnessError(f"a VPS named {name!r} exists already; `vps-harness down {name}` removes it")
        shutil.rmtree(self.identity.staging(container_name(name)), ignore_errors=True)  # `gc --all` left it
        return self._fleet(images).vps(
            image.spec, image=image, name=name, init=init, docker_mode=docker_mode, container_name=container_name(name)
        )

    def containers(self) -> list[Container]:
        """The CLI's VPS containers, running or not."""
        mine = {"label": f"{labels.SESSION}={SESSION}"}
        return list(self.client.containers.list(all=True, filters=mine, ignore_removed=True))

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

    def _which(self) -> str:
        names = sorted(c.labels.get(labels.NAME, "?") for c in self.containers())
        return f"there are: {', '.join(names)}" if names else "there are none (`vps-harness up SPEC` makes one)"
