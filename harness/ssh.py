"""SSH to a VPS with paramiko, hermetic and pinned.

No agent, no ``~/.ssh`` keys or config, no host key accepted on first use:
the harness gives each VPS its host key and pins it, so a changed key is
refused. The socket has ``TCP_NODELAY`` set, which takes each command on an
open connection from ~48 ms (Nagle waiting on a delayed ACK) to ~4 ms.
"""

from __future__ import annotations

import base64
import io
import select
import shlex
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.errors import CommandTimeout, HostKeyMismatch, VpsNotReady
from harness.result import CommandResult
from harness.route import known_hosts_name


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair: OpenSSH private key text and public key line."""

    private: str
    public: str

    @classmethod
    def generate(cls, comment: str = "vps-harness") -> KeyPair:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return cls(private, f"{public.decode()} {comment}")

    def save(self, path: Path) -> Path:
        """Write the private key to ``path`` (0600 from the start) and the public one to ``path.pub``."""
        path.touch(mode=0o600)
        path.write_text(self.private)
        path.with_name(path.name + ".pub").write_text(self.public + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> KeyPair:
        """The pair :meth:`save` wrote to ``path``."""
        return cls(path.read_text(), path.with_name(path.name + ".pub").read_text().strip())

    def pkey(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key(io.StringIO(self.private))

    def __repr__(self) -> str:  # never print the private key
        return f"KeyPair(public={self.public!r})"


def as_user(command: str, user: str, login: str, env: dict[str, str] | None = None) -> str:
    """The shell line that runs ``command`` as ``user`` (with ``env`` exported) on a connection as ``login``."""
    if env:
        command = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + "; " + command
    if user != login:
        command = f"sudo -n -H -u {shlex.quote(user)} -- sh -c {shlex.quote(command)}"
    return command


@dataclass
class Transcript:
    """Every command run over one connection, for the failure report."""

    results: list[CommandResult] = field(default_factory=list)
    #: Text never shown: results are redacted when rendered, and the report as a whole.
    secrets: set[str] = field(default_factory=set)

    def hide(self, secret: Iterable[str]) -> None:
        """Never show ``secret`` (text) from now on: in results, errors and reports, whatever happens next."""
        self.secrets.update(s for s in secret if s)

    def keep(self, result: CommandResult, as_given: str) -> CommandResult:
        """Keep ``result`` of the command given as ``as_given`` (before any wrapping), redacted, and return it so."""
        if result.command != as_given:
            result = CommandResult(as_given, result.exit_status, result.stdout, result.stderr, result.duration)
        result = result.redacted(self.secrets)
        self.results.append(result)
        return result

    def render(self, tail_lines: int = 5) -> str:
        lines = []
        for r in (result.redacted(self.secrets) for result in self.results):
            lines.append(f"$ {r.command}    # exit {r.exit_status}, {r.duration:.3f} s")
            lines += [f"  ! {line}" for line in r.tail("stderr", tail_lines).splitlines()]
        return "\n".join(lines) or "(no commands)"


class SshSession:
    """One persistent SSH connection to a VPS, opened lazily, closed idempotently.

    >>> session = SshSession("127.0.0.1", 32768, "vps", key, host_key)  # doctest: +SKIP
    >>> session.run("uname -s").stdout  # doctest: +SKIP
    'Linux\\n'
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        key: KeyPair,
        host_key: str,
        *,
        where: str = "",
        via: Callable[[str, int], paramiko.Channel | paramiko.ProxyCommand] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.key = key
        self.host_key = host_key
        self.where = where or f"{user}@{host}:{port}"
        self.via = via
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- connection -------------------------------------------------------

    def transport(self) -> paramiko.Transport:
        """The open connection's transport (connecting first, as :meth:`connect`)."""
        transport = self.connect().get_transport()
        if transport is None:
            raise VpsNotReady(f"SSH on {self.where}: connected, and paramiko has no transport")
        return transport

    def connect(self, timeout: float = 10.0) -> paramiko.SSHClient:
        """Open the connection (once); raise on any failure."""
        if self._client is not None:
            transport = self._client.get_transport()
            if transport is not None and transport.is_active():
                return self._client
            self.close()
        sock = self._open(timeout)
        client = paramiko.SSHClient()
        pinned = host_pkey(self.host_key)
        client.get_host_keys().add(self._known_hosts_name, pinned.get_name(), pinned)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.host,
                self.port,
                username=self.user,
                pkey=self.key.pkey(),
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyMismatch(
                f"{self.where} offered host key {e.key.get_name()} {e.key.get_base64()[:24]}…, "
                f"not the {pinned.get_name()} key the harness pinned for it: refusing to connect"
            ) from e
        except BaseException:
            client.close()
            sock.close()
            raise
        self._client = client
        return client

    def banner(self, timeout: float = 2.0) -> bool:
        """Whether sshd itself answers with its ``SSH-`` banner.

        A published port accepts connections before sshd listens (Docker's
        proxy answers for it), so an open port proves nothing.
        """
        try:
            sock = self._open(timeout)
        except (OSError, paramiko.SSHException):
            return False
        try:
            sock.settimeout(timeout)
            return bytes(sock.recv(64)).startswith(b"SSH-")
        except OSError:
            return False
        finally:
            sock.close()

    def _open(self, timeout: float) -> socket.socket | paramiko.Channel | paramiko.ProxyCommand:
        """A byte stream to sshd: a TCP socket without Nagle's delay, a channel through a jump host, or an
        engine host's ``ssh -W``."""
        if self.via is not None:
            return self.via(self.host, self.port)
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    @property
    def _known_hosts_name(self) -> str:
        return known_hosts_name(self.host, self.port)

    def close(self) -> None:
        """Close the connection; safe to call any number of times."""
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.connect().open_sftp()
        return self._sftp

    # -- commands ---------------------------------------------------------

    def run(self, command: str, *, timeout: float = 60.0, stdin: Iterable[bytes] = ()) -> CommandResult:
        """Run ``command`` through the login shell; raise :class:`CommandTimeout` past ``timeout``.

        ``stdin``, when given, is streamed to the command chunk by chunk, then
        closed (an EOF costs a round trip, so commands without it skip it).
        """
        transport = self.transport()
        started = time.monotonic()
        channel = transport.open_session()
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            channel.exec_command(command)
            deadline = started + timeout
            if stdin:
                for chunk in stdin:
                    channel.sendall(chunk)
                    while channel.recv_ready():
                        out.append(channel.recv(1 << 20))
                    while channel.recv_stderr_ready():
                        err.append(channel.recv_stderr(1 << 20))
                channel.shutdown_write()
            while True:
                if channel.recv_ready():
                    out.append(channel.recv(1 << 20))
                elif channel.recv_stderr_ready():
                    err.append(channel.recv_stderr(1 << 20))
                elif channel.exit_status_ready() and (channel.eof_received or channel.closed):
                    # The exit status can come before the last data (OpenSSH 7.2
                    # does so): only EOF says every byte has arrived.
                    break
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        result = self._result(command, -1, out, err, started)
                        raise CommandTimeout(result, self.where, timeout)
                    select.select([channel], [], [], min(remaining, 1.0))
            status = channel.recv_exit_status()
        finally:
            channel.close()
        result = self._result(command, status, out, err, started)
        return result

    @staticmethod
    def _result(command: str, status: int, out: list[bytes], err: list[bytes], started: float) -> CommandResult:
        return CommandResult(
            command,
            status,
            b"".join(out).decode(errors="replace"),
            b"".join(err).decode(errors="replace"),
            time.monotonic() - started,
        )


def host_pkey(public_line: str) -> paramiko.PKey:
    """A paramiko key from an OpenSSH public key line (``ssh-ed25519 AAAA… comment``)."""
    key_type, key_data = public_line.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
