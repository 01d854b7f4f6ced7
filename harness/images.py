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

import contextlib
import dataclasses
import hashlib
import os
import re
import shlex
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

import vps_images
from harness import cache, engine, labels, remote
from harness.bases import Bases, Bootstrapper
from harness.builder import Builder, build_context, config_lines
from harness.config import HarnessConfig
from harness.errors import ImageUnavailable
from harness.locks import machine_lock, made_once
from harness.progress import Progress, stderr_progress
from harness.spec import OsSpec
from harness.transfer import LocalSource

__all__ = [
    "BARE",
    "DIND",
    "INNER",
    "KEY_LABEL",
    "SNAPSHOT",
    "Images",
    "InnerImage",
    "VpsImage",
    "files_hash",
    "recipe_hash",
    "recipe_key",
    "reference",
]

VPS_REPOSITORY = "vps-harness/vps"
INNER_REPOSITORY = "vps-harness/inner"
#: The label every image this project makes carries its content key under (its tag ends with the key's start).
KEY_LABEL = labels.RECIPE_HASH
#: Bump to invalidate every cached VPS image (a change in how images are built
#: that the recipe files do not show).
RECIPE_FORMAT = "1"


#: The folder of the recipes every family's build also uses.
COMMON = "common"


#: The folder of the Docker-in-Docker layer built on a VPS image.
DIND = "dind"
#: The kind of an image for VPSes' own engines (see :meth:`Images.inner`).
INNER = "inner"
#: The kind of a VPS image without Docker installed (``docker="bare"``).
BARE = "bare"
#: The kind of a provisioned VPS kept as an image (:mod:`harness.snapshot`).
SNAPSHOT = "snapshot"
#: Where a DinD image holds each seeded image's files (see ``vps-docker-seed``).
SEED_LAYERS = "/var/lib/vps-harness/docker-seed/layers"


def recipe_hash(recipes: Path, package_family: str, base_id: str, *extra: str) -> str:
    """Content hash of one family's recipe, the shared files, and the base.

    Every file under ``recipes/common``, ``recipes/<family>`` and each
    ``extra`` folder counts by relative path, executable bit and content;
    the walk is sorted, so the hash is the same on every machine.
    """
    return files_hash(recipes, (COMMON, package_family, *extra), f"base {base_id}")


def recipe_key(paths: tuple[Path, ...] | list[Path], *salt: str) -> str:
    """Content key of a provisioning: each of ``paths`` (a file, or every file under a folder) and ``salt``.

    What a snapshot is tagged by (:mod:`harness.snapshot`); ``images ls``
    computes it again to tell whether the snapshot is current.
    """
    digest = hashlib.sha256(f"recipe-format {RECIPE_FORMAT}\n".encode())
    for line in salt:
        digest.update(f"{line}\n".encode())
    for path in paths:  # by name and content, not where the checkout is: another clone reuses the snapshot
        digest.update(f"\0{path.name}\0".encode())
        if path.is_dir():
            digest.update(files_hash(path, (".",)).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def files_hash(root: Path, folders: tuple[str, ...], *salt: str) -> str:
    """Content hash of every file under ``root/<folder>`` for each folder, and ``salt``.

    Files count by path relative to ``root``, executable bit and content,
    in sorted order.
    """
    digest = hashlib.sha256(f"recipe-format {RECIPE_FORMAT}\n".encode())
    for line in salt:
        digest.update(f"{line}\n".encode())
    files = [
        p for folder in folders for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]
    for path in sorted(files):
        relative = path.relative_to(root).as_posix()
        executable = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"\0{relative}\0{executable}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class InnerImage:
    """An image for VPSes' own engines, built FROM the VPS's base (see :meth:`Images.inner`)."""

    spec: OsSpec
    #: Its name in a VPS's engine (``registry:2``).
    name: str
    #: Its tag and ID on the host's engine.
    tag: str
    image_id: str
    built: bool

    @property
    def seed_name(self) -> str:
        """The folder its files have in a DinD image (``SEED_LAYERS/<seed_name>``): its ID, short."""
        return self.image_id.removeprefix("sha256:")[:16]


@dataclass(frozen=True)
class VpsImage:
    """A VPS image ready to run: what it is for, its tag, and how it came."""

    spec: OsSpec
    tag: str
    image_id: str
    base: str
    built: bool
    #: A Docker-in-Docker image whose own engine already holds ``base`` (and ``inner``).
    seeded: bool = False
    #: The images a DinD VPS's engine has besides its base: seeded, or loaded at start.
    inner: tuple[InnerImage, ...] = ()
    #: The public host key its VPSes present, when the image has one (a snapshot's); else each makes its own.
    host_key: str = ""


class Images:
    """Builds each VPS image once per machine, on the parts beside it: the bases (:class:`~harness.bases.Bases`),
    the builder (:class:`~harness.builder.Builder`), the machine-wide lock and the package cache
    (:class:`~harness.cache.PackageProxy`, for an owner that calls :meth:`close`)."""

    def __init__(
        self,
        client: docker.DockerClient,
        config: HarnessConfig | None = None,
        progress: Progress = stderr_progress,
        bootstrapper: Bootstrapper | None = None,
        recipes: Path = vps_images.ROOT,
        use_package_cache: bool = False,
    ) -> None:
        self.client = client
        self.recipes = recipes
        self.config = config or HarnessConfig.from_env()
        self.progress = progress
        #: An engine elsewhere gets the images this machine's engine has by copy (:mod:`harness.transfer`),
        #: takes its locks under its own ID, and a package cache of its own.
        self.reach = remote.reach(client, self.config)
        self.source = LocalSource(client, progress)
        #: What names this engine among the things kept on this machine (its locks, a world's values):
        #: "" for a local engine, else its ID, short.
        self.engine_name = ""
        if not self.reach.local:  # an engine that names no ID (Podman): its URL
            named = re.sub(r"[^A-Za-z0-9]", "", engine.facts(client).id)[:16]
            self.engine_name = named or hashlib.sha256(self.reach.url.encode()).hexdigest()[:16]
        self.bases = Bases(client, self.config, progress, self.lock, bootstrapper, copy=self.source.copy)
        self.builder = Builder(client, progress)
        mode = self.config.package_cache if use_package_cache else "off"
        #: The package cache's service is built without a proxy: it is the proxy. One per engine, beside its VPSes.
        service = lambda: self.inner(cache.BASE, "apt-cacher-ng", cache.RECIPE, proxied=False).tag  # noqa: E731
        self.packages = cache.PackageProxy(
            client, mode, service, self.lock, progress, self.engine_name, from_here=self.reach.local
        )
        self._unseeded: set[OsSpec] = set()

    def base(self, spec: OsSpec) -> Image:
        """The base image of ``spec``: local, else pulled, else bootstrapped (see :class:`~harness.bases.Bases`)."""
        return self.bases.get(spec)

    @contextmanager
    def lock(self, name: str, what: str) -> Iterator[None]:
        """Hold the machine-wide lock ``name`` of this engine (see :func:`harness.locks.machine_lock`)."""
        scoped = f"{self.engine_name}-{name}" if self.engine_name else name
        with machine_lock(self.config.lock_dir, scoped, what, self.progress):
            yield

    def package_proxy(self, spec: OsSpec) -> str | None:
        """The package cache's URL for apt on ``spec`` (started when needed), or None (off, or not apt)."""
        return self.packages.url(spec)

    def close(self) -> None:
        """Stop using the package cache; the last process that used it removes its container (not its volume)."""
        self.packages.close()
        self.source.close()

    # -- VPS images -------------------------------------------------------

    def vps_tag(self, spec: OsSpec, base: Image, bare: bool = False) -> str:
        digest = recipe_hash(self.recipes, spec.package_family, base.id)
        if bare:
            digest = hashlib.sha256(f"{digest}\nDOCKER=no\n".encode()).hexdigest()
        return f"{VPS_REPOSITORY}:{spec.id}-{BARE + '-' if bare else ''}{digest[:16]}"

    def dind_tag(self, spec: OsSpec, base: Image, inner: tuple[InnerImage, ...] = ()) -> str:
        digest = recipe_hash(self.recipes, spec.package_family, base.id, DIND)
        if inner:
            extra = "".join(f"{image.name} {image.image_id}\n" for image in inner)
            digest = hashlib.sha256(f"{digest}\n{extra}".encode()).hexdigest()
        return f"{VPS_REPOSITORY}:{spec.id}-{DIND}-{digest[:16]}"

    def vps(self, spec: OsSpec, rebuild: bool = False, bare: bool = False) -> VpsImage:
        """The VPS image of ``spec``, built only when no image has its tag (or ``rebuild``).

        ``bare``: the image without Docker (the recipe's ``DOCKER=no``), for a
        server whose provisioning installs the engine itself. A rebuild of
        unchanged recipes reuses the engine's layer cache: the same image
        comes out, with the same ID.
        """
        base = self.base(spec)
        tag = self.vps_tag(spec, base, bare)
        what = f"{'bare ' if bare else ''}VPS image of {spec}"
        image, built = self._once(tag, what, lambda: self._build(spec, base, tag, bare), rebuild)
        return VpsImage(spec, tag, image.id, base.id, built=built)

    def _once(self, tag: str, what: str, build: Callable[[], Image], rebuild: bool = False) -> tuple[Image, bool]:
        """The image ``tag``; when there is none, ``build`` makes it under the machine-wide lock (or, on an
        engine elsewhere, it is copied from this machine's engine if that has it). Whether it built."""
        make = build if rebuild else lambda: self.source.copy(tag) or build()
        return made_once(self.lock, tag.replace("/", "_"), what, lambda: None if rebuild else self._get(tag), make)

    def _get(self, reference: str) -> Image | None:
        try:
            return self.client.images.get(reference)
        except docker.errors.ImageNotFound:
            return None

    def _build(self, spec: OsSpec, base: Image, tag: str, bare: bool = False) -> Image:
        dockerfile = f"{spec.package_family}/Dockerfile"
        base_ref = reference(base)
        buildargs = {"BASE": base_ref, **({"DOCKER": "no"} if bare else {})}
        reproduce = (
            "docker build "
            + " ".join(f"--build-arg {name}={value}" for name, value in buildargs.items())
            + f" -f {shlex.quote(str(self.recipes / dockerfile))} -t {tag} {shlex.quote(str(self.recipes))}"
        )
        self.progress(f"build {spec}: {tag} from {base_ref}")
        return self.builder.run(
            spec,
            tag,
            BARE if bare else "vps",
            reproduce,
            proxy=self.package_proxy(spec),
            path=str(self.recipes),
            dockerfile=dockerfile,
            buildargs=buildargs,
        )

    # -- Docker-in-Docker images ------------------------------------------

    def dind(
        self,
        spec: OsSpec,
        seed: Callable[[VpsImage, tuple[InnerImage, ...]], bytes],
        inner: tuple[InnerImage, ...] = (),
    ) -> VpsImage:
        """The image of a DinD VPS of ``spec``, whose own engine starts with the base (and ``inner``) loaded.

        It is the VPS image plus each image's files and an engine image store
        (see ``vps-docker-seed``). ``seed(vps_image, inner)`` makes that store
        on a VPS of the plain image; it runs only when no image has the tag.
        A base of several layers gets the plain image: each VPS then loads its
        base and ``inner`` when it starts.
        """
        plain = self.vps(spec)
        base = self.client.images.get(plain.base)
        layers = len(base.attrs.get("RootFS", {}).get("Layers", []))
        if layers != 1:
            if spec not in self._unseeded:
                self._unseeded.add(spec)
                self.progress(f"dind {spec}: the base has {layers} layers, so each DinD VPS loads it at start")
            return dataclasses.replace(plain, inner=inner)
        tag = self.dind_tag(spec, base, inner)
        what = f"Docker-in-Docker image of {spec}" + (f" with {', '.join(i.name for i in inner)}" if inner else "")
        image, built = self._once(tag, what, lambda: self._build_dind(spec, plain, tag, inner, seed(plain, inner)))
        return VpsImage(spec, tag, image.id, base.id, built=built, seeded=True, inner=inner)

    def _build_dind(
        self, spec: OsSpec, plain: VpsImage, tag: str, inner: tuple[InnerImage, ...], store: bytes
    ) -> Image:
        dockerfile = self.recipes / DIND / "Dockerfile"
        lines = dockerfile.read_text().splitlines(keepends=True)
        sources = [(plain.base, plain.base.removeprefix("sha256:")[:16])]
        sources += [(image.image_id, image.seed_name) for image in inner]
        copies = [f"COPY --from={source} / {SEED_LAYERS}/{name}/\n" for source, name in sources]
        text = "".join(lines[:-1] + copies + lines[-1:]).encode()
        context = build_context({"Dockerfile": text, "store.tar": store})
        buildargs = {"VPS": plain.tag}
        reproduce = (
            f"docker build --build-arg VPS={plain.tag} DIR, where DIR holds {dockerfile} with a "
            "`COPY --from=IMAGE / ...` line per seeded image and the store.tar that `vps-docker-seed save` "
            "wrote on a DinD VPS of the VPS image"
        )
        what = f" and {len(inner)} inner images" if inner else ""
        self.progress(f"build {spec}: {tag} from {plain.tag}{what} and a {len(store) >> 10} KiB engine image store")
        extra = {labels.INNER: " ".join(image.tag for image in inner)} if inner else {}
        return self.builder.run(
            spec,
            tag,
            DIND,
            reproduce,
            proxy=self.package_proxy(spec),
            fileobj=context,
            custom_context=True,
            buildargs=buildargs,
            extra_labels=extra,
        )

    # -- images for VPSes' own engines ------------------------------------

    def inner(self, spec: OsSpec, name: str, recipe: Path, *, proxied: bool = True) -> InnerImage:
        """An image named ``name`` for the engines of DinD VPSes of ``spec``, built once per recipe and base.

        ``recipe`` is a build context whose Dockerfile is
        ``<package family>/Dockerfile`` (or ``Dockerfile``) and starts
        ``ARG BASE`` / ``FROM ${BASE}``: it builds on the VPS's own base. The
        result is flattened to one layer with its ENV, EXPOSE, VOLUME,
        WORKDIR, USER, STOPSIGNAL, ENTRYPOINT and CMD (not HEALTHCHECK,
        SHELL, ONBUILD or its labels), so a DinD image can seed it at no cost per VPS
        (:meth:`dind` with ``inner``). Its host tag is a hash of the recipe's
        files, the name and the base. ``proxied=False``: built without the package cache.
        """
        base = self.base(spec)
        family = recipe / spec.package_family / "Dockerfile"
        dockerfile = family if family.is_file() else recipe / "Dockerfile"
        if not dockerfile.is_file():
            raise ImageUnavailable(
                f"the recipe {recipe} of the inner image {name} has neither {spec.package_family}/Dockerfile "
                "nor Dockerfile"
            )
        tag = self.inner_tag(spec, base, name, recipe)
        what = f"inner image {name} of {spec}"
        extra = {labels.INNER_NAME: name, labels.RECIPE: str(recipe.resolve())}
        # The package cache is asked for when a build runs, not for an image that is there.
        build = lambda: self._build_inner(  # noqa: E731
            spec, base, (recipe, dockerfile), tag, extra, self.package_proxy(spec) if proxied else None
        )
        image, built = self._once(tag, what, build)
        return InnerImage(spec, name, tag, image.id, built)

    def inner_tag(self, spec: OsSpec, base: Image, name: str, recipe: Path) -> str:
        digest = files_hash(recipe, (".",), f"base {base.id}", f"name {name}")
        slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")
        return f"{INNER_REPOSITORY}:{slug}-{spec.id}-{digest[:16]}"

    def _build_inner(
        self,
        spec: OsSpec,
        base: Image,
        recipe_file: tuple[Path, Path],
        tag: str,
        extra: dict[str, str],
        proxy: str | None,
    ) -> Image:
        recipe, dockerfile = recipe_file
        base_ref = reference(base)
        relative = dockerfile.relative_to(recipe).as_posix()
        # Its own name per build: builders under other cache directories (other locks) may build the same.
        layered = f"{tag}-layers{uuid.uuid4().hex[:8]}"
        reproduce = (
            f"docker build --build-arg BASE={base_ref} -f {shlex.quote(str(dockerfile))} {shlex.quote(str(recipe))}"
        )
        self.progress(f"build {spec}: {tag} from {base_ref} ({recipe})")
        built = self.builder.run(
            spec,
            layered,
            INNER,
            reproduce,
            proxy=proxy,
            path=str(recipe),
            dockerfile=relative,
            buildargs={"BASE": base_ref},
        )
        try:
            flat = f"FROM scratch\nCOPY --from={layered} / /\n" + "".join(
                f"{line}\n" for line in config_lines(built.attrs.get("Config") or {})
            )
            context = build_context({"Dockerfile": flat.encode()})
            reproduce = f"docker build - <<'EOF'\n{flat}EOF   (one layer of {layered})"
            return self.builder.run(
                spec, tag, INNER, reproduce, proxy=proxy, fileobj=context, custom_context=True, extra_labels=extra
            )
        finally:
            with contextlib.suppress(docker.errors.ImageNotFound):
                self.client.images.remove(layered)  # this build's name; the layers go with the last one


def reference(image: Image) -> str:
    """The name to give ``image`` to docker: its first tag, else its ID."""
    return str(image.tags[0]) if image.tags else str(image.id)
