"""Base images: the OS a VPS image is built on, found on the engine, else copied from this machine's
engine (for an engine elsewhere), else pulled, else bootstrapped.

Each is made once per machine (a machine-wide lock), and named as its
registry names it when pulled, or ``vps-harness/base:<os>`` when
bootstrapped from the distribution's archive (:mod:`harness.bootstrap`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import docker
import docker.errors
from docker.models.images import Image

from harness import bootstrap
from harness.config import HarnessConfig
from harness.errors import ImageUnavailable
from harness.locks import Lock
from harness.progress import Progress, Stopwatch
from harness.spec import OsSpec

BASE_REPOSITORY = "vps-harness/base"

#: Makes the base of an OS when no registry gives it (default: :meth:`Bases.bootstrap`).
Bootstrapper = Callable[[OsSpec], Image]


def base_reference(spec: OsSpec) -> str:
    """The name of ``spec``'s bootstrapped base (``vps-harness/base:debian-12``)."""
    return f"{BASE_REPOSITORY}:{spec.id}"


class Bases:
    """Finds, pulls or bootstraps each OS's base image, once per machine."""

    def __init__(
        self,
        client: docker.DockerClient,
        config: HarnessConfig,
        progress: Progress,
        lock: Lock,
        bootstrapper: Bootstrapper | None = None,
        copy: Callable[[str], Image | None] = lambda reference: None,
    ) -> None:
        """``copy(reference)``: the image loaded from another engine that has it, else None (see
        :mod:`harness.transfer`); tried before a pull."""
        self.client = client
        self.config = config
        self.progress = progress
        self.lock = lock
        self._bootstrapper = bootstrapper or self.bootstrap
        self._copy = copy

    def local(self, spec: OsSpec) -> Image | None:
        """The base already on this engine: the registry's name first, then ours."""
        for reference in (spec.registry_ref, base_reference(spec)):
            try:
                return self.client.images.get(reference)
            except docker.errors.ImageNotFound:
                continue
        return None

    def get(self, spec: OsSpec) -> Image:
        """The base image of ``spec``: local, else pulled, else bootstrapped."""
        image = self.local(spec)
        if image is not None:
            return image
        with self.lock(f"base-{spec.id}", f"base image of {spec}"):
            image = self.local(spec)  # another process may have made it
            if image is not None:
                return image
            image = self._copy(spec.registry_ref) or self._copy(base_reference(spec))
            if image is not None:
                return image
            pull_error = self._pull(spec)
            image = self.local(spec)
            if image is not None:
                return image
            if not spec.can_bootstrap:
                raise ImageUnavailable(
                    f"{spec} needs its base image from a registry: no local image {spec.registry_ref!r}, "
                    f"and {pull_error}; {spec.package_family}-family bases cannot be bootstrapped offline, "
                    f"so run `docker pull {spec.registry_ref}` (or `docker load` it) where a registry answers"
                )
            return self._bootstrapper(spec)

    def _pull(self, spec: OsSpec) -> str:
        """Try ``docker pull``; return why it gave nothing, for the error message."""
        if not self.config.pull:
            return "pulling is off (VPS_HARNESS_PULL=0)"
        watch = Stopwatch()
        repository, tag = spec.registry_ref.split(":", 1)
        try:
            self.client.images.pull(repository, tag=tag)
        except docker.errors.APIError as e:
            reason = (e.explanation or str(e)).splitlines()[0][:160]
            self.progress(f"base {spec}: `docker pull {spec.registry_ref}` failed [{watch}]: {reason}")
            return f"`docker pull {spec.registry_ref}` failed ({reason})"
        self.progress(f"base {spec}: pulled {spec.registry_ref} [{watch}]")
        return ""

    def bootstrap(self, spec: OsSpec, reference: str | None = None) -> Image:
        """Bootstrap ``spec`` from its archive and import it as ``reference``."""
        work = self.config.cache_dir / "bootstrap" / f"{spec.id}.{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            rootfs = bootstrap.bootstrap_rootfs(spec, work, verify=self.config.verify_bootstrap, progress=self.progress)
            reference = reference or base_reference(spec)
            return bootstrap.import_rootfs(self.client, rootfs, reference, spec, self.progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)
