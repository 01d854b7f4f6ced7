"""The Docker engine: one way to reach it, one sentence when it cannot be."""

from __future__ import annotations

import os
import threading

import docker
import docker.errors
import requests.exceptions

from harness.config import HarnessConfig
from harness.errors import EngineUnavailable


def docker_client(config: HarnessConfig | None = None) -> docker.DockerClient:
    """A docker-py client that has answered a ping.

    Reads ``DOCKER_HOST`` and friends as the ``docker`` CLI does.

    >>> client = docker_client()  # doctest: +SKIP
    """
    config = config or HarnessConfig.from_env()
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=config.docker_timeout)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise EngineUnavailable(
            f"no Docker engine answers at {where} ({_first_line(e)}); "
            "start one (scripts/setup-host does it on Debian/Ubuntu as root) and try again"
        ) from e
    return client


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


_cgroup_versions: dict[str, int] = {}
_lock = threading.Lock()


def cgroup_version(client: docker.DockerClient) -> int:
    """The cgroup version the engine runs its containers on (``docker info``'s CgroupVersion), asked once per engine.

    Engines before 20.10 do not say; they ran on cgroup v1 only.
    """
    where = str(client.api.base_url)
    with _lock:
        known = _cgroup_versions.get(where)
    if known is None:
        known = 2 if str(client.info().get("CgroupVersion", "1")) == "2" else 1
        with _lock:
            _cgroup_versions[where] = known
    return known
