"""Images copied from this machine's engine to another engine that lacks them.

An image's tag is a hash of what it is made of (:mod:`harness.images`), so
the image ``vps-harness/vps:debian-12-3f1c…`` on this machine's engine is
the one a build on a remote engine would make. When the harness drives an
engine elsewhere (:mod:`harness.remote`) and this machine's engine answers
on its default socket, a base or VPS image the remote engine lacks is
streamed over (``docker save`` here, ``docker load`` there, over the API)
instead of bootstrapped or built there; the remote engine keeps what it
got, tag and ID, as if it had built it. An image this machine's engine
lacks too is made on the remote engine as on any engine.
"""

from __future__ import annotations

import contextlib
import os
import threading

import docker
import docker.errors
import requests.exceptions
from docker.models.images import Image

from harness import engine, remote
from harness.progress import Progress, Stopwatch

#: This machine's engine, where the docker CLI finds it when nothing says otherwise.
LOCAL_SOCKET = "/var/run/docker.sock"


class LocalSource:
    """This machine's engine, as the source of the images a remote ``target`` engine lacks."""

    def __init__(self, target: docker.DockerClient, progress: Progress, socket: str = LOCAL_SOCKET) -> None:
        self.target = target
        self.progress = progress
        self.socket = socket
        self._client: docker.DockerClient | None = None
        self._asked = False
        self._guard = threading.Lock()

    def client(self) -> docker.DockerClient | None:
        """A client of this machine's engine, when ``target`` is another engine and this one answers; asked once."""
        with self._guard:
            if self._asked:
                return self._client
            self._asked = True
            if remote.reach(self.target).local or not os.path.exists(self.socket):
                return None
            try:
                client = docker.DockerClient(base_url=f"unix://{self.socket}", timeout=600)
                client.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                return None
            here, there = engine.facts(client), engine.facts(self.target)
            if here.id == there.id or here.architecture != there.architecture:
                client.close()  # the same engine, or images that would not run there
                return None
            self._client = client
            return client

    def copy(self, reference: str) -> Image | None:
        """``reference`` loaded into the target engine from this machine's, when that has it; else None."""
        source = self.client()
        if source is None:
            return None
        try:
            image = source.images.get(reference)
        except docker.errors.ImageNotFound:
            return None
        watch = Stopwatch()
        size = int(image.attrs.get("Size") or 0) >> 20
        self.progress(f"copy {reference}: from this machine's engine to {remote.reach(self.target).url} ({size} MiB)")
        try:
            self.target.images.load(source.api.get_image(reference, chunk_size=1 << 20))
            found = self.target.images.get(reference)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            self.progress(f"copy {reference}: failed [{watch}] ({str(e).splitlines()[0][:160]}); made there instead")
            return None
        self.progress(f"copy {reference}: done [{watch}]")
        return found

    def close(self) -> None:
        with self._guard:
            if self._client is not None:
                with contextlib.suppress(docker.errors.DockerException):
                    self._client.close()
            self._client = None
