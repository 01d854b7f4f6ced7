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

#: Docker's default capabilities plus these, without seccomp and AppArmor
#: profiles: systemd boots, and inner containers run and publish ports
#: (measured on Debian 12 and Ubuntu 16.04 VPSes).
FALLBACK: dict[str, Any] = {
    "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
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
            "Docker's default capabilities plus SYS_ADMIN and NET_ADMIN, without seccomp and AppArmor profiles"
        )
    elif first:
        progress("Docker-in-Docker VPSes run --privileged")
