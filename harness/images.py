"""Base and VPS images: found, pulled or bootstrapped once, built once, reused.

A VPS image's tag is a hash of its recipe, its build context and its base
image's ID, so a tag that exists is a build that need not run. A file lock
under the cache directory makes every builder on the machine (pytest-xdist
workers, the CLI) build each image once while the others wait.

>>> images = Images(docker_client())  # doctest: +SKIP
>>> images.vps(parse_spec("ubuntu:16.04")).tag  # doctest: +SKIP
'vps-harness/vps:ubuntu-16.04-3f1c…'
"""

from __future__ import annotations

import calendar
import hashlib
import io
import os
import re
import shlex
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image
from filelock import FileLock, Timeout

import vps_images
from harness import bootstrap, labels
from harness.config import HarnessConfig
from harness.errors import BuildFailed, ImageUnavailable
from harness.progress import Progress, Stopwatch, stderr_progress
from harness.spec import OsSpec, parse_spec

BASE_REPOSITORY = "vps-harness/base"
VPS_REPOSITORY = "vps-harness/vps"
#: Bump to invalidate every cached VPS image (a change in how images are built
#: that the recipe files do not show).
RECIPE_FORMAT = "1"
#: How long a builder waits for another process's build of the same image.
LOCK_TIMEOUT = 3600.0

Bootstrapper = Callable[[OsSpec], Image]


def base_reference(spec: OsSpec) -> str:
    """The name a bootstrapped base of ``spec`` is imported as."""
    return f"{BASE_REPOSITORY}:{spec.id}"


#: The folder of the recipes every family's build also uses.
COMMON = "common"


#: The folder of the Docker-in-Docker layer built on a VPS image.
DIND = "dind"
#: Each image kind this project builds, as messages name it.
_KIND_NAMES = {"vps": "VPS", DIND: "Docker-in-Docker"}


def recipe_hash(recipes: Path, package_family: str, base_id: str, *extra: str) -> str:
    """Content hash of one family's recipe, the shared files, and the base.

    Every file under ``recipes/common``, ``recipes/<family>`` and each
    ``extra`` folder counts by relative path, executable bit and content;
    the walk is sorted, so the hash is the same on every machine.
    """
    digest = hashlib.sha256(f"recipe-format {RECIPE_FORMAT}\nbase {base_id}\n".encode())
    folders = (COMMON, package_family, *extra)
    files = [p for folder in folders for p in (recipes / folder).rglob("*") if p.is_file()]
    for path in sorted(files):
        relative = path.relative_to(recipes).as_posix()
        executable = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"\0{relative}\0{executable}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class VpsImage:
    """A VPS image ready to run: what it is for, its tag, and how it came."""

    spec: OsSpec
    tag: str
    image_id: str
    base: str
    built: bool
    #: A Docker-in-Docker image whose own engine already holds ``base``.
    seeded: bool = False


@dataclass(frozen=True)
class ImageInfo:
    """One row of ``vps-harness images ls``."""

    kind: str
    spec: str
    tag: str
    image_id: str
    size: int
    created: float
    current: bool


class Images:
    """Resolves base images and builds VPS images, each once per machine."""

    def __init__(
        self,
        client: docker.DockerClient,
        config: HarnessConfig | None = None,
        progress: Progress = stderr_progress,
        bootstrapper: Bootstrapper | None = None,
        recipes: Path = vps_images.ROOT,
    ) -> None:
        self.client = client
        self.recipes = recipes
        self.config = config or HarnessConfig.from_env()
        self.progress = progress
        self._bootstrapper = bootstrapper or self.bootstrap_base
        self._unseeded: set[OsSpec] = set()

    # -- base images ------------------------------------------------------

    def local_base(self, spec: OsSpec) -> Image | None:
        """The base already on this engine: the registry's name first, then ours."""
        for reference in (spec.registry_ref, base_reference(spec)):
            try:
                return self.client.images.get(reference)
            except docker.errors.ImageNotFound:
                continue
        return None

    def base(self, spec: OsSpec) -> Image:
        """The base image of ``spec``: local, else pulled, else bootstrapped."""
        image = self.local_base(spec)
        if image is not None:
            return image
        with self._lock(f"base-{spec.id}", f"base image of {spec}"):
            image = self.local_base(spec)  # another process may have made it
            if image is not None:
                return image
            pull_error = self._pull(spec)
            image = self.local_base(spec)
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

    def bootstrap_base(self, spec: OsSpec, reference: str | None = None) -> Image:
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

    # -- VPS images -------------------------------------------------------

    def vps_tag(self, spec: OsSpec, base: Image) -> str:
        digest = recipe_hash(self.recipes, spec.package_family, base.id)
        return f"{VPS_REPOSITORY}:{spec.id}-{digest[:16]}"

    def dind_tag(self, spec: OsSpec, base: Image) -> str:
        digest = recipe_hash(self.recipes, spec.package_family, base.id, DIND)
        return f"{VPS_REPOSITORY}:{spec.id}-{DIND}-{digest[:16]}"

    def vps(self, spec: OsSpec, rebuild: bool = False) -> VpsImage:
        """The VPS image of ``spec``, built only when no image has its tag (or ``rebuild``).

        A rebuild of unchanged recipes reuses the engine's layer cache: the
        same image comes out, with the same ID.
        """
        base = self.base(spec)
        tag = self.vps_tag(spec, base)
        image, built = self._once(tag, f"VPS image of {spec}", lambda: self._build(spec, base, tag), rebuild)
        return VpsImage(spec, tag, image.id, base.id, built=built)

    def _once(self, tag: str, what: str, build: Callable[[], Image], rebuild: bool = False) -> tuple[Image, bool]:
        """The image ``tag``; when there is none, ``build`` makes it under the machine-wide lock. Whether it built."""
        found = None if rebuild else self._get(tag)
        if found is not None:
            return found, False
        with self._lock(tag.replace("/", "_"), what):
            found = None if rebuild else self._get(tag)  # another process may have made it meanwhile
            return (found, False) if found is not None else (build(), True)

    def _get(self, reference: str) -> Image | None:
        try:
            return self.client.images.get(reference)
        except docker.errors.ImageNotFound:
            return None

    def _build(self, spec: OsSpec, base: Image, tag: str) -> Image:
        dockerfile = f"{spec.package_family}/Dockerfile"
        base_ref = base.tags[0] if base.tags else base.id
        reproduce = (
            f"docker build --build-arg BASE={base_ref} -f {shlex.quote(str(self.recipes / dockerfile))} "
            f"-t {tag} {shlex.quote(str(self.recipes))}"
        )
        self.progress(f"build {spec}: {tag} from {base_ref}")
        return self._run_build(
            spec, tag, "vps", reproduce, path=str(self.recipes), dockerfile=dockerfile, buildargs={"BASE": base_ref}
        )

    # -- Docker-in-Docker images ------------------------------------------

    def dind(self, spec: OsSpec, seed: Callable[[VpsImage], bytes]) -> VpsImage:
        """The image of a Docker-in-Docker VPS of ``spec``, whose own engine starts with the base loaded.

        It is the VPS image plus the base's files and an engine image store
        (see ``vps-docker-seed``). ``seed(vps_image)`` makes that store on a
        VPS of the plain image; it runs only when no image has the tag. A
        base of several layers gets the plain image: each VPS then loads its
        base when it starts.
        """
        plain = self.vps(spec)
        base = self.client.images.get(plain.base)
        layers = len(base.attrs.get("RootFS", {}).get("Layers", []))
        if layers != 1:
            if spec not in self._unseeded:
                self._unseeded.add(spec)
                self.progress(f"dind {spec}: the base has {layers} layers, so each DinD VPS loads it at start")
            return plain
        tag = self.dind_tag(spec, base)
        what = f"Docker-in-Docker image of {spec}"
        image, built = self._once(tag, what, lambda: self._build_dind(spec, plain, tag, seed(plain)))
        return VpsImage(spec, tag, image.id, base.id, built=built, seeded=True)

    def _build_dind(self, spec: OsSpec, plain: VpsImage, tag: str, store: bytes) -> Image:
        dockerfile = self.recipes / DIND / "Dockerfile"
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, data in (("Dockerfile", dockerfile.read_bytes()), ("store.tar", store)):
                member = tarfile.TarInfo(name)
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
        context.seek(0)
        buildargs = {"BASE": plain.base, "VPS": plain.tag}
        reproduce = (
            f"docker build --build-arg BASE={plain.base} --build-arg VPS={plain.tag} -f {shlex.quote(str(dockerfile))} "
            "DIR, where DIR holds the store.tar that `vps-docker-seed save` wrote on a DinD VPS of the VPS image"
        )
        self.progress(f"build {spec}: {tag} from {plain.tag} and a {len(store) >> 10} KiB engine image store")
        return self._run_build(spec, tag, DIND, reproduce, fileobj=context, custom_context=True, buildargs=buildargs)

    def _run_build(self, spec: OsSpec, tag: str, kind: str, reproduce: str, **build: object) -> Image:
        """Run one build of the classic builder, reporting its steps; raise BuildFailed with its output."""
        watch = Stopwatch()
        output: list[str] = []
        error = ""
        step = re.compile(r"^Step (\d+/\d+) : (.*)")
        stream = self.client.api.build(
            tag=tag,
            labels={labels.IMAGE_KIND: kind, labels.SPEC: str(spec), labels.RECIPE_HASH: tag.rsplit("-", 1)[1]},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            **build,
        )
        for chunk in stream:
            if "error" in chunk:
                error = str(chunk["error"]).strip()
                output.append(error)
            for line in str(chunk.get("stream", "")).splitlines():
                output.append(line)
                match = step.match(line)
                if match:
                    self.progress(f"build {spec}: step {match[1]} {match[2][:70]} [{watch}]")
        if error:
            what = f"build of the {spec} {_KIND_NAMES[kind]} image"
            raise BuildFailed(what, reproduce, output, error.splitlines()[0])
        self.progress(f"build {spec}: done [{watch}]")
        return self.client.images.get(tag)

    @contextmanager
    def _lock(self, name: str, what: str) -> Iterator[None]:
        """Hold the machine-wide lock ``name``; say once when another holds it."""
        self.config.lock_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.config.lock_dir / f"{name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self.progress(f"waiting for another process that is making the {what}")
            try:
                lock.acquire(timeout=LOCK_TIMEOUT)
            except Timeout as e:
                raise ImageUnavailable(
                    f"gave up after {LOCK_TIMEOUT:.0f} s waiting for another process to make the "
                    f"{what} (lock {lock.lock_file})"
                ) from e
        try:
            yield
        finally:
            lock.release()

    # -- listing and pruning ----------------------------------------------

    def ls(self) -> list[ImageInfo]:
        """Every image this project made, with whether current recipes use it."""
        rows = []
        for image in self.client.images.list(filters={"label": labels.IMAGE_KIND}):
            image_labels = image.labels or {}
            kind = image_labels.get(labels.IMAGE_KIND, "")
            spec_text = image_labels.get(labels.SPEC, "")
            rows.append(
                ImageInfo(
                    kind=kind,
                    spec=spec_text,
                    tag=image.tags[0] if image.tags else "<none>",
                    image_id=image.short_id,
                    size=int(image.attrs.get("Size", 0)),
                    created=_created(image),
                    current=self._is_current(image, kind, spec_text),
                )
            )
        return sorted(rows, key=lambda r: (r.spec, r.kind, -r.created))

    def _is_current(self, image: Image, kind: str, spec_text: str) -> bool:
        if not image.tags:
            return False
        try:
            spec = parse_spec(spec_text)
        except ValueError:
            return False
        if kind == "base":
            return True
        base = self.local_base(spec)
        if base is None:
            return False
        return (self.dind_tag if kind == DIND else self.vps_tag)(spec, base) in image.tags

    def prune(self) -> list[ImageInfo]:
        """Remove this project's images that current recipes do not use."""
        removed = []
        for row in self.ls():
            if row.current:
                continue
            try:
                self.client.images.remove(row.image_id)
            except docker.errors.APIError as e:
                self.progress(f"prune: kept {row.tag} ({row.image_id}): {e.explanation or e}")
                continue
            removed.append(row)
        return removed


def _created(image: Image) -> float:
    """Seconds since the epoch from Docker's UTC ``Created`` stamp."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", str(image.attrs.get("Created", "")))
    return float(calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S"))) if match else 0.0
