"""Images in a VPS's own Docker engine: streamed in over SSH, or seeded.

A DinD image starts with its base already in its engine (see
``vps-docker-seed`` in the image and :meth:`harness.images.Images.dind`);
these are the slow ways, used once per image or for other images.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from harness.errors import VpsNotReady
from harness.images import VpsImage

if TYPE_CHECKING:
    from harness.vps import Vps


def load_image(vps: Vps, reference: str, timeout: float = 600) -> None:
    """Make a host image available to ``vps``'s own engine (``docker load``, streamed over SSH)."""
    if vps.docker_mode == "none":
        raise VpsNotReady(f"VPS {vps.name} runs no Docker engine (docker='none')")
    image = vps.client.images.get(reference)
    named = reference if reference in image.tags else False
    stream = image.save(chunk_size=1 << 20, named=named)
    vps.run("docker load", stdin=stream, timeout=timeout)


def seed_base(vps: Vps, image: VpsImage) -> None:
    """Load the VPS's own base image into its engine, under the name a Dockerfile uses (``FROM debian:12``)."""
    base = vps.client.images.get(image.base)
    reference = base.tags[0] if base.tags else base.id
    load_image(vps, reference)
    if reference != image.spec.registry_ref:
        vps.run(f"docker tag {shlex.quote(reference)} {shlex.quote(image.spec.registry_ref)}")


def docker_store(vps: Vps) -> bytes:
    """Stop ``vps``'s engine and return its image store, the seed of a DinD image.

    Its engine must hold only the base (as :func:`seed_base` left it).
    """
    path = "/run/vps-harness-store.tar"
    vps.run(f"vps-docker-seed save {path}", user="root")
    return vps.read_bytes(path)
