"""A fleet: the VPSes and networks one test (or one CLI call) makes.

It names them uniquely per session and xdist worker, labels them, and
removes them, by id, when closed.

>>> fleet = Fleet(client, images, session="abc", key=key, secrets=Path("/tmp/k"))  # doctest: +SKIP
>>> web = fleet.vps(parse_spec("debian:12"), name="web")  # doctest: +SKIP
>>> fleet.close()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.models.networks import Network

from harness import labels
from harness.images import Images, VpsImage
from harness.reaper import KEPT_PREFIX
from harness.spec import OsSpec
from harness.ssh import KeyPair
from harness.vps import DockerMode, Init, Vps

_counter = itertools.count(1)


class Fleet:
    """Makes VPSes and networks for one owner and removes them all on close.

    ``secrets``: a private directory under which each VPS's keys are staged.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        images: Images,
        *,
        session: str,
        key: KeyPair,
        secrets: Path,
        worker: str = "",
        progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.client = client
        self.images = images
        self.session = session
        self.key = key
        self.secrets = secrets
        self.progress = progress
        self.worker = worker or os.environ.get("PYTEST_XDIST_WORKER", "")
        self.vpses: list[Vps] = []
        self.networks: list[Network] = []

    def _unique(self, name: str) -> str:
        return f"{name}-{self.session}{('-' + self.worker) if self.worker else ''}-{next(_counter)}"

    def vps(
        self,
        spec: OsSpec,
        *,
        name: str | None = None,
        init: Init = "systemd",
        docker: DockerMode = "none",
        networks: tuple[Network, ...] | list[Network] = (),
        aliases: tuple[str, ...] | list[str] = (),
        publish_ssh: bool = True,
    ) -> Vps:
        """Start a VPS of ``spec`` and wait until it is ready (see :meth:`Vps.create`)."""
        image = self.images.dind(spec, self.docker_store) if docker == "dind" else self.images.vps(spec)
        name = name or f"vps{len(self.vpses) + 1}"
        vps = self._create(image, name, init, docker, tuple(networks), tuple(aliases), publish_ssh)
        self.vpses.append(vps)
        return vps

    def _create(
        self,
        image: VpsImage,
        name: str,
        init: Init,
        docker: DockerMode,
        networks: tuple[Network, ...],
        aliases: tuple[str, ...],
        publish_ssh: bool,
    ) -> Vps:
        container_name = self._unique(f"vps-{name}")
        return Vps.create(
            self.client,
            image,
            name=name,
            container_name=container_name,
            owner_labels=labels.owner_labels(self.session),
            key=self.key,
            secrets=self.secrets / container_name,
            init=init,
            docker_mode=docker,
            networks=networks,
            aliases=aliases,
            publish_ssh=publish_ssh,
            progress=self.progress,
        )

    def docker_store(self, image: VpsImage) -> bytes:
        """The image store of a DinD VPS of ``image`` that loaded its base: the seed of a DinD image."""
        seeder = self._create(image, "seed", "systemd", "dind", (), (), True)
        try:
            return seeder.docker_store()
        finally:
            seeder.remove()

    def network(self, name: str = "net") -> Network:
        """A private bridge network, removed with the fleet."""
        network = self.client.networks.create(
            self._unique(f"vpsnet-{name}"), driver="bridge", labels=labels.owner_labels(self.session)
        )
        self.networks.append(network)
        return network

    def keep(self) -> list[Vps]:
        """Keep every VPS running past close (renamed ``kept-…``), for a human to inspect."""
        for vps in self.vpses:
            vps.close()
            vps.container.rename(KEPT_PREFIX + vps.container.name)
        kept, self.vpses, self.networks = self.vpses, [], []
        return kept

    def close(self) -> None:
        """Remove every VPS, then every network; safe to call twice."""
        while self.vpses:
            self.vpses.pop().remove()
        while self.networks:
            network = self.networks.pop()
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
