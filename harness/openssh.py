"""An engine host's OpenSSH client, its connections carried by OpenSSH masters.

An ``ssh://`` engine is reached as the docker CLI reaches it, ``ssh HOST
docker system dial-stdio`` (the user's ssh_config, agent and known_hosts),
and a VPS's sshd on that host's loopback through ``ssh -W``. Each would be
an SSH login (about 0.2 s here); through a master (``ControlMaster``), each
is a channel of it: one master per host for every process's hops, and one
per process for its API connections (sessions, of which sshd allows
``MaxSessions`` per connection).

>>> arguments("ssh://root@10.0.0.5:2222")
('-l', 'root', '-p', '2222', '10.0.0.5')
>>> command(arguments("ssh://10.0.0.5"), ["-W", "h:22"], shared=False)
['ssh', '-W', 'h:22', '--', '10.0.0.5']
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

import docker
import urllib3.connection
import urllib3.connectionpool
from docker.transport.basehttpadapter import BaseHTTPAdapter

#: Where the OpenSSH masters of the engine hosts keep their sockets (one per host, user and port).
HOPS = Path(tempfile.gettempdir()) / f"vps-harness-hop-{os.getuid()}"
#: Seconds an engine host's OpenSSH master outlives its last use.
PERSIST = 30


def arguments(url: str) -> tuple[str, ...]:
    """OpenSSH's arguments that reach the host of the ``ssh://`` engine ``url``, the host last, as docker-py's
    ``use_ssh_client`` gives them."""
    where = urlparse(url)
    login = ("-l", where.username) if where.username else ()
    port = ("-p", str(where.port)) if where.port else ()
    return (*login, *port, str(where.hostname))


def command(
    ssh: tuple[str, ...], options: list[str], remote: tuple[str, ...] = (), shared: bool = True, master: str = ""
) -> list[str]:
    """``ssh`` to the host ``ssh`` (:func:`arguments`) with ``options``, running ``remote`` there (if given);
    ``shared``: through a master of that host, its socket in :data:`HOPS` (gone :data:`PERSIST` s after its
    last use): one for every process of this user, or ``master`` names one more (a process's own).

    The socket is named by a short hash of ``ssh``, not OpenSSH's ``%C`` (40
    characters): a Unix socket's path has at most 104 bytes on macOS, whose
    ``$TMPDIR`` alone is about 50, and ssh refuses a longer ``ControlPath``.
    """
    through: list[str] = []
    if shared:
        HOPS.mkdir(mode=0o700, exist_ok=True)
        name = hashlib.sha256("\0".join(ssh).encode()).hexdigest()[:12] + (f"-{master}" if master else "")
        through = ["-o", "ControlMaster=auto", "-o", f"ControlPath={HOPS}/{name}", "-o", f"ControlPersist={PERSIST}"]
    return ["ssh", *through, *ssh[:-1], *options, "--", ssh[-1], *remote]


#: Runs ssh with SIGINT ignored (which it keeps): a Ctrl-C in the terminal stops the tests, not the
#: connections their clean-up goes over; ssh stays in the terminal's process group, so it can still ask.
_NO_SIGINT = ["sh", "-c", 'trap "" INT; exec "$@"', "ssh"]


class DialStdio(urllib3.connection.HTTPConnection):
    """One HTTP connection to an ssh engine: ``docker system dial-stdio`` on its host (as the docker CLI
    connects), over an OpenSSH master, on a socket pair, so the pool checks and reuses it as any socket."""

    def __init__(self, command: list[str], seconds: float | None) -> None:
        super().__init__("localhost", timeout=seconds)
        self.command = command
        self.seconds = seconds
        self.process: subprocess.Popen[bytes] | None = None

    def connect(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            end = theirs.fileno()
            self.process = subprocess.Popen([*_NO_SIGINT, *self.command], stdin=end, stdout=end)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        sock = _Channel(fileno=ours.detach())
        sock.settimeout(self.seconds)
        self.sock = sock

    def close(self) -> None:
        """Close this end; ssh ends when its other end has (an answer's body may still be read from it: http.client
        hands a connection that will close to its response), and is reaped then."""
        super().close()
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            threading.Thread(target=process.wait, name="vps-harness-dial-stdio", daemon=True).start()


class _Channel(socket.socket):
    """docker-py reads an ssh engine's hijacked streams (exec, attach) from its response file's ``channel``."""

    def makefile(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        file = super().makefile(*args, **kwargs)
        file.channel = self
        return file


class _DialStdioPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, command: list[str], seconds: float | None, maxsize: int) -> None:
        super().__init__("localhost", timeout=seconds, maxsize=maxsize)
        self.command = command
        self.seconds = seconds

    def _new_conn(self) -> DialStdio:
        return DialStdio(self.command, self.seconds)


class SharedSshAdapter(BaseHTTPAdapter):
    """An ssh engine's API for docker-py: pooled connections over an OpenSSH master.

    docker-py's own (``use_ssh_client``) makes a new pool for every request,
    so every API call is a new SSH login (docker/docker-py #2966, open; PRs
    #2970 and #3174 unmerged): about 0.2 s each here, seven of them per VPS
    start. Here a connection is kept and reused as over a Unix socket, and a
    new one is a session of this process's master of that host: one login per
    process. Each API connection is a session, and sshd takes
    ``MaxSessions`` (10 by default) per connection, so each process has a
    master of its own (the ``ssh -W`` hops, channels that limit does not
    count, share one for every process).
    """

    def __init__(self, ssh_host: str, seconds: float | None, max_pool_size: int = 10) -> None:
        super().__init__()
        #: What docker-py's adapter names its engine by (``engine_key``, ``engine_url``): ``[USER@]HOST[:PORT]``.
        self.ssh_host = ssh_host
        api = f"api-{os.getpid()}"
        dial = command(arguments(f"ssh://{ssh_host}"), [], ("docker", "system", "dial-stdio"), master=api)
        self.pool = _DialStdioPool(dial, seconds, max_pool_size)

    def get_connection(self, url, proxies=None):  # type: ignore[no-untyped-def]
        return self.pool

    def request_url(self, request, proxies):  # type: ignore[no-untyped-def]
        return request.path_url

    def close(self) -> None:
        super().close()
        self.pool.close()


def share_master(client: docker.DockerClient) -> docker.DockerClient:
    """``client``, its ssh engine (if it has one) reached through :class:`SharedSshAdapter`."""
    base = str(client.api.base_url)
    if not base.startswith("http+docker://ssh"):
        return client
    own = client.api.get_adapter(base)
    ssh_host = str(getattr(own, "ssh_host", "")).removeprefix("ssh://")
    adapter = SharedSshAdapter(ssh_host, getattr(own, "timeout", None), getattr(own, "max_pool_size", 10))
    own.close()
    client.api.mount("http+docker://ssh", adapter)
    client.api._custom_adapter = adapter  # what docker-py closes with the client
    return client
