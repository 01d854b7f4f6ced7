"""A mock VPS: one container of a VPS image, run and reached as a server is.

``Vps`` is the facade tests use; the work lives by concept beside it:
:mod:`harness.launch` (container, keys, privileges), :mod:`harness.readiness`
(when it is ready), :mod:`harness.route` (how it is reached),
:mod:`harness.dind` (images in its own engine), :mod:`harness.report`
(what a failed test shows) and :mod:`harness.infra` (testinfra).

>>> want = VpsWant("debian:12", name="web1")
>>> vps = Vps.create(  # doctest: +SKIP
...     client, image, want, container_name="web1-abc", owner_labels={}, identity=Identity.fresh()
... )
>>> vps.run("cat /etc/hostname").stdout  # doctest: +SKIP
'web1\\n'
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import shlex
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from harness import dind, labels, readiness, report, snapshot
from harness.engine import DEFAULT_BRIDGE, bridge_address
from harness.errors import CommandFailed, UsageError
from harness.identity import Identity
from harness.images import VpsImage
from harness.launch import DOCKER_MODES, HOST_KEY_LABEL, INIT_COMMANDS, DockerMode, Init, Launched, launch
from harness.reaper import remove_container, remove_labelled
from harness.result import CommandResult
from harness.route import Route, known_hosts_name
from harness.snapshot import Snapshot
from harness.spec import parse_spec
from harness.ssh import KeyPair, SshSession, Transcript
from harness.tunnel import PortForward
from harness.want import VpsWant

__all__ = ["DOCKER_MODES", "INIT_COMMANDS", "USER", "DockerMode", "Init", "Vps"]

#: The sudo user every VPS image has.
USER = "vps"


class Vps:
    """A running mock VPS, reached over SSH as user ``vps`` (passwordless sudo)."""

    def __init__(self, client: docker.DockerClient, want: VpsWant, launched: Launched, identity: Identity) -> None:
        self.client = client
        self.container = launched.container
        self.want = want
        self.os = want.os
        self.name = want.name
        self.init = want.init
        self.identity = identity
        self.host_key = launched.host_key
        self.user = USER
        self.transcript = Transcript()
        self.failed_units = ""
        self.docker = want.docker
        self.networks = list(want.networks)
        self.aliases = want.aliases
        self.published = want.publish_ssh
        #: What the VPS owns besides its container, removed with it.
        self.secrets = launched.secrets
        self.volumes = list(launched.volumes)
        self.engine_socket = launched.engine_socket
        #: The bastion the test's SSH goes through (see :meth:`jump_to`).
        self.via: Vps | None = None
        self._forwards: dict[tuple[str, int], PortForward] = {}
        #: The addresses it had on the networks :meth:`disconnect` cut it off, by network name.
        self._unplugged: dict[str, str] = {}
        self._ssh: SshSession | None = None
        self._root: SshSession | None = None
        self._host: Any = None

    # -- lifecycle --------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: docker.DockerClient,
        image: VpsImage,
        want: VpsWant,
        *,
        container_name: str,
        owner_labels: dict[str, str],
        identity: Identity,
        apt_proxy: str | None = None,
        on_launch: Callable[[], None] = lambda: None,
    ) -> Vps:
        """Launch ``want`` from ``image`` (see :func:`harness.launch.launch`) and wait until it is ready;
        on failure remove it.

        ``on_launch`` is called once its container runs, before the wait.
        """
        launched = launch(
            client,
            image,
            want,
            container_name=container_name,
            owner_labels=owner_labels,
            identity=identity,
            apt_proxy=apt_proxy,
        )
        vps = cls(client, want, launched, identity)
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
        found = container.labels
        want = VpsWant(
            parse_spec(found[labels.SPEC]),
            name=found[labels.NAME],
            init=found[labels.INIT],
            docker=found.get(labels.DOCKER, "none"),
            publish_ssh=bool((container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp")),
        )
        return cls(client, want, Launched(container, found[HOST_KEY_LABEL]), identity)

    def wait_ready(self, timeout: float = readiness.READY_TIMEOUT) -> None:
        """Wait until SSH logs in and, under systemd, the boot has finished (see :mod:`harness.readiness`)."""
        self.failed_units = readiness.wait_ready(self, timeout)

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
        self._unplugged[str(network.name)] = self.ip_on(network)
        network.disconnect(self.container)
        self.container.reload()

    def connect(self, network: Network) -> None:
        """Plug this VPS into ``network`` again, with its name and aliases, and the address it had
        there before :meth:`disconnect` when the network's subnet was given (``vps_network(subnet=...)``,
        a world's): a cable plugged back. On a network whose subnet the engine chose, the engine picks."""
        self.close()  # the next command connects along the route as it is now
        address = self._unplugged.pop(str(network.name), None)
        if network.name == DEFAULT_BRIDGE:
            address = None  # the engine's bridge takes no address of a user's choosing
        aliases = [self.name, *self.aliases]
        try:
            network.connect(self.container, aliases=aliases, ipv4_address=address)
        except docker.errors.APIError as e:
            if address is None or "user configured subnets" not in str(e):
                raise
            network.connect(self.container, aliases=aliases)  # the engine chose its subnet, and chooses again
        self.container.reload()

    def close(self) -> None:
        """Close this VPS's SSH connections."""
        for session in (self._ssh, self._root):
            if session is not None:
                session.close()
        self._ssh = self._root = None
        self._host = None

    def remove(self) -> None:
        """Stop and remove the container, its volumes, its staged keys and its known_hosts file."""
        self.close()
        for forward in self._forwards.values():
            forward.close()
        remove_container(self.container)
        if self.engine_socket is not None:
            self.engine_socket.close()
        if self.docker != "none":
            remove_labelled(self.client, {"label": f"{labels.PARENT}={self.container.name}"})
        if self.secrets is not None:
            shutil.rmtree(self.secrets, ignore_errors=True)
        self.identity.forget(self.ssh_alias)

    # -- how it is reached ------------------------------------------------

    @property
    def ssh_alias(self) -> str:
        """The ``Host`` alias of :meth:`ssh_config`: its container's name, unique on this machine.

        Put this name in an inventory: tools key their connection caches by
        it (Ansible's ControlPath), so two VPSes both named ``vps1`` in two
        xdist workers must not share one.
        """
        return str(self.container.name)

    @property
    def route(self) -> Route:
        """How this VPS's sshd is reached now: address, port and bastion (see :class:`Route`).

        Its known_hosts file is written for that address as a side effect.
        """
        bastion = self.via.route if self.via is not None else None
        if bastion is not None:
            host, port = self.via._shared_ip(self), 22  # type: ignore[union-attr]
        elif self.published:
            host, port = "127.0.0.1", self.ssh_port
        else:  # no published port: the engine's bridge (else its first network), which this host routes to
            host, port = self._bridge_ip(), 22
        known_hosts = self.identity.known_hosts_file(self.ssh_alias, [known_hosts_name(host, port)], self.host_key)
        return Route(self.ssh_alias, host, port, self.user, self.identity.key_file, known_hosts, bastion)

    @property
    def ssh_port(self) -> int:
        """The host port (on 127.0.0.1) that reaches this VPS's sshd, when it is published."""
        self.container.reload()
        bindings = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp") or []
        if not bindings:
            raise UsageError(
                f"VPS {self.name} has no published SSH port (publish_ssh=False): reach it with bastion.jump_to(vps), "
                "and use vps.route for its address"
            )
        return int(bindings[0]["HostPort"])

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

    def known_hosts_line(self) -> str:
        """The known_hosts line that pins this VPS where it is reached."""
        return self.known_hosts_file.read_text().strip()

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
        self.container.reload()
        return DEFAULT_BRIDGE in self.container.attrs["NetworkSettings"]["Networks"]

    @property
    def ip(self) -> str:
        """The VPS's address on the first network it was given (else on the engine's default bridge)."""
        if self.networks:
            return self.ip_on(self.networks[0])
        return self._bridge_ip()

    def ip_on(self, network: Network) -> str:
        """The VPS's address on ``network`` (what an IP allow-list there sees)."""
        self.container.reload()
        found = self.container.attrs["NetworkSettings"]["Networks"].get(network.name)
        if not found or not found.get("IPAddress"):
            raise UsageError(f"VPS {self.name} is not on network {network.name}: connect it with vps.connect(network)")
        return str(found["IPAddress"])

    def _shared_ip(self, other: Vps) -> str:
        """``other``'s address on a network this VPS is also on."""
        self.container.reload()
        other.container.reload()
        mine = self.container.attrs["NetworkSettings"]["Networks"]
        for network_name, endpoint in other.container.attrs["NetworkSettings"]["Networks"].items():
            if network_name in mine and network_name != DEFAULT_BRIDGE and endpoint.get("IPAddress"):
                return str(endpoint["IPAddress"])
        raise UsageError(f"VPS {self.name} and VPS {other.name} share no private network; give both the same one")

    def _bridge_ip(self) -> str:
        """The harness's own way in: the address on the engine's default bridge or, for a VPS off it
        (``default_bridge=False``), on the first of its networks it is on."""
        return bridge_address(self.container, [str(network.name) for network in self.networks])

    def jump_to(self, target: Vps) -> Vps:
        """Reach ``target`` through this VPS from now on (this one is the bastion).

        The test's SSH to ``target`` becomes a ``direct-tcpip`` channel over
        this VPS's connection to its address on a network they share, as
        ``ssh -J`` does; ``target`` needs no published port.
        """
        self._shared_ip(target)  # fail now, not at the first command
        target.close()
        target.via = self
        return target

    def _tunnel(self, host: str, port: int) -> Any:
        transport = self.session().transport()
        return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))

    def session(self, user: str = USER) -> SshSession:
        """The harness's persistent SSH connection as ``user`` (``vps`` or ``root``), along :attr:`route`."""
        attr = "_root" if user == "root" else "_ssh"
        session: SshSession | None = getattr(self, attr)
        if session is None:
            route = self.route
            via = self.via._tunnel if self.via is not None else None
            session = SshSession(
                route.address, route.port, user, self.key, self.host_key, where=f"VPS {self.name}", via=via
            )
            setattr(self, attr, session)
        return session

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

        >>> vps.run("id -un").stdout  # doctest: +SKIP
        'vps\\n'
        >>> vps.run("false", check=False).exit_status  # doctest: +SKIP
        1
        """
        wrapped = command
        if env:
            wrapped = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + "; " + wrapped
        target = user or ("root" if sudo else self.user)
        if target != self.user:
            wrapped = f"sudo -n -H -u {shlex.quote(target)} -- sh -c {shlex.quote(wrapped)}"
        self.transcript.secrets.update(s for s in secret if s)
        result = self.session().run(wrapped, timeout=timeout, stdin=stdin)
        if wrapped != command:
            result = CommandResult(command, result.exit_status, result.stdout, result.stderr, result.duration)
        result = result.redacted(self.transcript.secrets)
        self.transcript.results.append(result)
        if check and not result.ok:
            raise CommandFailed(result, f"VPS {self.name}")
        return result

    def put(self, local_path: str | Path, remote_path: str, mode: int | None = None, owner: str | None = None) -> None:
        """Copy a local file to the VPS (as root), making missing parent directories as ``install -D`` does.

        ``mode`` sets its permission bits (before any content is written, so
        a secret is never readable by others), ``owner`` (``user`` or
        ``user:group``) its owner.
        """
        with open(local_path, "rb") as source:  # a missing local file fails here, naming itself
            self._write(remote_path, source, mode, owner)

    def put_text(self, text: str, remote_path: str, mode: int | None = None, owner: str | None = None) -> None:
        """Write ``text`` to a file on the VPS (as root), making missing parent directories; see :meth:`put`."""
        self._write(remote_path, io.BytesIO(text.encode()), mode, owner)

    def _write(self, remote_path: str, source: BinaryIO, mode: int | None, owner: str | None) -> None:
        sftp = self.session("root").sftp()
        with self._remote_file(remote_path, "write"):
            self._parents(remote_path)
            with sftp.open(remote_path, "wb") as handle:
                handle.set_pipelined(True)  # as paramiko's own put: writes don't wait for each reply
                if mode is not None:
                    handle.chmod(mode & 0o777)  # no one else reads it while it is written
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
        if owner is not None:
            absolute = sftp.normalize(remote_path)  # relative paths are root's home's, as SFTP resolved them
            self.run(f"chown {shlex.quote(owner)} {shlex.quote(absolute)}", sudo=True)
        if mode is not None:  # after chown, which clears setuid and setgid
            with self._remote_file(remote_path, "chmod"):
                sftp.chmod(remote_path, mode)

    def get(self, remote_path: str, local_path: str | Path) -> None:
        """Copy a file from the VPS to ``local_path``."""
        with self._remote_file(remote_path, "get"):
            self.session("root").sftp().get(remote_path, str(local_path))

    def read_bytes(self, remote_path: str) -> bytes:
        """The content of a file on the VPS."""
        with self._remote_file(remote_path, "read"), self.session("root").sftp().open(remote_path, "rb") as handle:
            return bytes(handle.read())

    def read_text(self, remote_path: str) -> str:
        """The text of a file on the VPS."""
        return self.read_bytes(remote_path).decode()

    def mode_of(self, remote_path: str) -> int:
        """The permission bits of a file on the VPS."""
        with self._remote_file(remote_path, "stat"):
            return stat.S_IMODE(self.session("root").sftp().stat(remote_path).st_mode or 0)

    @contextlib.contextmanager
    def _remote_file(self, remote_path: str, action: str) -> Iterator[None]:
        """Name the remote path and the VPS in a file error, keeping its type (FileNotFoundError, ...)."""
        try:
            yield
        except OSError as e:
            if e.filename is not None:  # it names its file already (a local one, say)
                raise
            reason = e.strerror or str(e) or "failed"
            raise OSError(e.errno, f"{action} {remote_path} on VPS {self.name}: {reason}", remote_path) from e

    def _parents(self, remote_path: str) -> None:
        """Make the missing parent directories of ``remote_path`` (mode 0755, root's)."""
        sftp = self.session("root").sftp()
        missing = []
        parent = posixpath.dirname(posixpath.normpath(remote_path))
        while parent not in ("", "/"):
            try:
                sftp.stat(parent)
                break
            except FileNotFoundError:
                missing.append(parent)
                parent = posixpath.dirname(parent)
        for directory in reversed(missing):
            sftp.mkdir(directory, 0o755)

    # -- Docker inside ------------------------------------------------------

    def forward(self, port: int, host: str = "127.0.0.1") -> int:
        """A port on 127.0.0.1 here that reaches ``host:port`` as this VPS sees it (``ssh -L``).

        Asked again for the same ``host:port``, the same port: one listener
        each, however often a test polls.

        >>> url = f"http://127.0.0.1:{vps.forward(8080)}/"  # doctest: +SKIP
        """
        forward = self._forwards.get((host, port))
        if forward is None:
            forward = PortForward(lambda: self._tunnel(host, port), f"VPS {self.name} {host}:{port}")
            self._forwards[host, port] = forward
        return forward.port

    def load_image(self, reference: str, timeout: float = 600) -> None:
        """Make a host image available to this VPS's own engine (``docker load``, streamed over SSH)."""
        dind.load_image(self, reference, timeout)

    def snapshot(self, key: str, **options: Any) -> Snapshot:
        """Keep this VPS as it is now as a snapshot image under content key ``key``; see :func:`harness.snapshot.take`.

        It is powered off for that and on again (``power_on=False`` leaves it off).
        """
        return snapshot.take(self, key, **options)

    def docker_store(self, image: VpsImage) -> bytes:
        """Stop this DinD VPS's engine and return its image store, the seed of a DinD image of ``image``."""
        return dind.docker_store(self, image)

    # -- between VPSes ----------------------------------------------------

    def trust(self, other: Vps, user: str = USER, as_user: str | None = None) -> None:
        """Let ``user`` here log in to ``other`` as ``as_user`` (default: the same name) by key.

        ``user`` gets an ed25519 key of its own (made once, on this VPS); its
        public half goes into ``as_user``'s authorized_keys on ``other``, and
        ``other``'s host key into ``user``'s known_hosts under every name it
        has here (name, aliases, addresses on shared networks).
        """
        login = as_user or user
        public = self.run(
            "mkdir -p -m 700 ~/.ssh && { test -f ~/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' "
            "-f ~/.ssh/id_ed25519; } && cat ~/.ssh/id_ed25519.pub",
            user=user,
        ).stdout.strip()
        other.run(
            f"mkdir -p -m 700 ~/.ssh && echo {shlex.quote(public)} >> ~/.ssh/authorized_keys "
            "&& chmod 600 ~/.ssh/authorized_keys",
            user=login,
        )
        names = [other.name, *other.aliases]
        with contextlib.suppress(UsageError):
            names.append(self._shared_ip(other))
        key_type, key_data = other.host_key.split()[:2]
        known = " ".join([",".join(names), key_type, key_data])
        self.run(f"echo {shlex.quote(known)} >> ~/.ssh/known_hosts", user=user)

    # -- what to show when a test fails -----------------------------------

    def logs(self, tail: int = 200) -> str:
        """The container's output (``docker logs``): the console under systemd, sshd's log otherwise."""
        return report.logs(self, tail)

    def journal(self, lines: int = 200, units: tuple[str, ...] = ()) -> str:
        """The last ``lines`` of the journal (of ``units``, else all), or why there is none."""
        return report.journal(self, lines, units)

    def report(self) -> str:
        """Reach line, transcript, journal tail and docker logs, for a failed test's report."""
        return report.report(self)
