"""A mock VPS: one container of a VPS image, run and reached as a server is.

``Vps`` is the facade tests use; the work lives by concept beside it:
:mod:`harness.launch` (container, keys, privileges), :mod:`harness.readiness`
(when it is ready), :mod:`harness.route` (how it is reached),
:mod:`harness.dind` (images in its own engine), :mod:`harness.report`
(what a failed test shows) and :mod:`harness.infra` (testinfra).

>>> want = VpsWant("debian:12", name="web1")
>>> vps = Vps.create(  # doctest: +SKIP
...     client, image, want, ContainerPlan("web1-abc", owner_labels={}, identity=Identity.fresh())
... )
>>> vps.run("cat /etc/hostname").stdout  # doctest: +SKIP
'web1\\n'
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container
from docker.models.networks import Network

from harness import dind, labels, readiness, remote, report, snapshot, trust
from harness.cables import Cables
from harness.connections import Connections
from harness.errors import CommandFailed
from harness.files import RemoteFiles
from harness.identity import Identity
from harness.images import VpsImage
from harness.launch import ContainerPlan, Launched, launch, launched_before
from harness.reaper import remove_container, remove_labelled
from harness.result import CommandResult
from harness.route import Route
from harness.snapshot import Snapshot
from harness.ssh import KeyPair, Transcript, as_user
from harness.want import VpsWant

__all__ = ["USER", "Vps"]

#: The sudo user every VPS image has.
USER = "vps"


class Vps:
    """A running mock VPS, reached over SSH as user ``vps`` (passwordless sudo)."""

    def __init__(self, client: docker.DockerClient, want: VpsWant, launched: Launched, identity: Identity) -> None:
        self.client = client
        where = f"VPS {want.name}"
        self.container = launched.container
        self.want = want
        self.os, self.name, self.init, self.docker = want.os, want.name, want.init, want.docker
        self.identity = identity
        self.host_key = launched.host_key
        self.user = USER
        self._transcript = Transcript()
        self.failed_units = ""
        self.aliases = tuple(want.aliases)
        #: Its networks and the addresses it has there (see :class:`~harness.cables.Cables`).
        self.cables = Cables(self.container, want.name, self.aliases, list(want.networks))
        self.networks = self.cables.networks
        self.published = want.publish_ssh
        #: What the VPS owns besides its container (staged keys, volumes, the engine socket), removed with it.
        self.launched = launched
        self.volumes, self._engine_socket = list(launched.volumes), launched.engine_socket
        #: How the harness reaches it (see :class:`~harness.connections.Connections`).
        self.connections = Connections(self.container, self.cables, identity, self.host_key, USER, remote.reach(client))
        #: Its files, as root over SFTP (see :class:`~harness.files.RemoteFiles`): ``put``, ``read_text``... use it.
        sftp = lambda: self.connections.session("root").sftp()  # noqa: E731
        self.files = RemoteFiles(sftp, lambda line: self.run(line, sudo=True), where)
        self._host: Any = None

    # -- lifecycle --------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: docker.DockerClient,
        image: VpsImage,
        want: VpsWant,
        plan: ContainerPlan,
        on_launch: Callable[[], None] = lambda: None,
    ) -> Vps:
        """Launch ``want`` from ``image`` as ``plan`` says (:func:`harness.launch.launch`), call ``on_launch``
        once its container runs, and wait until it is ready; on failure remove it."""
        vps = cls(client, want, launch(client, image, want, plan), plan.identity)
        try:
            on_launch()
            vps.wait_ready()
            if want.docker == "dind" and not image.seeded:
                dind.seed_base(vps, image)
        except BaseException:
            vps.remove()
            raise
        return vps

    @classmethod
    def attach(cls, client: docker.DockerClient, container: Container, identity: Identity) -> Vps:
        """A running VPS container made earlier (by ``vps-harness up``), reached with ``identity``."""
        want, launched = launched_before(container)
        return cls(client, want, launched, identity)

    def wait_ready(self, timeout: float = readiness.READY_TIMEOUT) -> None:
        """Wait until SSH logs in and, under systemd, the boot has finished (see :mod:`harness.readiness`)."""
        readiness.wait_ready(self, timeout, booted=lambda units: setattr(self, "failed_units", units))

    def restart(self) -> None:
        """Reboot: the container restarts (its files are kept) and SSH reconnects."""
        self.close()
        self.container.restart(timeout=20)
        self.wait_ready()

    def stop(self) -> None:
        """Power off (an orderly shutdown); files are kept until the VPS is removed."""
        self.close()
        self.container.stop(timeout=20)
        self.container.reload()

    def start(self) -> None:
        """Power on after :meth:`stop` and wait until it is ready again."""
        self.container.start()
        self.wait_ready()

    def disconnect(self, network: Network) -> None:
        """Cut this VPS off ``network`` (its cable pulled). The harness's own SSH is not on it,
        unless the VPS is on its networks alone (``default_bridge=False``): then that is cut too,
        until :meth:`connect`."""
        self.close()  # its connections may ride that cable (off the bridge, or through a bastion)
        self.cables.pull(network)

    def connect(self, network: Network) -> None:
        """Plug this VPS into ``network`` again, with its name and aliases, and the address it had
        there before :meth:`disconnect` when the network's subnet was given (``vps_network(subnet=...)``,
        a world's): a cable plugged back. On a network whose subnet the engine chose, the engine picks."""
        self.close()  # the next command connects along the route as it is now
        self.cables.plug(network)

    def close(self) -> None:
        """Close this VPS's SSH connections."""
        self.connections.close()
        self._host = None

    def remove(self) -> None:
        """Stop and remove the container, its volumes, its staged keys and its known_hosts file."""
        self.close()
        self.connections.close_forwards()
        remove_container(self.container)
        if self._engine_socket is not None:
            self._engine_socket.close()
        if self.docker != "none" or self.volumes:  # what it made, and its volumes (a remote one's keys)
            remove_labelled(self.client, {"label": f"{labels.PARENT}={self.container.name}"})
        if self.launched.secrets is not None:
            shutil.rmtree(self.launched.secrets, ignore_errors=True)
        self.identity.forget(self.ssh_alias)

    # -- how it is reached ------------------------------------------------

    @property
    def ssh_alias(self) -> str:
        """The ``Host`` alias of :meth:`ssh_config`: its container's name, unique on this machine. Put it in an
        inventory: tools key their connection caches by it (Ansible's ControlPath), and two xdist workers'
        VPSes both named ``vps1`` must not share one."""
        return str(self.container.name)

    @property
    def route(self) -> Route:
        """How this VPS's sshd is reached now: address, port and bastion (see :class:`Route`).

        Its known_hosts file is written for that address as a side effect.
        """
        return self.connections.route

    @property
    def ssh_port(self) -> int:
        """The engine host's port that reaches this VPS's sshd, when published (see :mod:`harness.remote`)."""
        return self.connections.ssh_port

    @property
    def key(self) -> KeyPair:
        """The client key that logs in to this VPS."""
        return self.identity.key

    @property
    def key_file(self) -> Path:
        """The private key file that logs in to this VPS (0600, in a 0700 directory)."""
        return self.identity.key_file

    @property
    def known_hosts_file(self) -> Path:
        """A known_hosts file that pins this VPS's host key for the address it is reached at."""
        return self.route.known_hosts

    def ssh_config(self) -> str:
        """An OpenSSH ``Host`` block for this VPS under :attr:`ssh_alias` (through its bastion after ``jump_to``).

        >>> Path("cfg").write_text(vps.ssh_config())  # doctest: +SKIP
        >>> subprocess.run(["ssh", "-F", "cfg", vps.ssh_alias, "hostname"])  # doctest: +SKIP
        """
        return self.route.ssh_config()

    def ssh_command(self) -> str:
        """A pasteable OpenSSH line that reaches this VPS, host key pinned (through its bastion after ``jump_to``)."""
        return self.route.ssh_command()

    @property
    def host(self) -> Any:
        """A pytest-testinfra ``Host`` over this VPS's own pinned connection (through its bastion too)."""
        if self._host is None:
            from harness.infra import testinfra_host

            self._host = testinfra_host(self)
        return self._host

    @property
    def default_bridge(self) -> bool:
        """Whether the VPS is on the engine's default bridge (every VPS is, but those made ``default_bridge=False``)."""
        return self.cables.on_default_bridge

    @property
    def ip(self) -> str:
        """The VPS's address on the first network it was given (else on the engine's default bridge)."""
        return self.cables.ip()

    def ip_on(self, network: Network) -> str:
        """The VPS's address on ``network`` (what an IP allow-list there sees)."""
        return self.cables.ip_on(network)

    def jump_to(self, target: Vps) -> Vps:
        """Reach ``target`` through this VPS (the bastion) from now on, as ``ssh -J`` does: a ``direct-tcpip``
        channel to its address on a network they share; ``target`` needs no published port."""
        self.cables.shared_ip(target.cables)  # fail now, not at the first command
        target.close()
        target.connections.via = self.connections
        return target

    # -- commands and files -----------------------------------------------

    def run(
        self,
        command: str,
        *,
        check: bool = True,
        timeout: float = 60,
        sudo: bool = False,
        user: str | None = None,
        env: dict[str, str] | None = None,
        stdin: Iterable[bytes] = (),
        secret: Iterable[str] = (),
    ) -> CommandResult:
        """Run a shell command as ``vps`` (or root with ``sudo``, or ``user``).

        ``secret``: text (passwords, tokens) shown as ``[secret]`` in the result, its error,
        the transcript and the failure report from now on. Give a secret to a command on
        ``stdin`` rather than in ``command``: the VPS's own logs (sudo's journal line) see commands.

        >>> vps.run("false", check=False).exit_status  # doctest: +SKIP
        1
        """
        line = as_user(command, user or ("root" if sudo else self.user), self.user, env)
        self.hide(*secret)  # first: a command that times out must not show it either
        result = self._transcript.keep(self.connections.session().run(line, timeout=timeout, stdin=stdin), command)
        if check and not result.ok:
            raise CommandFailed(result, f"VPS {self.name}")
        return result

    def put(self, local_path: str | Path, remote_path: str, mode: int | None = None, owner: str | None = None) -> None:
        """Copy a local file to the VPS as root, parents made, ``mode`` set before the content is written."""
        self.files.put(local_path, remote_path, mode, owner)

    def put_text(self, text: str, remote_path: str, mode: int | None = None, owner: str | None = None) -> None:
        """Write ``text`` to a file on the VPS as root; see :meth:`put`."""
        self.files.put_text(text, remote_path, mode, owner)

    def get(self, remote_path: str, local_path: str | Path) -> None:
        """Copy a file from the VPS to ``local_path``."""
        self.files.get(remote_path, local_path)

    def read_bytes(self, remote_path: str) -> bytes:
        """The content of a file on the VPS."""
        return self.files.read_bytes(remote_path)

    def read_text(self, remote_path: str) -> str:
        """The text of a file on the VPS."""
        return self.files.read_text(remote_path)

    def mode_of(self, remote_path: str) -> int:
        """The permission bits of a file on the VPS."""
        return self.files.mode_of(remote_path)

    # -- Docker inside ------------------------------------------------------

    def forward(self, port: int, host: str = "127.0.0.1") -> int:
        """A port on 127.0.0.1 here that reaches ``host:port`` as this VPS sees it (``ssh -L``).

        Asked again for the same ``host:port``, the same port: one listener each, however often a test polls.
        """
        return self.connections.forward(port, host)

    def load_image(self, reference: str, timeout: float = 600) -> None:
        """Make a host image available to this VPS's own engine (``docker load``, streamed over SSH)."""
        dind.load_image(self, reference, timeout)

    def snapshot(self, key: str, **options: Any) -> Snapshot:
        """Keep this VPS as it is now as a snapshot image under content key ``key``; see :func:`harness.snapshot.take`.

        It is powered off for that and on again (``power_on=False`` leaves it off).
        """
        return snapshot.take(self, key, **options)

    # -- between VPSes ----------------------------------------------------

    def trust(self, other: Vps, user: str = USER, as_user: str | None = None) -> None:
        """Let ``user`` here log in to ``other`` as ``as_user`` (default: the same name) by key
        (see :func:`harness.trust.trust`: a key of its own, authorized there, ``other``'s host key known)."""
        trust.trust(self, other, user, as_user)

    # -- what to show when a test fails -----------------------------------

    def hide(self, *secrets: str) -> None:
        """Show ``secrets`` (passwords, tokens) as ``[secret]`` in this VPS's results, errors and report from now on."""
        self._transcript.hide(secrets)

    def record(self, result: CommandResult) -> CommandResult:
        """Keep ``result`` of a command run on this VPS another way (another user's login) for its report, redacted."""
        return self._transcript.keep(result, result.command)

    @property
    def docker_socket(self) -> Path | None:
        """With ``docker="socket"``: the Unix socket on this machine that the VPS's /run/docker.sock is."""
        return self._engine_socket.path if self._engine_socket is not None else None

    def logs(self, tail: int = 200) -> str:
        """The container's output (``docker logs``): the console under systemd, sshd's log otherwise."""
        return report.logs(self, tail)

    def journal(self, lines: int = 200, units: tuple[str, ...] = ()) -> str:
        """The last ``lines`` of the journal (of ``units``, else all), or why there is none."""
        return report.journal(self, lines, units)

    def report(self) -> str:
        """Reach line, transcript, journal tail and docker logs, for a failed test's report."""
        return report.report(self, self._transcript)
