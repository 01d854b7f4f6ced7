"""pytest-testinfra over a VPS's own connection.

testinfra's paramiko backend opens its own connection, accepts any host key
(``WarningPolicy``) and cannot go through a bastion's channel. This backend
is that class with one difference: its ``client`` is the harness's pinned
connection along the VPS's route (a published port, or a bastion's
``direct-tcpip`` channel), so ``vps.host`` works for every VPS and costs no
second login.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import paramiko
import testinfra.host
from testinfra.backend.paramiko import ParamikoBackend

if TYPE_CHECKING:
    from harness.server import Reached


class VpsBackend(ParamikoBackend):
    """testinfra's paramiko backend on the harness's connection to ``vps``."""

    def __init__(self, vps: Reached) -> None:
        route = vps.route
        super().__init__(f"paramiko://{route.user}@{route.address}:{route.port}", sudo=False)
        self.vps = vps

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        # testinfra deletes this attribute to reconnect once after a dropped
        # connection; the next access then reconnects through the harness.
        return self.vps.connections.session().connect()


def testinfra_host(vps: Reached) -> Any:
    """A pytest-testinfra ``Host`` for ``vps``."""
    return testinfra.host.Host(VpsBackend(vps))
