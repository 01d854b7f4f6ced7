"""A mock VPS: one container of a VPS image, run and reached as a server is.

>>> vps = Vps.create(  # doctest: +SKIP
...     client, image, name="web1", container_name="web1-abc", owner_labels={}, key=key, secrets=path
... )
>>> vps.run("cat /etc/hostname").stdout  # doctest: +SKIP
'web1\\n'
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.volumes import Volume

from harness import labels, privilege
from harness.errors import CommandFailed, HarnessError, VpsNotReady
from harness.images import VpsImage
from harness.result import CommandResult
from harness.spec import OsSpec, parse_spec
from harness.ssh import KeyPair, SshSession, Transcript
from harness.tunnel import LabellingSocket, PortForward
from harness.waiting import wait_for

Init = Literal["systemd", "sshd"]
#: Docker for the VPS: none, its own engine under systemd, or the host's socket.
DockerMode = Literal["none", "dind", "socket"]
DOCKER_MODES = ("none", "dind", "socket")

#: PID 1 of each init mode; the image's own CMD is systemd.
INIT_COMMANDS: dict[str, list[str]] = {
    "systemd": ["/sbin/init"],
    "sshd": ["/usr/local/sbin/vps-sshd"],
}
#: The sudo user every VPS image has.
USER = "vps"
#: Label holding the host's public key, so any client can pin it.
HOST_KEY_LABEL = f"{labels.PREFIX}.host-key"
READY_TIMEOUT = 90.0
#: Seconds between probes of a starting VPS: a loopback connect costs ~0.1 ms.
PROBE_INTERVAL = 0.02
#: Waits on the VPS for systemd to leave "initializing"/"starting", then
#: prints its state. (`is-system-running --wait` needs systemd 240.)
_AWAIT_BOOT = (
    "while s=$(systemctl is-system-running 2>/dev/null); "
    'case "$s" in initializing|starting) true;; *) false;; esac; do sleep 0.02; done; echo "$s"'
)


#: Waits on a DinD VPS (up to 60 s) until its own engine answers; gives up
#: at once when systemd has given up restarting it.
_AWAIT_DOCKER = (
    "i=0; until docker info >/dev/null 2>&1; do "
    "systemctl is-failed -q docker.service && exit 1; "
    "i=$((i+1)); [ $i -le 1200 ] || exit 1; sleep 0.05; done"
)
DIND_UNITS = ("docker.service", "containerd.service")

#: Carriage returns and colour codes a console adds.
_TERMINAL_CONTROL = re.compile(r"\r|\x1b\[[0-9;]*m")


def run_options(init: Init) -> dict[str, Any]:
    """docker-py ``containers.create`` options for a VPS with ``init`` as PID 1.

    systemd needs the capabilities of a real machine (every one but
    CAP_SYS_RESOURCE, which hosts like ours withhold, so ``--privileged``
    fails), no seccomp filter, its cgroup tree writable, and /run on tmpfs.
    It also gets a terminal as its console, which systemd (and journald,
    configured by the image) writes to: ``docker logs`` becomes the serial
    console of a real server.
    """
    if init not in INIT_COMMANDS:
        raise ValueError(f"init={init!r} is not one of {', '.join(INIT_COMMANDS)}")
    options: dict[str, Any] = {
        "command": INIT_COMMANDS[init],
        "tmpfs": {"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec"},
    }
    if init == "systemd":
        options.update(
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined"],
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
            tty=True,
            environment={"TERM": "dumb"},
        )
    return options


#: Where a VPS sees the keys the harness staged for it (read-only);
#: ``vps-sshd-keys`` installs them, owned by root, before sshd starts.
SECRETS_MOUNT = "/run/vps-harness"


def stage_secrets(directory: Path, host_key: KeyPair, client_key: KeyPair, units: tuple[str, ...] = ()) -> None:
    """Write a VPS's host key and who may log in, for a read-only bind mount.

    A bind mount costs nothing at start, where copying into a created
    container (``put_archive``) costs ~65 ms. The directory must outlive the
    container's restarts, so it goes when the VPS is removed.
    """
    directory.mkdir(mode=0o700, parents=True)
    files = {
        "ssh_host_ed25519_key": (host_key.private, 0o600),
        "ssh_host_ed25519_key.pub": (host_key.public + "\n", 0o644),
        "authorized_keys": (client_key.public + "\n", 0o644),
        # Enabled at every boot by the image's generator (docker.service for DinD).
        "units": ("".join(f"{unit}\n" for unit in units), 0o644),
    }
    for name, (text, mode) in files.items():
        path = directory / name
        path.touch(mode=mode)
        path.write_text(text)


def host_socket(client: docker.DockerClient) -> str:
    """The host path of the engine's Unix socket, for ``docker="socket"``."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not where.startswith("unix://"):
        raise HarnessError(
            f"docker='socket' mounts the engine's Unix socket, and DOCKER_HOST={where} is not one; "
            "use a local engine (unix://…) or docker='dind'"
        )
    return where.removeprefix("unix://")


def remove_belongings(client: docker.DockerClient, container_name: str) -> None:
    """Remove, by id, what belongs to one VPS (labelled with its container's name):
    its DinD volume, and what a socket-mode VPS made through the host's engine."""
    made_here = {"label": f"{labels.PARENT}={container_name}"}
    for container in client.containers.list(all=True, filters=made_here, ignore_removed=True):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters=made_here):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            network.remove()
    for volume in client.volumes.list(filters=made_here):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


def _create_and_start(
    client: docker.DockerClient,
    tag: str,
    create: dict[str, Any],
    more_networks: tuple[Network, ...],
    aliases: list[str],
    *,
    privileged: bool,
    progress: Callable[[str], None],
) -> Container:
    """Create and start a container, removed again if it cannot start.

    With ``privileged`` (DinD), ask for ``--privileged`` first and, once the
    engine refuses it, for the fallback set (remembered per engine).
    """
    while True:
        if privileged:
            for option in ("cap_add", "cap_drop", "security_opt", "privileged"):
                create.pop(option, None)
            create.update(privilege.options(client))
        container = client.containers.create(tag, **create)
        try:
            for network in more_networks:
                network.connect(container, aliases=aliases)
            container.start()
        except BaseException as e:
            container.remove(force=True, v=True)
            if privileged and create.get("privileged") and privilege.is_refusal(e):
                privilege.record(client, False, progress)
                continue
            raise
        if privileged:
            privilege.record(client, bool(create.get("privileged")), progress)
        return container


class Vps:
    """A running mock VPS, reached over SSH as user ``vps`` (passwordless sudo)."""

    def __init__(
        self,
        client: docker.DockerClient,
        container: Container,
        spec: OsSpec,
        *,
        name: str,
        init: Init,
        key: KeyPair,
        host_key: str,
        docker_mode: DockerMode = "none",
        networks: tuple[Network, ...] = (),
        aliases: tuple[str, ...] = (),
        published: bool = True,
        secrets: Path | None = None,
        volumes: tuple[Volume, ...] = (),
        engine_socket: LabellingSocket | None = None,
    ) -> None:
        self.client = client
        self.container = container
        self.os = spec
        self.name = name
        self.init = init
        self.key = key
        self.host_key = host_key
        self.user = USER
        self.transcript = Transcript()
        self.failed_units = ""
        self.docker_mode = docker_mode
        self.networks = list(networks)
        self.aliases = aliases
        self.published = published
        #: What the VPS owns besides its container, removed with it.
        self.secrets = secrets
        self.volumes = list(volumes)
        self.engine_socket = engine_socket
        #: The bastion the test's SSH goes through (see :meth:`jump_to`).
        self.via: Vps | None = None
        self._forwards: list[PortForward] = []
        self._ssh: SshSession | None = None
        self._root: SshSession | None = None
        self._host: Any = None

    # -- lifecycle --------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: docker.DockerClient,
        image: VpsImage,
        *,
        name: str,
        container_name: str,
        owner_labels: dict[str, str],
        key: KeyPair,
        secrets: Path,
        init: Init = "systemd",
        docker_mode: DockerMode = "none",
        networks: tuple[Network, ...] = (),
        aliases: tuple[str, ...] = (),
        publish_ssh: bool = True,
        progress: Callable[[str], None] = lambda message: None,
    ) -> Vps:
        """Create, start and wait for a VPS; on any failure remove what was made.

        ``secrets``: a directory, made here, for the keys staged for this VPS.
        ``docker_mode="dind"`` needs systemd: the VPS runs docker.service with
        /var/lib/docker on a volume of its own (never the container's
        overlay, where dockerd falls back to the slow vfs driver).
        """
        if docker_mode not in DOCKER_MODES:
            raise ValueError(f"docker={docker_mode!r} is not one of {', '.join(DOCKER_MODES)}")
        if docker_mode == "dind" and init != "systemd":
            raise ValueError(f"docker='dind' runs docker.service under systemd; init={init!r} has none")
        host_key = KeyPair.generate(f"root@{name}")
        stage_secrets(secrets, host_key, key, units=("docker.service",) if docker_mode == "dind" else ())
        options = run_options(init)
        options["volumes"] = {**options.get("volumes", {}), str(secrets): {"bind": SECRETS_MOUNT, "mode": "ro"}}
        vps_labels = {
            **owner_labels,
            labels.SPEC: str(image.spec),
            labels.NAME: name,
            labels.INIT: init,
            labels.DOCKER: docker_mode,
            labels.SECRETS: str(secrets),
            HOST_KEY_LABEL: host_key.public,
        }
        volumes: list[Volume] = []
        engine_socket: LabellingSocket | None = None
        try:
            if docker_mode == "dind":
                volume_labels = {**owner_labels, labels.PARENT: container_name}
                volumes.append(client.volumes.create(f"{container_name}-docker", labels=volume_labels))
                options["volumes"][volumes[0].name] = {"bind": "/var/lib/docker", "mode": "rw"}
            if docker_mode == "socket":
                engine_socket = LabellingSocket(
                    secrets / "docker.sock", host_socket(client), {**owner_labels, labels.PARENT: container_name}
                )
                options["volumes"][str(engine_socket.path)] = {"bind": "/run/docker.sock", "mode": "rw"}
            create: dict[str, Any] = {
                "name": container_name,
                "hostname": name,
                "labels": vps_labels,
                "ports": {"22/tcp": ("127.0.0.1", None)} if publish_ssh else {},
                "detach": True,
                **options,
            }
            container = _create_and_start(
                client,
                image.tag,
                create,
                networks,
                [name, *aliases],
                privileged=docker_mode == "dind",
                progress=progress,
            )
        except BaseException:
            for volume in volumes:
                with contextlib.suppress(docker.errors.NotFound):
                    volume.remove(force=True)
            if engine_socket is not None:
                engine_socket.close()
            shutil.rmtree(secrets, ignore_errors=True)
            raise
        vps = cls(
            client,
            container,
            image.spec,
            name=name,
            init=init,
            key=key,
            host_key=host_key.public,
            docker_mode=docker_mode,
            networks=networks,
            aliases=aliases,
            published=publish_ssh,
            secrets=secrets,
            volumes=tuple(volumes),
            engine_socket=engine_socket,
        )
        try:
            vps.wait_ready()
            if docker_mode == "dind" and not image.seeded:
                vps.seed_base(image)
        except BaseException:
            vps.remove()
            raise
        return vps

    @classmethod
    def attach(cls, client: docker.DockerClient, container: Container, key: KeyPair) -> Vps:
        """A running VPS container made earlier (by ``vps-harness up``), reached with ``key``."""
        found = container.labels
        return cls(
            client,
            container,
            parse_spec(found[labels.SPEC]),
            name=found[labels.NAME],
            init=found[labels.INIT],
            key=key,
            host_key=found[HOST_KEY_LABEL],
            docker_mode=found.get(labels.DOCKER, "none"),
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until SSH logs in and, under systemd, the boot has finished.

        Until the boot lets users in (``/run/nologin`` is gone), logins fail
        as on a real server; they are retried like a closed port. The boot
        is then awaited on the VPS itself, in one command.
        """
        self.close()
        self.container.reload()
        what = f"SSH on VPS {self.name}"
        probe = {"timeout": timeout, "what": what, "still_alive": self._exited, "max_delay": PROBE_INTERVAL}
        wait_for(self._session().banner, **probe)  # type: ignore[arg-type]
        wait_for(lambda: self._session().connect(timeout=5), **probe)  # type: ignore[arg-type]
        if self.init != "systemd":
            return
        state = wait_for(
            lambda: self._booted(self._session().run(_AWAIT_BOOT, timeout=timeout).stdout.strip()),
            timeout=timeout,
            what=f"systemd boot of VPS {self.name}",
            still_alive=self._exited,
        )
        if state == "degraded":
            self.failed_units = self._session().run("systemctl --failed --no-legend", timeout=10).stdout
        if self.docker_mode == "dind" and self._session().run(_AWAIT_DOCKER, timeout=timeout).exit_status != 0:
            raise VpsNotReady(
                f"the Docker engine inside VPS {self.name} never answered `docker info`; "
                f"its journal:\n{self.journal(30, units=DIND_UNITS)}"
            )

    @staticmethod
    def _booted(state: str) -> str | None:
        return state if state in ("running", "degraded") else None

    def _exited(self) -> str | None:
        self.container.reload()
        if self.container.status in ("created", "running"):
            return None
        logs = self.logs(tail=40)
        return f"its container is {self.container.status}; last lines of docker logs:\n{logs}"

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
        """Cut this VPS off ``network`` (its cable pulled); the harness's own SSH is not on it."""
        network.disconnect(self.container)
        self.container.reload()

    def connect(self, network: Network) -> None:
        """Plug this VPS into ``network`` again, with its name and aliases."""
        network.connect(self.container, aliases=[self.name, *self.aliases])
        self.container.reload()

    def close(self) -> None:
        """Close this VPS's SSH connections."""
        for session in (self._ssh, self._root):
            if session is not None:
                session.close()
        self._ssh = self._root = None
        self._host = None

    def remove(self) -> None:
        """Stop and remove the container, its volumes and its staged keys."""
        self.close()
        for forward in self._forwards:
            forward.close()
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True, v=True)
        if self.engine_socket is not None:
            self.engine_socket.close()
        if self.docker_mode != "none":
            remove_belongings(self.client, self.container.name)
        if self.secrets is not None:
            shutil.rmtree(self.secrets, ignore_errors=True)

    # -- SSH --------------------------------------------------------------

    @property
    def ssh_port(self) -> int:
        """The host port (on 127.0.0.1) that reaches this VPS's sshd."""
        bindings = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp") or []
        if not bindings:
            raise VpsNotReady(
                f"VPS {self.name} has no published SSH port (publish_ssh=False): reach it with bastion.jump_to(vps)"
            )
        return int(bindings[0]["HostPort"])

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
            raise VpsNotReady(f"VPS {self.name} is not on network {network.name}")
        return str(found["IPAddress"])

    def _shared_ip(self, other: Vps) -> str:
        """``other``'s address on a network this VPS is also on."""
        self.container.reload()
        other.container.reload()
        mine = self.container.attrs["NetworkSettings"]["Networks"]
        for network_name, endpoint in other.container.attrs["NetworkSettings"]["Networks"].items():
            if network_name in mine and network_name != "bridge" and endpoint.get("IPAddress"):
                return str(endpoint["IPAddress"])
        raise VpsNotReady(f"VPS {self.name} and VPS {other.name} share no private network; give both the same one")

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
        transport = self._session().connect().get_transport()
        assert transport is not None
        return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))

    def _session(self, user: str = USER) -> SshSession:
        attr = "_root" if user == "root" else "_ssh"
        session = getattr(self, attr)
        if session is None:
            where = f"VPS {self.name}"
            if self.via is not None:
                via = self.via
                session = SshSession(
                    via._shared_ip(self), 22, user, self.key, self.host_key, where=where, via=via._tunnel
                )
            elif self.published:
                session = SshSession("127.0.0.1", self.ssh_port, user, self.key, self.host_key, where=where)
            else:  # no published port: the engine's bridge, which this host routes to
                session = SshSession(self._bridge_ip(), 22, user, self.key, self.host_key, where=where)
            setattr(self, attr, session)
        return session

    def _bridge_ip(self) -> str:
        """The address on the engine's default bridge (the harness's own way in)."""
        networks = self.container.attrs["NetworkSettings"]["Networks"]
        return str((networks.get("bridge") or next(iter(networks.values())))["IPAddress"])

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
    ) -> CommandResult:
        """Run a shell command as ``vps`` (or root with ``sudo``, or ``user``).

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
        result = self._session().run(wrapped, timeout=timeout, stdin=stdin)
        if wrapped != command:
            result = CommandResult(command, result.exit_status, result.stdout, result.stderr, result.duration)
        self.transcript.results.append(result)
        if check and not result.ok:
            raise CommandFailed(result, f"VPS {self.name}")
        return result

    def put(self, local_path: str | Path, remote_path: str, mode: int | None = None) -> None:
        """Copy a local file to the VPS (as root, so any path works)."""
        sftp = self._session("root").sftp()
        sftp.put(str(local_path), remote_path)
        if mode is not None:
            sftp.chmod(remote_path, mode)

    def put_text(self, text: str, remote_path: str, mode: int | None = None) -> None:
        """Write ``text`` to a file on the VPS (as root)."""
        sftp = self._session("root").sftp()
        with sftp.open(remote_path, "wb") as handle:
            handle.write(text.encode())
        if mode is not None:
            sftp.chmod(remote_path, mode)

    def get(self, remote_path: str, local_path: str | Path) -> None:
        """Copy a file from the VPS to ``local_path``."""
        self._session("root").sftp().get(remote_path, str(local_path))

    def read_bytes(self, remote_path: str) -> bytes:
        """The content of a file on the VPS."""
        with self._session("root").sftp().open(remote_path, "rb") as handle:
            return bytes(handle.read())

    def read_text(self, remote_path: str) -> str:
        """The text of a file on the VPS."""
        return self.read_bytes(remote_path).decode()

    def mode_of(self, remote_path: str) -> int:
        """The permission bits of a file on the VPS."""
        return stat.S_IMODE(self._session("root").sftp().stat(remote_path).st_mode or 0)

    def ssh_command(self, key_file: str | Path = "KEYFILE", known_hosts: str | Path | None = None) -> str:
        """An ``ssh`` line a human can paste to reach this VPS (through its bastion after ``jump_to``)."""
        pin = f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))}" if known_hosts else "-o StrictHostKeyChecking=no"
        identity = f"-i {shlex.quote(str(key_file))}"
        if self.via is not None:
            proxy = f"{self.via.ssh_command(key_file, known_hosts)} -W %h:%p"
            where = f"-o ProxyCommand={shlex.quote(proxy)} {pin} {self.user}@{self.via._shared_ip(self)}"
            return f"ssh {identity} -o IdentitiesOnly=yes {where}"
        return f"ssh {identity} -p {self.ssh_port} {pin} -o IdentitiesOnly=yes {self.user}@127.0.0.1"

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.ssh_port} {' '.join(self.host_key.split()[:2])}"

    @property
    def host(self) -> Any:
        """A pytest-testinfra ``Host`` over this VPS's own pinned connection."""
        if self._host is None:
            import testinfra.host
            from testinfra.backend.paramiko import ParamikoBackend

            backend = ParamikoBackend(f"paramiko://{self.user}@127.0.0.1:{self.ssh_port}", sudo=False)
            backend.__dict__["client"] = self._session().connect()
            self._host = testinfra.host.Host(backend)
        return self._host

    # -- Docker inside ------------------------------------------------------

    def forward(self, port: int, host: str = "127.0.0.1") -> int:
        """A port on 127.0.0.1 here that reaches ``host:port`` as this VPS sees it (``ssh -L``).

        >>> url = f"http://127.0.0.1:{vps.forward(8080)}/"  # doctest: +SKIP
        """
        forward = PortForward(lambda: self._tunnel(host, port), f"VPS {self.name} {host}:{port}")
        self._forwards.append(forward)
        return forward.port

    def load_image(self, reference: str, timeout: float = 600) -> None:
        """Make a host image available to this VPS's own engine (``docker load``, streamed over SSH)."""
        if self.docker_mode == "none":
            raise VpsNotReady(f"VPS {self.name} runs no Docker engine (docker='none')")
        image = self.client.images.get(reference)
        named = reference if reference in image.tags else False
        stream = image.save(chunk_size=1 << 20, named=named)
        self.run("docker load", stdin=stream, timeout=timeout)

    def seed_base(self, image: VpsImage) -> None:
        """Load the VPS's own base image into its engine, under the name a Dockerfile uses (``FROM debian:12``)."""
        base = self.client.images.get(image.base)
        reference = base.tags[0] if base.tags else base.id
        self.load_image(reference)
        if reference != image.spec.registry_ref:
            self.run(f"docker tag {shlex.quote(reference)} {shlex.quote(image.spec.registry_ref)}")

    def docker_store(self) -> bytes:
        """Stop this DinD VPS's engine and return its image store, the seed of a DinD image.

        Its engine must hold only the base (as :meth:`seed_base` left it); see
        ``vps-docker-seed`` in the image and :meth:`Images.dind`.
        """
        path = "/run/vps-harness-store.tar"
        self.run(f"vps-docker-seed save {path}", user="root")
        return self.read_bytes(path)

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
        with contextlib.suppress(VpsNotReady):
            names.append(self._shared_ip(other))
        key_type, key_data = other.host_key.split()[:2]
        known = " ".join([",".join(names), key_type, key_data])
        self.run(f"echo {shlex.quote(known)} >> ~/.ssh/known_hosts", user=user)

    # -- what to show when a test fails -----------------------------------

    def logs(self, tail: int = 200) -> str:
        """The container's output (``docker logs``): the console under systemd, sshd's log otherwise."""
        text = self.container.logs(tail=tail).decode(errors="replace")
        return _TERMINAL_CONTROL.sub("", text)

    def journal(self, lines: int = 200, units: tuple[str, ...] = ()) -> str:
        """The last ``lines`` of the journal (of ``units``, else all), or why there is none."""
        if self.init != "systemd":
            return "(sshd is PID 1: no journal; its log is in docker logs)"
        only = "".join(f" -u {shlex.quote(unit)}" for unit in units)
        try:
            return self._session().run(f"sudo -n journalctl -n {lines}{only} --no-pager", timeout=20).stdout
        except OSError as e:
            return f"(journal unavailable: {e})"

    def report(self) -> str:
        """Transcript, journal tail and docker logs, for a failed test's report."""
        parts = [
            f"VPS {self.name} ({self.os}, init={self.init}, container {self.container.short_id})",
            f"reach it: {self.ssh_command()}",
            "--- commands ---",
            self.transcript.render(),
        ]
        if self.failed_units:
            parts += ["--- failed units at boot ---", self.failed_units]
        parts += ["--- journal (last 200 lines) ---", self.journal()]
        if self.docker_mode == "dind":
            parts += ["--- inner Docker engine (last 50 lines) ---", self.journal(50, units=DIND_UNITS)]
        parts += ["--- docker logs ---", self.logs()]
        return "\n".join(parts)
