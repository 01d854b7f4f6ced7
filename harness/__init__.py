"""vps-harness: disposable mock VPS containers for testing server provisioning.

The public API is what ``__all__`` names, importable from here. Each name is
imported when first used, so ``import harness`` (and a pytest run that
starts no VPS) does not load Docker's or paramiko's client.

>>> from harness import Images, docker_client, parse_spec
>>> Images(docker_client()).vps(parse_spec("debian:12")).tag  # doctest: +SKIP
'vps-harness/vps:debian-12-…'
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config import HarnessConfig
    from harness.containers import VpsContainer
    from harness.engine import docker_client
    from harness.errors import (
        BuildFailed,
        CommandFailed,
        CommandTimeout,
        ConfigError,
        EngineUnavailable,
        HarnessError,
        HostKeyMismatch,
        ImageUnavailable,
        InnerEngineUnsupported,
        SeveralFailed,
        SnapshotRefused,
        UnknownOsSpec,
        UsageError,
        VpsNotReady,
    )
    from harness.fleet import Fleet, at_once
    from harness.images import KEY_LABEL, Images, InnerImage, VpsImage, recipe_key
    from harness.locks import made_once
    from harness.readiness import inner_engine_unsupported
    from harness.result import CommandResult
    from harness.route import Route
    from harness.snapshot import Snapshot
    from harness.spec import SUPPORTED, OsSpec, parse_spec, parse_specs
    from harness.ssh import KeyPair, SshSession
    from harness.vps import Vps
    from harness.waiting import wait_for
    from harness.want import DockerMode, Init, VpsWant

try:
    __version__ = version("vps-harness")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

#: Each public name and the module it lives in.
_HOMES = {
    "HarnessConfig": "harness.config",
    "VpsContainer": "harness.containers",
    "docker_client": "harness.engine",
    **dict.fromkeys(
        (
            "BuildFailed",
            "CommandFailed",
            "CommandTimeout",
            "ConfigError",
            "EngineUnavailable",
            "HarnessError",
            "HostKeyMismatch",
            "ImageUnavailable",
            "InnerEngineUnsupported",
            "SeveralFailed",
            "SnapshotRefused",
            "UnknownOsSpec",
            "UsageError",
            "VpsNotReady",
        ),
        "harness.errors",
    ),
    "Fleet": "harness.fleet",
    "Images": "harness.images",
    "InnerImage": "harness.images",
    "VpsImage": "harness.images",
    "CommandResult": "harness.result",
    "Route": "harness.route",
    "Snapshot": "harness.snapshot",
    "SUPPORTED": "harness.spec",
    "OsSpec": "harness.spec",
    "parse_spec": "harness.spec",
    "parse_specs": "harness.spec",
    "KeyPair": "harness.ssh",
    "Vps": "harness.vps",
    "DockerMode": "harness.want",
    "Init": "harness.want",
    "VpsWant": "harness.want",
    # What a flow is built with, besides the VPSes (harness.flows uses these and nothing else of the core).
    "at_once": "harness.fleet",
    "wait_for": "harness.waiting",
    "SshSession": "harness.ssh",
    "inner_engine_unsupported": "harness.readiness",
    "made_once": "harness.locks",
    "recipe_key": "harness.images",
    "KEY_LABEL": "harness.images",
}

#: The same names as ``_HOMES`` (a test checks), spelled out for linters and readers.
__all__ = [
    "BuildFailed",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConfigError",
    "DockerMode",
    "EngineUnavailable",
    "Fleet",
    "HarnessConfig",
    "HarnessError",
    "HostKeyMismatch",
    "ImageUnavailable",
    "Images",
    "Init",
    "InnerEngineUnsupported",
    "InnerImage",
    "KEY_LABEL",
    "KeyPair",
    "OsSpec",
    "Route",
    "SUPPORTED",
    "SeveralFailed",
    "Snapshot",
    "SnapshotRefused",
    "SshSession",
    "UnknownOsSpec",
    "UsageError",
    "Vps",
    "VpsContainer",
    "VpsImage",
    "VpsNotReady",
    "VpsWant",
    "at_once",
    "docker_client",
    "inner_engine_unsupported",
    "made_once",
    "parse_spec",
    "parse_specs",
    "recipe_key",
    "wait_for",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
