"""Who the harness is on SSH, on disk: one client key in a private directory,
and the known_hosts and ssh_config files that pin and name the VPSes it
reaches. This module is the only code that writes those files.

Outside tools (OpenSSH, scp, rsync, Ansible, a deploy CLI) need them as
files: the private key 0600 in a 0700 directory, a known_hosts file per VPS
(``StrictHostKeyChecking yes`` then works), and ``Host`` blocks for ``ssh -F``.

>>> identity = Identity.fresh()  # doctest: +SKIP
>>> identity.key_file  # doctest: +SKIP
PosixPath('/tmp/vps-harness-keys-k3j2/id_ed25519')
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

from harness.labels import PREFIX
from harness.ssh import KeyPair

#: Prefix of a session's key directory; the reaper removes one whose owner is gone.
FRESH_PREFIX = f"{PREFIX}-keys-"
KEY_NAME = "id_ed25519"


class Identity:
    """A client key pair saved in ``directory`` (0700), and the files that pin VPSes for it."""

    def __init__(self, directory: Path, key: KeyPair) -> None:
        self.directory = directory
        self.key = key

    @classmethod
    def fresh(cls, comment: str = PREFIX) -> Identity:
        """A new key in a new private temporary directory (one per test process)."""
        directory = Path(tempfile.mkdtemp(prefix=FRESH_PREFIX))
        key = KeyPair.generate(comment)
        key.save(directory / KEY_NAME)
        return cls(directory, key)

    @classmethod
    def at(cls, directory: Path, comment: str = PREFIX) -> Identity:
        """The key kept in ``directory``, made (with the directory, 0700) on first use."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / KEY_NAME
        if not path.exists():  # two CLI runs at once on a fresh machine: one makes it, the other waits
            with FileLock(str(directory / f"{KEY_NAME}.lock")):
                if not path.exists():
                    key = KeyPair.generate(comment)
                    _write(path.with_name(f"{KEY_NAME}.pub"), key.public + "\n")
                    _write(path, key.private)  # whole, and last: once it is there, so is the pair
        return cls(directory, KeyPair.load(path))

    @property
    def key_file(self) -> Path:
        """The private key (0600), as ``ssh -i`` and ``IdentityFile`` take it."""
        return self.directory / KEY_NAME

    def staging(self, container_name: str) -> Path:
        """Where the keys staged for one VPS's read-only bind mount go (made by the launcher).

        A child of this directory: the reaper, finding it in a dead run's
        container label, removes this directory with it.
        """
        return self.directory / container_name

    def known_hosts_file(self, alias: str, names: Iterable[str], host_key: str) -> Path:
        """Write (again) the known_hosts file that pins ``host_key`` under ``names``; its path.

        ``names`` are what a client connects to: ``[127.0.0.1]:PORT`` for a
        published port, the bare address for port 22. Rewritten on each call,
        since a restarted container may get another published port.
        """
        key_type, key_data = host_key.split()[:2]
        path = self.directory / f"known_hosts-{alias}"
        _write(path, f"{','.join(names)} {key_type} {key_data}\n")
        return path

    def ssh_config_file(self, blocks: Iterable[str], name: str = "ssh_config") -> Path:
        """Write ``Host`` blocks into one ssh_config file (for ``ssh -F``); its path."""
        path = self.directory / name
        _write(path, "\n".join(blocks))
        return path

    def forget(self, alias: str) -> None:
        """Delete the known_hosts file of a VPS that is gone."""
        (self.directory / f"known_hosts-{alias}").unlink(missing_ok=True)

    def forget_all_but(self, alive: set[str], grace: float = 600.0) -> None:
        """Delete the staged keys and known_hosts files of every VPS whose alias is not in ``alive``.

        Files younger than ``grace`` seconds are kept: another process may be
        starting that VPS right now (staged before its container exists).
        """
        young = time.time() - grace
        for path in self.directory.iterdir():
            alias = path.name.removeprefix("known_hosts-") if path.name.startswith("known_hosts-") else path.name
            if alias in alive or not (path.is_dir() or path.name.startswith("known_hosts-")):
                continue
            if path.stat().st_mtime > young:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the directory, unless a kept VPS still needs its files."""
        if not any(self.directory.glob("known_hosts-kept-*")):
            shutil.rmtree(self.directory, ignore_errors=True)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once (readers never see half a file), 0600; safe with concurrent writers."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    partial.touch(mode=0o600)
    partial.write_text(text)
    partial.replace(path)
