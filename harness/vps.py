"""A mock VPS: one container of a VPS image, run and reached as a server is.

>>> vps = Vps.start(client, image, name="web1", session="abc123", key=key)  # doctest: +SKIP
>>> vps.run("cat /etc/hostname").stdout  # doctest: +SKIP
'web1\\n'
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import stat
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from harness import labels
from harness.errors import CommandFailed, VpsNotReady
from harness.images import VpsImage
from harness.result import CommandResult
from harness.spec import OsSpec, parse_spec
from harness.ssh import KeyPair, SshSession, Transcript
from harness.waiting import wait_for

Init = Literal["systemd", "sshd"]

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


def stage_secrets(directory: Path, host_key: KeyPair, client_key: KeyPair) -> None:
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
    }
    for name, (text, mode) in files.items():
        path = directory / name
        path.touch(mode=mode)
        path.write_text(text)


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
        self.secrets: Path | None = None
        self._ssh: SshSession | None = None
        self._root: SshSession | None = None
        self._host: Any = None

    # -- lifecycle --------------------------------------------------------

    @classmethod
    def start(
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
        networks: tuple[Network, ...] = (),
        aliases: tuple[str, ...] = (),
    ) -> Vps:
        """Create, start and wait for a VPS; on any failure remove what was made.

        ``secrets``: a directory, made here, for the keys staged for this VPS.
        """
        host_key = KeyPair.generate(f"root@{name}")
        stage_secrets(secrets, host_key, key)
        options = run_options(init)
        options.setdefault("volumes", {})[str(secrets)] = {"bind": SECRETS_MOUNT, "mode": "ro"}
        create: dict[str, Any] = {
            "name": container_name,
            "hostname": name,
            "labels": {
                **owner_labels,
                labels.SPEC: str(image.spec),
                labels.NAME: name,
                labels.INIT: init,
                labels.SECRETS: str(secrets),
                HOST_KEY_LABEL: host_key.public,
            },
            "ports": {"22/tcp": ("127.0.0.1", None)},
            "detach": True,
            **options,
        }
        if networks:
            create["network"] = networks[0].name
            create["networking_config"] = {
                networks[0].name: client.api.create_endpoint_config(aliases=[name, *aliases])
            }
        try:
            container = client.containers.create(image.tag, **create)
        except BaseException:
            shutil.rmtree(secrets, ignore_errors=True)
            raise
        vps = cls(client, container, image.spec, name=name, init=init, key=key, host_key=host_key.public)
        vps.secrets = secrets
        try:
            for network in networks[1:]:
                network.connect(container, aliases=[name, *aliases])
            container.start()
            vps.wait_ready()
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

    def close(self) -> None:
        """Close this VPS's SSH connections."""
        for session in (self._ssh, self._root):
            if session is not None:
                session.close()
        self._ssh = self._root = None
        self._host = None

    def remove(self) -> None:
        """Stop and remove the container, its anonymous volumes and its staged keys."""
        self.close()
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True, v=True)
        if self.secrets is not None:
            shutil.rmtree(self.secrets, ignore_errors=True)

    # -- SSH --------------------------------------------------------------

    @property
    def ssh_port(self) -> int:
        """The host port (on 127.0.0.1) that reaches this VPS's sshd."""
        bindings = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp") or []
        if not bindings:
            raise VpsNotReady(f"VPS {self.name} has no published SSH port")
        return int(bindings[0]["HostPort"])

    @property
    def ip(self) -> str:
        """The VPS's address on its first network."""
        networks = self.container.attrs["NetworkSettings"]["Networks"]
        return str(next(iter(networks.values()))["IPAddress"])

    def _session(self, user: str = USER) -> SshSession:
        attr = "_root" if user == "root" else "_ssh"
        session = getattr(self, attr)
        if session is None:
            session = SshSession("127.0.0.1", self.ssh_port, user, self.key, self.host_key, where=f"VPS {self.name}")
            setattr(self, attr, session)
        return session

    def run(
        self,
        command: str,
        *,
        check: bool = True,
        timeout: float = 60,
        sudo: bool = False,
        user: str | None = None,
        env: dict[str, str] | None = None,
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
        result = self._session().run(wrapped, timeout=timeout)
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

    def read_text(self, remote_path: str) -> str:
        """The text of a file on the VPS."""
        with self._session("root").sftp().open(remote_path, "rb") as handle:
            return bytes(handle.read()).decode()

    def mode_of(self, remote_path: str) -> int:
        """The permission bits of a file on the VPS."""
        return stat.S_IMODE(self._session("root").sftp().stat(remote_path).st_mode or 0)

    def ssh_command(self, key_file: str | Path = "KEYFILE", known_hosts: str | Path | None = None) -> str:
        """An ``ssh`` line a human can paste to reach this VPS."""
        pin = f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))}" if known_hosts else "-o StrictHostKeyChecking=no"
        return (
            f"ssh -i {shlex.quote(str(key_file))} -p {self.ssh_port} {pin} -o IdentitiesOnly=yes {self.user}@127.0.0.1"
        )

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

    # -- what to show when a test fails -----------------------------------

    def logs(self, tail: int = 200) -> str:
        """The container's output (``docker logs``): the console under systemd, sshd's log otherwise."""
        text = self.container.logs(tail=tail).decode(errors="replace")
        return _TERMINAL_CONTROL.sub("", text)

    def journal(self, lines: int = 200) -> str:
        """The last ``lines`` of the journal, or why there is none."""
        if self.init != "systemd":
            return "(sshd is PID 1: no journal; its log is in docker logs)"
        try:
            return self._session().run(f"sudo -n journalctl -n {lines} --no-pager", timeout=20).stdout
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
        parts += ["--- journal (last 200 lines) ---", self.journal(), "--- docker logs ---", self.logs()]
        return "\n".join(parts)
