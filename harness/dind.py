"""Images in a VPS's own Docker engine: streamed in over SSH, or seeded.

A DinD image starts with its base already in its engine (see
``vps-docker-seed`` in the image and :meth:`harness.images.Images.dind`);
these are the slow ways, used once per image or for other images.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import TYPE_CHECKING

from harness.errors import VpsNotReady
from harness.images import VpsImage, reference

if TYPE_CHECKING:
    from harness.server import Commands


def load_image(vps: Commands, reference: str, timeout: float = 600) -> None:
    """Make a host image available to ``vps``'s own engine (``docker load``, streamed over SSH)."""
    if vps.docker == "none":
        raise VpsNotReady(f"VPS {vps.name} runs no Docker engine (docker='none')")
    image = vps.client.images.get(reference)
    named = reference if reference in image.tags else False
    stream = image.save(chunk_size=1 << 20, named=named)
    vps.run("docker load", stdin=stream, timeout=timeout)


def seed_base(vps: Commands, image: VpsImage) -> None:
    """Load the VPS's own base image (and ``image.inner``) into its engine, named as a Dockerfile names them.

    The base is ``FROM debian:12``'s ``debian:12``; each inner image gets its
    ``name``. No other name stays: ``docker images`` lists what a server's does.
    """
    base = vps.client.images.get(image.base)
    wanted = [(reference(base), image.spec.registry_ref)]
    wanted += [(inner.tag, inner.name) for inner in image.inner]
    for loaded_as, name in wanted:
        load_image(vps, loaded_as)
        if loaded_as != name:
            loaded, wanted_name = shlex.quote(loaded_as), shlex.quote(name)
            untag = f" && docker rmi {loaded} >/dev/null" if not loaded_as.startswith("sha256:") else ""
            vps.run(f"docker tag {loaded} {wanted_name}{untag}")


def docker_store(vps: Commands, image: VpsImage) -> bytes:
    """Stop ``vps``'s engine and return its image store, the seed of a DinD image.

    Its engine must hold only what :func:`seed_base` loaded for ``image``:
    the base and ``image.inner``, each one layer, whose files the DinD
    image holds at ``SEED_LAYERS/<name>``.
    """
    names = [(image.spec.registry_ref, image.base.removeprefix("sha256:")[:16])]
    names += [(inner.name, inner.seed_name) for inner in image.inner]
    pairs = []
    for named, name in names:
        upper = vps.run(f"docker image inspect -f '{{{{.GraphDriver.Data.UpperDir}}}}' {shlex.quote(named)}")
        pairs.append(f"{posixpath.basename(posixpath.dirname(upper.stdout.strip()))}={name}")
    path = "/run/vps-harness-store.tar"
    vps.run(f"vps-docker-seed save {path} {' '.join(shlex.quote(pair) for pair in pairs)}", user="root")
    return vps.read_bytes(path)
