"""The Docker engine: one way to reach it, one sentence when it cannot be."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import docker
import docker.constants
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from harness.config import HarnessConfig
from harness.errors import EngineUnavailable, UsageError
from harness.openssh import share_master


def docker_client(config: HarnessConfig | None = None, url: str = "") -> docker.DockerClient:
    """A docker-py client that has answered a ping.

    Its engine is ``url`` if given, else what the ``docker`` CLI would use:
    ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` for
    ``tcp://`` over TLS), else the current docker context (``DOCKER_CONTEXT``,
    or ``currentContext`` in ``~/.docker/config.json``), else the local
    socket. ``ssh://`` engines are reached with the OpenSSH client, as the
    CLI does (docker-py's ``use_ssh_client``; testcontainers-python #993), so
    the user's ssh_config, agent and known_hosts apply; its connections are
    kept, as sessions of one OpenSSH master per process
    (:class:`~harness.openssh.SharedSshAdapter`).

    >>> client = docker_client()  # doctest: +SKIP
    """
    config = config or HarnessConfig.from_env()
    environment = {**os.environ, "DOCKER_HOST": url} if url else dict(os.environ)
    where = environment.get("DOCKER_HOST") or _context_host(environment) or "unix:///var/run/docker.sock"
    try:
        client = share_master(
            _own_ca_client(config, environment)
            or docker.from_env(timeout=config.docker_timeout, environment=environment, use_ssh_client=True)
        )
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise EngineUnavailable(
            f"no Docker engine answers at {where} ({_first_line(e)}); "
            + (
                "start one (scripts/setup-host does it on Debian/Ubuntu as root) and try again"
                if where.startswith("unix://")
                else "check that its host is up and this machine may reach it (`docker -H URL info` must answer)"
            )
        ) from e
    return client


def _own_ca_client(config: HarnessConfig, environment: dict[str, str]) -> docker.DockerClient | None:
    """A client of a TLS engine verified against its own CA (``DOCKER_CERT_PATH``'s ca.pem), else None.

    requests verifies against ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``)
    when either is set, over the CA docker-py gives its session (psf/requests
    #3829), so the engine's certificate "fails" on a machine that sets them
    (this one does). Such a client ignores the environment's requests settings,
    as the docker CLI does: it is built for the server's API version, asked
    with environment settings off.
    """
    options = {"timeout": config.docker_timeout, "environment": environment, "use_ssh_client": True}
    client = docker.from_env(version=docker.constants.MINIMUM_DOCKER_API_VERSION, **options)
    if not isinstance(client.api.verify, str):
        client.close()
        return None
    client.api.trust_env = False
    try:
        version = str(client.version()["ApiVersion"])
    finally:
        client.close()
    client = docker.from_env(version=version, **options)
    client.api.trust_env = False
    return client


def _context_host(environment: dict[str, str]) -> str:
    """The engine URL of the current docker context, when it names one."""
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_context(environment.get("DOCKER_CONTEXT"))
    except (docker.errors.DockerException, OSError, ValueError):
        return ""
    return str(getattr(context, "Host", "") or "") if context is not None else ""


#: The engine's default bridge network, where a container is unless told otherwise.
DEFAULT_BRIDGE = "bridge"


def bridge_address(container: Container, networks: Sequence[str] = ()) -> str:
    """A container's address on the engine's default bridge (else on the first of ``networks`` it is
    on, else on its first network), as of its last reload.

    Per network: Docker 29 no longer gives the top-level ``NetworkSettings.IPAddress``
    (deprecated since API 1.21; measured with Docker 29.1 inside an ubuntu:24.04 VPS).
    """
    attached = container.attrs["NetworkSettings"]["Networks"] or {}
    if not attached:
        raise UsageError(f"container {container.name} is on no network: connect it to one (vps.connect(network))")
    for name in (DEFAULT_BRIDGE, *networks):
        if (attached.get(name) or {}).get("IPAddress"):
            return str(attached[name]["IPAddress"])
    return str(next(iter(attached.values()))["IPAddress"])


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


@dataclass(frozen=True)
class EngineFacts:
    """What the harness must know of an engine to choose a VPS's run options (``docker info``)."""

    #: The cgroup version its containers run on.
    cgroup_version: int
    #: Its release (``ServerVersion``), as numbers: (20, 10, 24); () when it does not say one.
    version: tuple[int, ...]
    #: The engine's own ID (``docker info``'s ``ID``): two clients with the same one drive the same engine.
    id: str = ""
    #: Its machine's architecture (``x86_64``, ``aarch64``): an image of one runs on the other only emulated.
    architecture: str = ""

    @property
    def all_caps_are_its_own(self) -> bool:
        """Whether ``--cap-add ALL`` (and ``--privileged``) means the capabilities the engine holds.

        From Docker 23 on (moby PR #42933, ``oci/caps`` ``initCaps``) ALL is the
        daemon's own effective set, and naming a capability outside that set,
        even in ``--cap-drop``, is refused ("capability not supported by your
        kernel or not available in the current environment"), as Docker 26
        and 29 inside a VPS refuse CAP_SYS_RESOURCE. Before, ALL was every
        capability the kernel knows, and runc failed to apply the ones the host
        withholds ("unable to apply caps"). An engine that names no release
        (a development build) is taken as a new one; Podman's API names its own
        (4.x, 5.x), read as older than 23: untested here.
        """
        return not self.version or self.version[0] >= 23


_facts: dict[str, EngineFacts] = {}
_lock = threading.Lock()


def engine_key(client: docker.DockerClient) -> str:
    """Which engine ``client`` talks to, for what is asked once per engine: its URL, and its socket's path or
    its SSH host (docker-py names every unix socket ``http+docker://localhost``, every ssh engine
    ``http+docker://ssh``)."""
    where = str(client.api.base_url)
    adapter = client.api.get_adapter(where) if where.startswith("http+docker://") else None
    return f"{where} {getattr(adapter, 'socket_path', '') or getattr(adapter, 'ssh_host', '')}".strip()


def facts(client: docker.DockerClient) -> EngineFacts:
    """The engine's :class:`EngineFacts`, asked once per engine (its ``docker info``).

    Engines before 20.10 do not say their cgroup version; they ran on cgroup v1 only.
    """
    where = engine_key(client)
    with _lock:
        known = _facts.get(where)
    if known is None:
        info = client.info()
        release = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(info.get("ServerVersion", "")))
        known = EngineFacts(
            cgroup_version=2 if str(info.get("CgroupVersion", "1")) == "2" else 1,
            version=tuple(int(part) for part in release.groups() if part is not None) if release else (),
            id=str(info.get("ID", "")),
            architecture=str(info.get("Architecture", "")),
        )
        with _lock:
            _facts[where] = known
    return known


def cgroup_version(client: docker.DockerClient) -> int:
    """The cgroup version the engine runs its containers on (``docker info``'s CgroupVersion), asked once."""
    return facts(client).cgroup_version
