"""A server's files over SFTP, as root: what ``vps.put``, ``read_text`` and the rest use.

Its input is narrow: something that opens the SFTP channel of root's
connection, and something that runs a command as root (for ``chown``). A
file error names the path and the server, and keeps its type
(``FileNotFoundError``, ``PermissionError``...).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import shlex
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import paramiko


class RemoteFiles:
    """The files of server ``where`` (``VPS web``), through ``sftp()``; ``as_root(command)`` runs a command as root."""

    def __init__(self, sftp: Callable[[], paramiko.SFTPClient], as_root: Callable[[str], object], where: str) -> None:
        self._sftp = sftp
        self._as_root = as_root
        self.where = where

    def put(self, local_path: str | Path, remote_path: str, mode: int | None = None, owner: str | None = None) -> None:
        """Copy a local file to the server, making missing parent directories as ``install -D`` does.

        ``mode`` sets its permission bits (before any content is written, so
        a secret is never readable by others), ``owner`` (``user`` or
        ``user:group``) its owner.
        """
        with open(local_path, "rb") as source:  # a missing local file fails here, naming itself
            self.write(remote_path, source, mode, owner)

    def put_text(self, text: str, remote_path: str, mode: int | None = None, owner: str | None = None) -> None:
        """Write ``text`` to a file on the server, making missing parent directories; see :meth:`put`."""
        self.write(remote_path, io.BytesIO(text.encode()), mode, owner)

    def write(self, remote_path: str, source: BinaryIO, mode: int | None = None, owner: str | None = None) -> None:
        """Write what ``source`` reads to ``remote_path``; see :meth:`put`."""
        sftp = self._sftp()
        with self._naming(remote_path, "write"):
            self._parents(remote_path)
            with sftp.open(remote_path, "wb") as handle:
                handle.set_pipelined(True)  # as paramiko's own put: writes don't wait for each reply
                if mode is not None:
                    handle.chmod(mode & 0o777)  # no one else reads it while it is written
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
        if owner is not None:
            absolute = sftp.normalize(remote_path)  # relative paths are root's home's, as SFTP resolved them
            self._as_root(f"chown {shlex.quote(owner)} {shlex.quote(absolute)}")
        if mode is not None:  # after chown, which clears setuid and setgid
            with self._naming(remote_path, "chmod"):
                sftp.chmod(remote_path, mode)

    def get(self, remote_path: str, local_path: str | Path) -> None:
        """Copy a file from the server to ``local_path``."""
        with self._naming(remote_path, "get"):
            self._sftp().get(remote_path, str(local_path))

    def read_bytes(self, remote_path: str) -> bytes:
        """The content of a file on the server."""
        with self._naming(remote_path, "read"), self._sftp().open(remote_path, "rb") as handle:
            return bytes(handle.read())

    def read_text(self, remote_path: str) -> str:
        """The text of a file on the server."""
        return self.read_bytes(remote_path).decode()

    def mode_of(self, remote_path: str) -> int:
        """The permission bits of a file on the server."""
        with self._naming(remote_path, "stat"):
            return stat.S_IMODE(self._sftp().stat(remote_path).st_mode or 0)

    @contextlib.contextmanager
    def _naming(self, remote_path: str, action: str) -> Iterator[None]:
        """Name the remote path and the server in a file error, keeping its type (FileNotFoundError, ...)."""
        try:
            yield
        except OSError as e:
            if e.filename is not None:  # it names its file already (a local one, say)
                raise
            reason = e.strerror or str(e) or "failed"
            raise OSError(e.errno, f"{action} {remote_path} on {self.where}: {reason}", remote_path) from e

    def _parents(self, remote_path: str) -> None:
        """Make the missing parent directories of ``remote_path`` (mode 0755, root's)."""
        sftp = self._sftp()
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
