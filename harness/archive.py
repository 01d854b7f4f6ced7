"""Image archives: this project's current images in one file, for a CI cache
(GitHub's ``actions/cache``) or another engine, loaded back with the same
tags and IDs, so nothing is built again.

A VPS image's tag is a hash of its recipe and of its base's image ID, and a
bootstrapped base's ID differs from one bootstrap to the next: an archive
keeps the bases with the images built on them. Snapshots stay out: they are
a machine's own, large, and cheap to take again.

The cache key (:func:`key`) covers what the images are made from: the
recipes (``vps_images/``), the flows' image recipes (``harness/flows/``),
how a base is bootstrapped (``harness/bootstrap.py``) and the OSes.

>>> from harness.spec import parse_spec
>>> key([parse_spec("debian:12")]).startswith("vps-harness-images-")
True
>>> key([parse_spec("debian:12")]) != key([parse_spec("ubuntu:16.04")])
True
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from pathlib import Path

import docker

import vps_images
from harness.catalogue import Catalogue
from harness.errors import HarnessError
from harness.images import Images, files_hash, reference
from harness.spec import OsSpec, parse_spec

#: The image kinds an archive holds.
KINDS = ("base", "vps", "bare", "dind", "inner")
#: The archive's file in its directory (``docker save`` format).
ARCHIVE = "vps-harness-images.tar"
_HARNESS = Path(__file__).parent


def key(specs: Iterable[OsSpec]) -> str:
    """A cache key that changes whenever an image of ``specs`` would be made differently."""
    digest = hashlib.sha256()
    for line in (
        files_hash(vps_images.ROOT, (".",)),
        files_hash(_HARNESS, ("flows",)),
        hashlib.sha256((_HARNESS / "bootstrap.py").read_bytes()).hexdigest(),
        *sorted(str(spec) for spec in specs),
    ):
        digest.update(f"{line}\n".encode())
    return f"vps-harness-images-{digest.hexdigest()[:24]}"


def save(images: Images, directory: Path, specs: Iterable[OsSpec] = (), kinds: Iterable[str] = KINDS) -> list[str]:
    """Write the current images of ``kinds`` (of ``specs``; all when none) into ``directory/ARCHIVE``; their tags.

    An OS's base is the one its images are built on: the registry's
    (``debian:12``, pulled, which carries no label of ours) where the engine
    has it, else the bootstrapped ``vps-harness/base:...``. Layers the images
    share are written once.
    """
    kinds = tuple(kinds)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise HarnessError(f"no image kind {', '.join(unknown)} in an archive: the kinds are {', '.join(KINDS)}")
    rows = [row for row in Catalogue(images).ls() if row.current and row.tag != "<none>"]
    wanted = {str(spec) for spec in specs}
    tags = [row.tag for row in rows if row.kind in kinds and row.kind != "base" and (not wanted or row.spec in wanted)]
    if "base" in kinds:
        for spec in sorted(wanted or {row.spec for row in rows}):
            with contextlib.suppress(ValueError):  # a label no spec of this release reads
                base = images.bases.local(parse_spec(spec))
                if base is not None:
                    tags.append(reference(base))
    if not tags:
        which = f" of {', '.join(sorted(wanted))}" if wanted else ""
        raise HarnessError(
            f"no current vps-harness image{which} ({', '.join(kinds)}) to save: "
            "build them first (vps-harness images build SPEC)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    api = images.client.api
    # GET /images/get?names=...: one tar for all (docker save A B), which docker-py has no call for.
    response = api._get(api._url("/images/get"), params={"names": tags}, stream=True)
    partial = directory / f"{ARCHIVE}.partial"
    try:
        api._raise_for_status(response)
        with partial.open("wb") as out:
            # As docker-py's get_image reads it: without the socket's read timeout.
            for chunk in api._stream_raw_result(response, 1 << 20, False):
                out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        response.close()
    partial.replace(directory / ARCHIVE)
    return tags


def load(client: docker.DockerClient, directory: Path) -> list[str]:
    """Load ``directory/ARCHIVE`` into the engine; the tags it brought."""
    archive = directory / ARCHIVE
    if not archive.is_file():
        raise HarnessError(f"no image archive at {archive}: make one with `vps-harness images save {directory}`")
    with archive.open("rb") as data:
        loaded = client.images.load(data)
    return sorted({tag for image in loaded for tag in image.tags})
