"""Where the engine is, and how this machine reaches what a VPS publishes on it.

A **local** engine (``unix://``, the default) publishes a VPS's sshd on its
host's 127.0.0.1, which is this machine's. A **tcp** engine
(``tcp://HOST:2375``, or ``:2376`` with ``DOCKER_TLS_VERIFY`` and
``DOCKER_CERT_PATH``) publishes it on every address of its host, and this
machine reaches it at the URL's host, or at ``VPS_HARNESS_HOST`` when that
is set (testcontainers' ``TESTCONTAINERS_HOST_OVERRIDE``); that sshd lets in
only the key the harness made for the run. An **ssh** engine
(``ssh://[USER@]HOST[:PORT]``) publishes it on its host's 127.0.0.1 only,
and the harness reaches it through the engine host's own SSH: ``ssh -W``, a
``direct-tcpip`` channel of the OpenSSH client the docker CLI uses for that
host (its ``~/.ssh/config``, agent and known_hosts), so nothing is
published beyond the engine host's loopback. Outside tools get the same
hop as a ``ProxyCommand`` (see :class:`~harness.route.Route`).

Only a local engine can be given a file of this machine (a bind mount): on
any other, what a VPS needs from here goes in with its container
(:mod:`harness.launch`), its images are copied from this machine's engine
when that has them (:mod:`harness.images`), and the package cache, whose
address this machine must reach, is not used.

>>> parse("unix:///var/run/docker.sock").local
True
>>> tcp = parse("tcp://10.0.0.5:2376")
>>> tcp.address, tcp.publish_on
('10.0.0.5', '0.0.0.0')
>>> parse("tcp://10.0.0.5:2375", host="lb.example.test").address
'lb.example.test'
>>> print(parse("ssh://root@10.0.0.5:2222").proxy_command())
ssh -l root -p 2222 -W %h:%p -- 10.0.0.5
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import shlex
import socket
import subprocess
import threading
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

import docker
import paramiko

from harness import openssh
from harness.config import HarnessConfig
from harness.engine import engine_key

Kind = Literal["local", "tcp", "ssh"]


@dataclass(frozen=True)
class Reach:
    """How this machine reaches a port a VPS publishes on one engine."""

    kind: Kind
    #: The engine's URL, as messages name it.
    url: str = "unix:///var/run/docker.sock"
    #: Where a published port is reached from here (for ``ssh``: on the engine host, through its SSH).
    address: str = "127.0.0.1"
    #: ``ssh`` engines: OpenSSH's arguments that reach the engine host, the host last (``-l root -p 2222
    #: 10.0.0.5``), as docker-py's ``use_ssh_client`` gives them for its ``docker system dial-stdio``.
    ssh: tuple[str, ...] = ()

    @property
    def local(self) -> bool:
        """Whether the engine runs on this machine (and may bind-mount its files)."""
        return self.kind == "local"

    @property
    def publish_on(self) -> str:
        """The engine host's address a VPS's sshd is published on: all of a tcp engine's (but one reached
        on this machine's loopback), else loopback."""
        return "0.0.0.0" if self.kind == "tcp" and not _loopback(self.address) else "127.0.0.1"

    def publishes(self, wanted: bool) -> bool:
        """Whether a VPS's sshd gets a published port: when ``wanted`` (``publish_ssh``), and always on a tcp
        engine, where this machine has no other way in (the engine's networks are not routed to it; on
        an ssh engine the engine host's SSH reaches them). Its networks and who on them reaches it are
        the same either way."""
        return wanted or self.kind == "tcp"

    def proxy_command(self, host: str = "%h", port: str = "%p", shared: bool = False) -> str:
        """The OpenSSH ``ProxyCommand`` through the engine host (``ssh`` engines; else empty).

        ``shared``: through one OpenSSH master connection per engine host (``ControlMaster``, its
        socket in :data:`openssh.HOPS`, gone :data:`openssh.PERSIST` seconds after its last use), as the
        harness's own connections go: a readiness probe every few milliseconds must not be an SSH login each.
        """
        if not self.ssh:
            return ""
        return shlex.join(openssh.command(self.ssh, ["-W", f"{host}:{port}"], shared=shared))

    def channel(self, host: str, port: int) -> Hop:
        """A byte stream to ``host:port`` as the engine host sees it, carried by its SSH (``ssh -W``)."""
        return Hop(self.proxy_command(host, str(port), shared=True))


class Hop(paramiko.ProxyCommand):
    """``ssh -W`` as paramiko's socket: what has arrived (not a full buffer), ``b""`` at its end, the ssh
    client's own words when it fails, and no process left behind."""

    def recv(self, size: int) -> bytes:
        out = self.process.stdout
        if out is None or out.closed:  # closed here: paramiko's reader thread may still ask once more
            return b""
        try:
            ready, _, _ = select.select([out], [], [], self.timeout)
            if not ready:
                raise socket.timeout()
            data = os.read(out.fileno(), size)
        except (ValueError, OSError) as e:  # closed while waiting
            if isinstance(e, socket.timeout):
                raise
            return b""
        if not data:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
            if self.process.returncode not in (None, 0):
                said = self.process.stderr.read().decode(errors="replace").strip()  # type: ignore[union-attr]
                raise paramiko.ProxyCommandFailure(shlex.join(self.cmd), said or f"exit {self.process.returncode}")
        return data

    def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def parse(url: str, host: str = "") -> Reach:
    """The :class:`Reach` of the engine at ``url`` (a ``DOCKER_HOST`` value); ``host`` overrides a tcp
    engine's address (``VPS_HARNESS_HOST``)."""
    where = urlparse(url)
    if where.scheme in ("tcp", "http", "https"):
        return Reach("tcp", url, host or where.hostname or "127.0.0.1")
    if where.scheme == "ssh":
        return Reach("ssh", url, "127.0.0.1", openssh.arguments(url))
    return Reach("local", url)


_known: dict[str, Reach] = {}
_lock = threading.Lock()


def reach(client: docker.DockerClient, config: HarnessConfig | None = None) -> Reach:
    """How this machine reaches what a VPS publishes on ``client``'s engine (asked once per engine)."""
    key = engine_key(client)
    with _lock:
        if key not in _known:
            _known[key] = parse(engine_url(client), (config or HarnessConfig.from_env()).host)
        return _known[key]


def engine_url(client: docker.DockerClient) -> str:
    """The URL of ``client``'s engine, as ``DOCKER_HOST`` would name it."""
    base = str(client.api.base_url)
    if base.startswith("http+docker://ssh"):
        return "ssh://" + str(getattr(client.api.get_adapter(base), "ssh_host", "")).removeprefix("ssh://")
    if base.startswith(("http://", "https://")):
        return "tcp://" + urlparse(base).netloc
    return "unix://" + str(getattr(client.api.get_adapter(base), "socket_path", ""))
