"""How much privilege a Docker-in-Docker VPS gets: ``--privileged`` where the
engine grants it, else the smallest set measured to work, decided once per
engine and said once.

Some hosts withhold a capability (ours lacks CAP_SYS_RESOURCE), so runc
fails ``--privileged`` with "unable to apply caps: operation not permitted".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container, _create_container_args

#: The key of create options that go into HostConfig as they are (docker-py
#: has no argument for them); see :func:`create`.
HOST_CONFIG = "host_config_fields"

#: Docker's default capabilities plus these, without seccomp and AppArmor
#: profiles: systemd boots, and inner containers run and publish ports
#: (measured on Debian 12 and Ubuntu 16.04 VPSes). No masked or read-only
#: system paths (``--security-opt systempaths=unconfined``, which the CLI
#: sends as empty ``MaskedPaths``/``ReadonlyPaths``): /proc/sys is writable,
#: as ``--privileged`` leaves it. Engines from 26 on
#: write each inner container's ``net.ipv6.conf.eth0.disable_ipv6`` and fail
#: its start when they cannot ("failed to disable IPv6 on container's
#: interface"). As under ``--privileged``, the VPS's root can then also set
#: the host's own (not namespaced) sysctls: a DinD VPS is a disposable test
#: machine of a trusted suite, never a sandbox.
FALLBACK: dict[str, Any] = {
    "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    HOST_CONFIG: {"MaskedPaths": [], "ReadonlyPaths": []},
}
PRIVILEGED: dict[str, Any] = {"privileged": True}

_granted: dict[str, bool] = {}
_lock = threading.Lock()


def _engine_id(client: docker.DockerClient) -> str:
    return str(client.api.base_url)


def known(client: docker.DockerClient) -> bool | None:
    """Whether this engine grants ``--privileged``: True, False, or None when not yet tried."""
    with _lock:
        return _granted.get(_engine_id(client))


def options(client: docker.DockerClient) -> dict[str, Any]:
    """The privilege options to try next on this engine."""
    return FALLBACK if known(client) is False else PRIVILEGED


def is_refusal(error: BaseException) -> bool:
    """Whether a container start failed because the engine refused the privileges asked for."""
    text = str(error)
    return isinstance(error, docker.errors.APIError) and "unable to apply caps" in text


def record(client: docker.DockerClient, granted: bool, progress: Callable[[str], None]) -> None:
    """Remember the engine's answer; say it the first time."""
    with _lock:
        first = _engine_id(client) not in _granted
        _granted[_engine_id(client)] = granted
    if first and not granted:
        progress(
            "the engine refuses --privileged (unable to apply caps); Docker-in-Docker VPSes run with "
            "Docker's default capabilities plus SYS_ADMIN and NET_ADMIN, without seccomp and AppArmor profiles, "
            "with /proc/sys writable"
        )
    elif first:
        progress("Docker-in-Docker VPSes run --privileged")


def create(client: docker.DockerClient, image: str, options: dict[str, Any]) -> Container:
    """``client.containers.create(image, **options)``, with ``options[HOST_CONFIG]`` merged into its HostConfig."""
    options = dict(options)
    fields = options.pop(HOST_CONFIG, {})
    if not fields:
        return client.containers.create(image, **options)
    # docker-py's own translation of create options (what containers.create
    # does), then the fields it has no argument for.
    args = _create_container_args({**options, "image": image, "version": client.api._version})
    args["host_config"].update(fields)
    return client.containers.get(client.api.create_container(**args)["Id"])
