"""The environment of a pytest, CLI or tool run these tests start in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import docker
import pytest
from filelock import FileLock

from harness.errors import ImageUnavailable
from harness.spec import OsSpec


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the outer pytest's (xdist worker ids and the like), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}
    return {**env, **extra}


@contextlib.contextmanager
def images_or_skip(spec: OsSpec) -> Iterator[None]:
    """Skip, saying what is missing, where ``spec``'s images cannot be had on this machine (an rpm-family
    base without a registry), as ``vps_factory`` does; a bootstrappable OS's failure stays a failure."""
    try:
        yield
    except ImageUnavailable as e:
        if spec.can_bootstrap:
            raise
        pytest.skip(f"no {spec} images on this machine: {e}")


@contextlib.contextmanager
def sweeping_apart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hold this while a whole run or `vps-harness gc` this test starts may sweep leftovers.

    Such a sweep removes what any dead owner left, and the lifecycle tests
    look at what a killed run left: one at a time across xdist workers.
    """
    with FileLock(tmp_path_factory.getbasetemp().parent / "vps-harness-sweeps.lock"):
        yield


def world_snapshot_text(client: docker.DockerClient, key: str) -> str:
    """Everything `docker inspect` and `docker history --no-trunc` tell of the snapshot images of the world
    of content key ``key``: where its secrets must never show."""
    from harness import labels

    texts = []
    for image in client.images.list(filters={"label": f"{labels.RECIPE_HASH}={key}"}):
        texts.append(json.dumps(image.attrs))
        texts.append(json.dumps(image.history()))
    assert texts, "there are world snapshots to look at"
    return "\n".join(texts)
