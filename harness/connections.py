"""How the harness reaches a server: its route now, its persistent SSH connections, its port forwards.

Its input is narrow: the container (for its published port), its
:class:`~harness.cables.Cables` (for its addresses), the identity that
logs in, the host key it pins, how this machine reaches its engine's
published ports (:class:`~harness.remote.Reach`), and the bastion it goes
through, if any.
"""

from __future__ import annotations

from typing import Any

from docker.models.containers import Container

from harness.cables import Cables
from harness.errors import UsageError
from harness.identity import Identity
from harness.remote import Reach
from harness.route import Route, known_hosts_name
from harness.ssh import KeyPair, SshSession
from harness.tunnel import PortForward


class Connections:
    """The ways in to server ``name`` as ``user``: :attr:`route`, :meth:`session`, :meth:`forward`."""

    def __init__(
        self, container: Container, cables: Cables, identity: Identity, host_key: str, user: str, reach: Reach
    ) -> None:
        """``reach``: how this machine reaches its engine's published ports (and networks)."""
        self.container = container
        self.cables = cables
        self.identity = identity
        self.host_key = host_key
        self.user = user
        self.reach = reach
        #: Whether its sshd has a published port (see :meth:`Reach.publishes`).
        self.published = bool((container.attrs.get("HostConfig", {}).get("PortBindings") or {}).get("22/tcp"))
        #: The bastion's connections this server is reached through (``ssh -J``), if any.
        self.via: Connections | None = None
        self._sessions: dict[str, SshSession] = {}
        self._forwards: dict[tuple[str, int], PortForward] = {}

    @property
    def name(self) -> str:
        return self.cables.name

    @property
    def alias(self) -> str:
        """Its container's name: unique on this machine, the ``Host`` alias of its ssh_config."""
        return str(self.container.name)

    @property
    def route(self) -> Route:
        """How its sshd is reached now; its known_hosts file is written for that address as a side effect."""
        bastion = self.via.route if self.via is not None else None
        proxy = ""
        if self.via is not None:
            host, port = self.via.cables.shared_ip(self.cables), 22
        elif self.published:
            host, port, proxy = self.reach.address, self.ssh_port, self.reach.proxy_command()
        else:  # the engine's bridge (else its first network): this machine's routes, or an ssh engine host's
            host, port, proxy = self.cables.bridge_ip(), 22, self.reach.proxy_command()
        known_hosts = self.identity.known_hosts_file(self.alias, [known_hosts_name(host, port)], self.host_key)
        return Route(self.alias, host, port, self.user, self.identity.key_file, known_hosts, bastion, proxy)

    @property
    def ssh_port(self) -> int:
        """The engine host's port that reaches its sshd, when it is published."""
        self.container.reload()
        bindings = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp") or []
        if not bindings:
            raise UsageError(
                f"VPS {self.name} has no published SSH port (publish_ssh=False): reach it with bastion.jump_to(vps), "
                "and use vps.route for its address"
            )
        return int(bindings[0]["HostPort"])

    def session(self, user: str = "") -> SshSession:
        """The persistent SSH connection as ``user`` (default: :attr:`user`) along :attr:`route`, made on first use."""
        user = user or self.user
        session = self._sessions.get(user)
        if session is None:
            session = self.login(user, self.identity.key)
            self._sessions[user] = session
        return session

    def login(self, user: str, key: KeyPair) -> SshSession:
        """A new SSH connection (the caller closes it) along :attr:`route` as ``user`` with ``key``: another
        identity than the harness's (a Jenkins master's), through the same bastion or engine host."""
        route = self.route
        via = self.via.tunnel if self.via is not None else (self.reach.channel if self.reach.ssh else None)
        return SshSession(route.address, route.port, user, key, self.host_key, where=f"VPS {self.name}", via=via)

    def tunnel(self, host: str, port: int) -> Any:
        """A ``direct-tcpip`` channel from the server to ``host:port``, over its connection as :attr:`user`."""
        transport = self.session(self.user).transport()
        return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))

    def forward(self, port: int, host: str) -> int:
        """A port on this machine's 127.0.0.1 that reaches ``host:port`` as the server sees it; one per target."""
        forward = self._forwards.get((host, port))
        if forward is None:
            forward = PortForward(lambda: self.tunnel(host, port), f"VPS {self.name} {host}:{port}")
            self._forwards[host, port] = forward
        return forward.port

    def close(self) -> None:
        """Close its SSH connections (the next use connects along the route as it is then)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def close_forwards(self) -> None:
        """Close its port forwards."""
        forwards, self._forwards = list(self._forwards.values()), {}
        for forward in forwards:
            forward.close()
