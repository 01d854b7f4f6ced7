"""How a VPS is reached: one object, used by the harness's own SSH, the ssh
line of a report, known_hosts, ssh_config, testinfra and keep-failed alike.

A VPS is reached at an address and port: ``127.0.0.1`` and its published
port, or port 22 on an address behind a bastion (after ``bastion.jump_to``),
or on the engine's bridge when nothing is published (on its first network,
for a VPS off that bridge). Outside tools get the
same route as OpenSSH options or a ``Host`` block.

>>> r = Route("vps-web-1", "127.0.0.1", 32771, "vps", Path("/k/id"), Path("/k/known_hosts-vps-web-1"))
>>> r.known_hosts_name
'[127.0.0.1]:32771'
>>> print(r.ssh_config())
Host vps-web-1
    HostName 127.0.0.1
    Port 32771
    User vps
    IdentityFile /k/id
    IdentitiesOnly yes
    UserKnownHostsFile /k/known_hosts-vps-web-1
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
<BLANKLINE>
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Route:
    """Where a VPS's sshd answers, as whom, with which key and pinned host key, through which bastion."""

    #: The ``Host`` alias: unique on the machine (tools key connection caches by it).
    alias: str
    #: The address (or name) sshd answers at, as OpenSSH's ``HostName``.
    address: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    #: The route of the bastion this one goes through, if any.
    bastion: Route | None = None
    #: The ``ProxyCommand`` of a hop outside the harness (an ``ssh://`` engine's host, see
    #: :class:`~harness.remote.Reach`), for a route with no bastion; OpenSSH's ``%h:%p`` in it.
    proxy: str = ""

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this endpoint (``[host]:port`` unless port 22)."""
        return known_hosts_name(self.address, self.port)

    @property
    def target(self) -> str:
        return f"{self.user}@{self.address}"

    def options(self, nested: bool = False) -> list[str]:
        """OpenSSH options that reach this endpoint with the pinned key, hermetically.

        ``nested``: for an ssh that itself runs as a ProxyCommand. Its own
        ProxyCommand's ``%h:%p`` must then reach it unexpanded (``%%``), or the
        outer ssh would put the final target there and skip this hop.
        """
        options = [
            "-i",
            str(self.key_file),
            "-p",
            str(self.port),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
        proxy = self._proxy()
        if proxy:
            options += ["-o", "ProxyCommand=" + (proxy.replace("%", "%%") if nested else proxy)]
        return options

    def _proxy(self) -> str:
        return self.bastion.proxy_command() if self.bastion is not None else self.proxy

    def proxy_command(self) -> str:
        """``ssh -W`` through this endpoint: the ``ProxyCommand`` of the routes behind it."""
        return shlex.join(["ssh", "-F", "/dev/null", *self.options(nested=True), "-W", "%h:%p", self.target])

    def ssh_command(self) -> str:
        """A pasteable OpenSSH line."""
        return shlex.join(["ssh", *self.options(), self.target])

    def ssh_config(self) -> str:
        """An OpenSSH ``Host`` block for ``ssh -F FILE ALIAS`` (and Ansible, rsync -e, scp -F)."""
        lines = [
            f"Host {self.alias}",
            f"    HostName {self.address}",
            f"    Port {self.port}",
            f"    User {self.user}",
            f"    IdentityFile {_config_value(str(self.key_file))}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {_config_value(str(self.known_hosts))}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
        ]
        if self._proxy():
            lines.append(f"    ProxyCommand {self._proxy()}")
        return "\n".join(lines) + "\n"


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts and OpenSSH name an endpoint: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def _config_value(value: str) -> str:
    """A path as ssh_config reads it: double-quoted when it has blanks."""
    return f'"{value}"' if any(c.isspace() for c in value) else value
