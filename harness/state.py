"""What the plugin's hooks and the fixtures share: the run's settings and the
per-item stash keys. Both import this module; neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from harness.fleet import Fleet
from harness.launch import DockerMode
from harness.spec import OsSpec

#: What ``--vps-prepare`` builds before the first test: nothing, the matrix's
#: VPS images, or those and their Docker-in-Docker images.
Prepare = Literal["no", "images", "dind"]
PREPARE_CHOICES = ("no", "images", "dind")


@dataclass(frozen=True)
class RunSettings:
    """What the command line and ini said, resolved once per process."""

    matrix: tuple[OsSpec, ...]
    keep_failed: bool
    session: str
    docker: DockerMode = "none"
    prepare: Prepare = "no"


SETTINGS = pytest.StashKey[RunSettings]()
#: On each item: the VPS fleet of the test, for its report.
FLEET = pytest.StashKey[Fleet]()
#: On each item: whether a phase of it failed.
FAILED = pytest.StashKey[bool]()
#: Set once this process has reached the engine, so the session's end sweeps.
ENGINE_USED = pytest.StashKey[bool]()
