"""What each part beside :class:`~harness.vps.Vps` needs of a server, as narrow protocols.

:mod:`harness.readiness`, :mod:`harness.report`, :mod:`harness.dind`,
:mod:`harness.infra` and :mod:`harness.snapshot` take one of these, not the
facade: each names the few things its part reads or calls, and none of
them imports :mod:`harness.vps` (which imports them all), so the house has
no import circle. A :class:`~harness.vps.Vps` is each of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

    from harness.connections import Connections
    from harness.result import CommandResult
    from harness.route import Route
    from harness.spec import OsSpec
    from harness.want import DockerMode, Init


class Console(Protocol):
    """A server as a container: its name and OS, what runs as PID 1, and its engine's client."""

    @property
    def name(self) -> str: ...
    @property
    def os(self) -> OsSpec: ...
    @property
    def init(self) -> Init: ...
    @property
    def docker(self) -> DockerMode: ...
    @property
    def container(self) -> Container: ...
    @property
    def client(self) -> DockerClient: ...


class Shell(Console, Protocol):
    """A server reached over the harness's own SSH connection (:mod:`harness.readiness`, :mod:`harness.report`)."""

    @property
    def connections(self) -> Connections: ...
    def close(self) -> None: ...
    def logs(self, tail: int = ...) -> str: ...
    def journal(self, lines: int = ..., units: tuple[str, ...] = ...) -> str: ...


class Reported(Shell, Protocol):
    """A server as a failed test's report shows it (:mod:`harness.report`), besides its transcript."""

    @property
    def failed_units(self) -> str: ...
    def ssh_command(self) -> str: ...


class Commands(Console, Protocol):
    """A server that runs shell commands and gives its files back (:mod:`harness.dind`, :mod:`harness.snapshot`)."""

    @property
    def host_key(self) -> str: ...
    def run(
        self,
        command: str,
        *,
        check: bool = ...,
        timeout: float = ...,
        sudo: bool = ...,
        user: str | None = ...,
        env: dict[str, str] | None = ...,
        stdin: Iterable[bytes] = ...,
        secret: Iterable[str] = ...,
    ) -> CommandResult: ...
    def read_bytes(self, remote_path: str) -> bytes: ...
    def stop(self) -> None: ...
    def start(self) -> None: ...


class Reached(Protocol):
    """A server's route and the connection along it (:mod:`harness.infra`)."""

    @property
    def route(self) -> Route: ...
    @property
    def connections(self) -> Connections: ...
