"""The seed of a Docker-in-Docker image: the image store of a DinD VPS that loaded its base (and inner
images), made on a VPS of the plain image that is removed again (see :meth:`Images.dind
<harness.images.Images.dind>`). No fleet is needed to get an image: only an identity to reach the
seeding VPS, and the session its owner labels name, so the reaper removes it if the process dies."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable

import docker

from harness import dind, labels
from harness.identity import Identity
from harness.images import Images, InnerImage, VpsImage
from harness.launch import ContainerPlan
from harness.vps import Vps
from harness.want import VpsWant

_counter = itertools.count(1)

#: What :meth:`Images.dind <harness.images.Images.dind>` calls to seed an image: ``seed(image, inner)``.
Seed = Callable[[VpsImage, tuple[InnerImage, ...]], bytes]


def seeder(client: docker.DockerClient, images: Images, identity: Identity, session: str) -> Seed:
    """A seed for :meth:`Images.dind <harness.images.Images.dind>`, whose seeding VPS this process owns."""

    def seed(image: VpsImage, inner: tuple[InnerImage, ...] = ()) -> bytes:
        wanted = dataclasses.replace(image, inner=inner)
        want = VpsWant(image.spec, name="seed", docker="dind")
        name = f"vps-seed-{session}-{os.getpid()}-{next(_counter)}"
        plan = ContainerPlan(name, labels.owner_labels(session), identity, images.package_proxy(image.spec))
        vps = Vps.create(client, wanted, want, plan)
        try:
            return dind.docker_store(vps, wanted)
        finally:
            vps.remove()

    return seed
