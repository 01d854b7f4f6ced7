"""The catalogue of this project's images on an engine: each with whether current recipes use it
(``vps-harness images ls``), the rest removed (``images prune``), and the kept values of worlds whose
snapshots are gone forgotten.

>>> Catalogue(Images(docker_client())).ls()  # doctest: +SKIP
[ImageInfo(kind='vps', spec='debian:12', tag='vps-harness/vps:debian-12-…', ..., current=True), ...]
"""

from __future__ import annotations

import calendar
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors
from docker.models.images import Image

from harness import labels
from harness.images import BARE, DIND, INNER, SNAPSHOT, Images, InnerImage, recipe_key
from harness.spec import parse_spec


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


class Catalogue:
    """What :class:`~harness.images.Images` made on its engine, judged by its current recipes."""

    def __init__(self, images: Images) -> None:
        self.images = images
        self.client = images.client

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

    def _get(self, reference: str) -> Image | None:
        try:
            return self.client.images.get(reference)
        except docker.errors.ImageNotFound:
            return None

    def _is_current(self, image: Image, kind: str, spec_text: str) -> bool:
        if not image.tags:
            return False
        try:
            spec = parse_spec(spec_text)
        except ValueError:
            return False
        if kind == "base":
            return True
        base = self.images.bases.local(spec)
        if base is None:
            return False
        found = image.labels or {}
        if kind == SNAPSHOT:
            return self._snapshot_is_current(found)
        if kind == INNER:
            if not found.get(labels.RECIPE) or not found.get(labels.INNER_NAME):
                return False
            recipe = Path(found[labels.RECIPE])
            return recipe.is_dir() and self.images.inner_tag(spec, base, found[labels.INNER_NAME], recipe) in image.tags
        if kind == DIND and found.get(labels.INNER):
            inner = []
            for tag in found[labels.INNER].split():
                inner_image = self._get(tag)
                if inner_image is None or not self._is_current(inner_image, INNER, spec_text):
                    return False
                name = (inner_image.labels or {}).get(labels.INNER_NAME, "")
                inner.append(InnerImage(spec, name, tag, inner_image.id, built=False))
            return self.images.dind_tag(spec, base, tuple(inner)) in image.tags
        if kind == DIND:
            return self.images.dind_tag(spec, base) in image.tags
        return self.images.vps_tag(spec, base, bare=kind == BARE) in image.tags

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
                self.images.progress(f"prune: kept {row.tag} ({row.image_id}): {e.explanation or e}")
                continue
            removed.append(row)
        self.forget_worlds()
        return removed

    def forget_worlds(self) -> list[Path]:
        """Remove the kept values (keys, passwords) of snapshotted worlds none of whose snapshots is left on
        this engine: the files of ``config.world_dir`` named by a content key no image carries (another
        engine's are named ``<engine>-<key>``, and left to it). Those removed."""
        folder = self.images.config.world_dir
        prefix = f"{self.images.engine_name}-" if self.images.engine_name else ""
        gone = []
        for path in sorted(folder.glob(f"{prefix}*.json")) if folder.is_dir() else []:
            key = path.stem.removeprefix(prefix)
            if "-" in key:  # another engine's world
                continue
            if not self.client.api.images(filters={"label": f"{labels.RECIPE_HASH}={key}"}):
                path.unlink(missing_ok=True)
                gone.append(path)
        return gone


def _created(image: Image) -> float:
    """Seconds since the epoch from Docker's UTC ``Created`` stamp."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", str(image.attrs.get("Created", "")))
    return float(calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S"))) if match else 0.0
