"""vps-harness: disposable mock VPS containers for testing server provisioning.

>>> from harness import Images, docker_client, parse_spec
>>> Images(docker_client()).vps(parse_spec("debian:12")).tag  # doctest: +SKIP
'vps-harness/vps:debian-12-…'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from harness.config import HarnessConfig
from harness.engine import docker_client
from harness.errors import (
    BuildFailed,
    EngineUnavailable,
    HarnessError,
    ImageUnavailable,
    UnknownOsSpec,
)
from harness.images import Images, VpsImage
from harness.spec import SUPPORTED, OsSpec, parse_spec, parse_specs

try:
    __version__ = version("vps-harness")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "SUPPORTED",
    "BuildFailed",
    "EngineUnavailable",
    "HarnessConfig",
    "HarnessError",
    "ImageUnavailable",
    "Images",
    "OsSpec",
    "UnknownOsSpec",
    "VpsImage",
    "docker_client",
    "parse_spec",
    "parse_specs",
]
