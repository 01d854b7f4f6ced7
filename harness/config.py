"""Settings read from the environment, in one place, once.

Every knob has a default that works on a developer's laptop and in CI; the
environment overrides it. The pytest plugin layers its options on top.

>>> cfg = HarnessConfig.from_env({"VPS_HARNESS_PULL": "never"})
>>> cfg.pull
False
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a yes/no value; use 1 or 0")


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) == 0:
        raise ConfigError(
            f"{name}={env[name]!r} is not a number of seconds; use a whole number above 0, e.g. {default}"
        )
    return int(value)


def _package_cache(env: Mapping[str, str]) -> str:
    value = env.get("VPS_HARNESS_PACKAGE_CACHE", "").strip().lower()
    if value == "offline":
        return value
    try:
        return "on" if _flag(env, "VPS_HARNESS_PACKAGE_CACHE", True) else "off"
    except ConfigError:
        raise ConfigError(
            f"VPS_HARNESS_PACKAGE_CACHE={env['VPS_HARNESS_PACKAGE_CACHE']!r} is not 1, 0 or offline"
        ) from None


#: The URL schemes of an engine vps-harness can drive.
ENGINE_SCHEMES = ("unix", "tcp", "ssh")


def engine_url(value: str, where: str) -> str:
    """``value`` if it is an engine URL the harness can drive, else a :class:`ConfigError` naming ``where``
    it came from (``VPS_HARNESS_ENGINES``, ``--vps-engine``).

    >>> engine_url("tcp://10.0.0.5:2375", "--vps-engine")
    'tcp://10.0.0.5:2375'
    >>> engine_url("10.0.0.5", "--vps-engine")
    Traceback (most recent call last):
    ...
    harness.errors.ConfigError: --vps-engine '10.0.0.5' is not an engine URL; use unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]
    """
    scheme, sep, rest = value.strip().partition("://")
    if not sep or scheme not in ENGINE_SCHEMES or not rest:
        raise ConfigError(
            f"{where} {value!r} is not an engine URL; use unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]"
        )
    return value.strip()


def _engines(env: Mapping[str, str]) -> tuple[str, ...]:
    listed = [part for part in env.get("VPS_HARNESS_ENGINES", "").split(",") if part.strip()]
    return tuple(engine_url(part, "VPS_HARNESS_ENGINES entry") for part in listed)


@dataclass(frozen=True)
class HarnessConfig:
    """What vps-harness needs to know about where it runs.

    ``cache_dir``: locks and bootstrap work (``VPS_HARNESS_CACHE_DIR``,
    default ``$XDG_CACHE_HOME/vps-harness``).
    ``pull``: whether to try ``docker pull`` for a base image
    (``VPS_HARNESS_PULL``, default yes).
    ``verify_bootstrap``: whether debootstrap checks archive signatures
    (``VPS_HARNESS_INSECURE_BOOTSTRAP=1`` turns it off, with a warning).
    ``docker_timeout``: seconds a Docker API call may take.
    ``ci``: running in CI (``CI`` set): a missing engine fails tests instead of skipping them.
    ``package_cache``: ``on`` (default), ``off`` or ``offline``: the machine's package
    cache for apt (``VPS_HARNESS_PACKAGE_CACHE``; see :mod:`harness.cache`).
    ``host``: the address this machine reaches a ``tcp://`` engine's published ports at
    (``VPS_HARNESS_HOST``, default the engine URL's host; as testcontainers' ``TESTCONTAINERS_HOST_OVERRIDE``).
    ``engines``: the engines a run spreads its xdist workers over (``VPS_HARNESS_ENGINES``, comma-separated
    URLs; default none: the one engine ``DOCKER_HOST`` or the docker context names; see :mod:`harness.remote`).
    """

    cache_dir: Path
    pull: bool = True
    verify_bootstrap: bool = True
    docker_timeout: int = 600
    ci: bool = False
    package_cache: str = "on"
    host: str = ""
    engines: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HarnessConfig:
        env = os.environ if env is None else env
        cache_root = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return cls(
            cache_dir=Path(env.get("VPS_HARNESS_CACHE_DIR") or Path(cache_root) / "vps-harness"),
            pull=_flag(env, "VPS_HARNESS_PULL", True),
            verify_bootstrap=not _flag(env, "VPS_HARNESS_INSECURE_BOOTSTRAP", False),
            docker_timeout=_seconds(env, "VPS_HARNESS_DOCKER_TIMEOUT", 600),
            ci=bool(env.get("CI")),
            package_cache=_package_cache(env),
            host=env.get("VPS_HARNESS_HOST", "").strip(),
            engines=_engines(env),
        )

    @property
    def lock_dir(self) -> Path:
        return self.cache_dir / "locks"

    @property
    def world_dir(self) -> Path:
        """What a snapshotted world keeps besides its images (its keys, passwords, tokens): files of 0600
        in a folder of 0700, never image labels (see :mod:`harness.flows.snapshots`)."""
        return self.cache_dir / "worlds"

    @property
    def cli_dir(self) -> Path:
        """The key and state of VPSes made by ``vps-harness up``."""
        return self.cache_dir / "cli"
