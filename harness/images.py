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
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image
from filelock import FileLock, Timeout

import vps_images
from harness import bootstrap, cache, labels
from harness.config import HarnessConfig
from harness.errors import BuildFailed, ImageUnavailable
from harness.progress import Progress, Stopwatch, stderr_progress
from harness.spec import OsSpec, parse_spec

BASE_REPOSITORY = "vps-harness/base"
VPS_REPOSITORY = "vps-harness/vps"
INNER_REPOSITORY = "vps-harness/inner"
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
#: The kind of an image for VPSes' own engines (see :meth:`Images.inner`).
INNER = "inner"
#: The kind of a VPS image without Docker installed (``docker="bare"``).
BARE = "bare"
#: The kind of a provisioned VPS kept as an image (:mod:`harness.snapshot`).
SNAPSHOT = "snapshot"
#: Each image kind this project builds, as messages name it.
_KIND_NAMES = {"vps": "VPS", BARE: "bare VPS", DIND: "Docker-in-Docker", INNER: "inner", SNAPSHOT: "snapshot"}
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
        use_package_cache: bool = False,
    ) -> None:
        self.client = client
        self.recipes = recipes
        self.config = config or HarnessConfig.from_env()
        self.progress = progress
        self._bootstrapper = bootstrapper or self.bootstrap_base
        self._unseeded: set[OsSpec] = set()
        self._proxy: str | None = None
        self._proxy_lock = threading.Lock()
        self._unproxied = threading.local()
        self._use_package_cache = use_package_cache
        self._cache_user: int | None = None

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
        with self.lock(f"base-{spec.id}", f"base image of {spec}"):
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
        """The image ``tag``; when there is none, ``build`` makes it under the machine-wide lock. Whether it built."""
        found = None if rebuild else self._get(tag)
        if found is not None:
            return found, False
        with self.lock(tag.replace("/", "_"), what):
            found = None if rebuild else self._get(tag)  # another process may have made it meanwhile
            return (found, False) if found is not None else (build(), True)

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
        return self._run_build(
            spec,
            tag,
            BARE if bare else "vps",
            reproduce,
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
        return self._run_build(
            spec, tag, DIND, reproduce, fileobj=context, custom_context=True, buildargs=buildargs, extra_labels=extra
        )

    # -- images for VPSes' own engines ------------------------------------

    def inner(self, spec: OsSpec, name: str, recipe: Path) -> InnerImage:
        """An image named ``name`` for the engines of DinD VPSes of ``spec``, built once per recipe and base.

        ``recipe`` is a build context whose Dockerfile is
        ``<package family>/Dockerfile`` (or ``Dockerfile``) and starts
        ``ARG BASE`` / ``FROM ${BASE}``: it builds on the VPS's own base. The
        result is flattened to one layer with its ENV, EXPOSE, VOLUME,
        WORKDIR, USER, STOPSIGNAL, ENTRYPOINT and CMD (not HEALTHCHECK,
        SHELL, ONBUILD or its labels), so a DinD image can seed it at no cost per VPS
        (:meth:`dind` with ``inner``). Its host tag is a hash of the recipe's
        files, the name and the base.
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
        image, built = self._once(tag, what, lambda: self._build_inner(spec, base, recipe, dockerfile, tag, extra))
        return InnerImage(spec, name, tag, image.id, built)

    def inner_tag(self, spec: OsSpec, base: Image, name: str, recipe: Path) -> str:
        digest = files_hash(recipe, (".",), f"base {base.id}", f"name {name}")
        slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")
        return f"{INNER_REPOSITORY}:{slug}-{spec.id}-{digest[:16]}"

    def _build_inner(
        self, spec: OsSpec, base: Image, recipe: Path, dockerfile: Path, tag: str, extra: dict[str, str]
    ) -> Image:
        base_ref = reference(base)
        relative = dockerfile.relative_to(recipe).as_posix()
        # Its own name per build: builders under other cache directories (other locks) may build the same.
        layered = f"{tag}-layers{uuid.uuid4().hex[:8]}"
        reproduce = (
            f"docker build --build-arg BASE={base_ref} -f {shlex.quote(str(dockerfile))} {shlex.quote(str(recipe))}"
        )
        self.progress(f"build {spec}: {tag} from {base_ref} ({recipe})")
        built = self._run_build(
            spec, layered, INNER, reproduce, path=str(recipe), dockerfile=relative, buildargs={"BASE": base_ref}
        )
        try:
            flat = f"FROM scratch\nCOPY --from={layered} / /\n" + "".join(
                f"{line}\n" for line in config_lines(built.attrs.get("Config") or {})
            )
            context = build_context({"Dockerfile": flat.encode()})
            reproduce = f"docker build - <<'EOF'\n{flat}EOF   (one layer of {layered})"
            return self._run_build(
                spec, tag, INNER, reproduce, fileobj=context, custom_context=True, extra_labels=extra
            )
        finally:
            with contextlib.suppress(docker.errors.ImageNotFound):
                self.client.images.remove(layered)  # this build's name; the layers go with the last one

    def _run_build(
        self,
        spec: OsSpec,
        tag: str,
        kind: str,
        reproduce: str,
        extra_labels: dict[str, str] | None = None,
        **build: object,
    ) -> Image:
        """Run one build of the classic builder, reporting its steps; raise BuildFailed with its output."""
        watch = Stopwatch()
        output: list[str] = []
        error = ""
        step = re.compile(r"^Step (\d+/\d+) : (.*)")
        proxy = self.package_proxy(spec)
        if proxy:  # a predefined build argument: in neither the image nor its cache key
            given = build.get("buildargs")
            build["buildargs"] = {**(given if isinstance(given, dict) else {}), "http_proxy": proxy}
        stream = self.client.api.build(
            tag=tag,
            labels={
                labels.IMAGE_KIND: kind,
                labels.SPEC: str(spec),
                labels.RECIPE_HASH: tag.rsplit("-", 1)[1],
                **(extra_labels or {}),
            },
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
    def lock(self, name: str, what: str) -> Iterator[None]:
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

    # -- the package cache ------------------------------------------------

    def package_proxy(self, spec: OsSpec) -> str | None:
        """The package cache's URL for apt on ``spec`` (started when needed), or None (off, or not apt).

        See :mod:`harness.cache`; its own image is built without it. Only an
        owner that calls :meth:`close` at its end (``use_package_cache``:
        the pytest plugin, the benches) uses it; VPSes that outlive their
        process (``vps-harness up``) reach the archives directly.
        """
        if not self._use_package_cache or self.config.package_cache == "off" or spec.package_family != "apt":
            return None
        if self._building_cache():
            return None
        with self._proxy_lock:
            if self._proxy is None:
                with self.lock("package-cache", "package cache"):
                    self._cache_user = cache.use()
                    self._unproxied.active = True
                    try:
                        service = self.inner(cache.BASE, "apt-cacher-ng", cache.RECIPE)
                    finally:
                        self._unproxied.active = False
                    self._proxy = cache.ensure(self.client, service.tag, self.config.package_cache)
                self.progress(f"package cache: {self._proxy} ({self.config.package_cache})")
            return self._proxy

    def close(self) -> None:
        """Stop using the package cache; the last process that used it removes its container (not its volume)."""
        with self._proxy_lock:
            if self._cache_user is None:
                return
            cache.done(self._cache_user, self.client)
            self._cache_user = None
            self._proxy = None

    def _building_cache(self) -> bool:
        return bool(getattr(self._unproxied, "active", False))

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
        found = image.labels or {}
        if kind == SNAPSHOT:
            return self._snapshot_is_current(found)
        if kind == INNER:
            if not found.get(labels.RECIPE) or not found.get(labels.INNER_NAME):
                return False
            recipe = Path(found[labels.RECIPE])
            return recipe.is_dir() and self.inner_tag(spec, base, found[labels.INNER_NAME], recipe) in image.tags
        if kind == DIND and found.get(labels.INNER):
            inner = []
            for tag in found[labels.INNER].split():
                inner_image = self._get(tag)
                if inner_image is None or not self._is_current(inner_image, INNER, spec_text):
                    return False
                name = (inner_image.labels or {}).get(labels.INNER_NAME, "")
                inner.append(InnerImage(spec, name, tag, inner_image.id, built=False))
            return self.dind_tag(spec, base, tuple(inner)) in image.tags
        if kind == DIND:
            return self.dind_tag(spec, base) in image.tags
        return self.vps_tag(spec, base, bare=kind == BARE) in image.tags

    def _snapshot_is_current(self, found: dict[str, str]) -> bool:
        """A snapshot is current while the image it was taken of is, and its provisioning's files are unchanged."""
        source = self._get(found[labels.SNAPSHOT_OF]) if found.get(labels.SNAPSHOT_OF) else None
        if source is None or not source.tags:
            return False
        source_labels = source.labels or {}
        if not self._is_current(source, source_labels.get(labels.IMAGE_KIND, ""), source_labels.get(labels.SPEC, "")):
            return False
        try:
            recipe = json.loads(found.get(labels.SNAPSHOT_RECIPE, ""))
            folders = [Path(folder) for folder in recipe["folders"]]
            salt = [str(line) for line in recipe["salt"]]
        except (ValueError, KeyError, TypeError):
            return False
        if not folders and not salt:  # keyed by its caller alone: current while its image is
            return True
        return all(path.exists() for path in folders) and recipe_key(folders, *salt) == found.get(labels.RECIPE_HASH)

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
        self.forget_worlds()
        return removed

    def forget_worlds(self) -> list[Path]:
        """Remove the kept values (keys, passwords) of snapshotted worlds none of whose snapshots is left on
        this engine: the files of ``config.world_dir`` named by a content key no image carries. Those removed."""
        folder = self.config.world_dir
        gone = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if not self.client.api.images(filters={"label": f"{labels.RECIPE_HASH}={path.stem}"}):
                path.unlink(missing_ok=True)
                gone.append(path)
        return gone


def build_context(files: dict[str, bytes]) -> io.BytesIO:
    """A build context made in memory: a tar of ``files`` (name: content), rewound."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    context.seek(0)
    return context


def reference(image: Image) -> str:
    """The name to give ``image`` to docker: its first tag, else its ID."""
    return str(image.tags[0]) if image.tags else str(image.id)


def config_lines(config: dict[str, object]) -> list[str]:
    """Dockerfile lines that give an image ``config`` (an image's ``Config``): what flattening would lose.

    >>> config_lines({"Env": ["PATH=/bin"], "Cmd": ["sshd", "-D"], "ExposedPorts": {"22/tcp": {}}})
    ['ENV PATH="/bin"', 'EXPOSE 22/tcp', 'CMD ["sshd", "-D"]']
    """
    env = [str(entry).partition("=") for entry in config.get("Env") or []]  # type: ignore[attr-defined]
    # A Dockerfile substitutes $VARIABLES in ENV, WORKDIR, USER and STOPSIGNAL.
    lines = [f"ENV {key}={json.dumps(value, ensure_ascii=False)}".replace("$", "\\$") for key, _, value in env]
    lines += [f"EXPOSE {port}" for port in sorted(config.get("ExposedPorts") or {})]  # type: ignore[call-overload]
    if config.get("Volumes"):
        lines.append(f"VOLUME {json.dumps(sorted(config['Volumes']))}")  # type: ignore[call-overload]
    for key, instruction in (("WorkingDir", "WORKDIR"), ("User", "USER"), ("StopSignal", "STOPSIGNAL")):
        if config.get(key):
            lines.append(f"{instruction} {config[key]}".replace("$", "\\$"))
    for key, instruction in (("Entrypoint", "ENTRYPOINT"), ("Cmd", "CMD")):
        if config.get(key):
            lines.append(f"{instruction} {json.dumps(config[key], ensure_ascii=False)}")
    return lines


def _created(image: Image) -> float:
    """Seconds since the epoch from Docker's UTC ``Created`` stamp."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", str(image.attrs.get("Created", "")))
    return float(calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S"))) if match else 0.0
