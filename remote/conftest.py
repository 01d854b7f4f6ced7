"""Remote engines made on this machine: Docker-in-Docker VPSes whose own engine is driven from here.

A remote host is a DinD VPS of the suite's OS whose engine also listens on
TCP (``tcp://ITS-ADDRESS:2375``, as ``dockerd -H tcp://0.0.0.0:2375``
does on a real machine), and is reached over SSH as user ``vps`` (in its
``docker`` group) for ``ssh://``. This machine reaches it at its address on
the engine's bridge, as it would reach another machine on its LAN; the
harness in an inner ``pytest`` has no bind mount, no socket and no
127.0.0.1 of it.

For ``ssh://`` the inner run gets an ``ssh`` first on its PATH that adds
``-F`` with the remote host's ``Host`` block: the stand-in for a user's
``~/.ssh/config`` (OpenSSH reads the passwd entry's home, never
``$HOME``), so both docker-py's ``docker system dial-stdio`` and the
harness's ``ssh -W`` find the host, its key and its pinned host key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from harness import labels
from harness.spec import OsSpec
from harness.vps import Vps

ROOT = Path(__file__).resolve().parent.parent
#: Where a remote host's engine listens for tcp:// clients.
TCP_PORT = 2375
#: Makes a DinD VPS's engine also listen on TCP (keeping its unit's options) and waits until it answers.
LISTEN_ON_TCP = Path(__file__).with_name("listen-on-tcp.sh")


@dataclass
class RemoteHost:
    """A DinD VPS serving its engine to this machine over TCP and SSH."""

    vps: Vps
    ssh_config: Path

    @property
    def tcp_url(self) -> str:
        return f"tcp://{self.vps.ip}:{TCP_PORT}"

    @property
    def ssh_url(self) -> str:
        return f"ssh://vps@{self.vps.ssh_alias}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.tcp_url, timeout=120)

    def leftovers(self) -> list[str]:
        """Everything labelled by vps-harness on its engine but images: containers, networks, volumes."""
        client = self.client()
        try:
            found = {"label": labels.SESSION}
            left = [f"container {c.name}" for c in client.containers.list(all=True, filters=found)]
            left += [f"network {n.name}" for n in client.networks.list(filters=found)]
            left += [f"volume {v.name}" for v in client.volumes.list(filters=found)]
            return left
        finally:
            client.close()

    def vps_starts_since(self, since: float) -> int:
        """How many labelled VPS containers its engine started since ``since`` (its events)."""
        client = self.client()
        try:
            events = client.events(
                since=int(since),
                until=int(time.time()) + 1,
                filters={"type": "container", "event": "start", "label": labels.NAME},
                decode=True,
            )
            return sum(1 for _ in events)
        finally:
            client.close()


@pytest.fixture
def remote_host(vps_factory: Callable[..., Vps], tmp_path: Path) -> Callable[[str], RemoteHost]:
    """Makes remote hosts: ``remote_host("left")``."""

    def make(name: str) -> RemoteHost:
        vps = vps_factory(name=name, docker="dind")
        vps.put(LISTEN_ON_TCP, "/usr/local/sbin/listen-on-tcp", mode=0o755)
        vps.run(f"listen-on-tcp {TCP_PORT}", sudo=True, timeout=180)
        config = tmp_path / f"ssh_config-{name}"
        config.write_text(vps.ssh_config())
        return RemoteHost(vps, config)

    return make


@dataclass
class InnerRun:
    returncode: int
    output: str

    def count(self, outcome: str) -> int:
        """How many tests the summary line says ended with ``outcome`` (passed, failed, skipped...)."""
        found = re.findall(rf"(\d+) {outcome}", self.output.splitlines()[-1] if self.output else "")
        return int(found[-1]) if found else 0


@pytest.fixture
def inner_pytest(tmp_path: Path, vps_os: OsSpec) -> Callable[..., InnerRun]:
    """Runs the suite's tests in a pytest of their own, with ``env`` (DOCKER_HOST, VPS_HARNESS_ENGINES...)."""

    def run(*args: str, env: dict[str, str], workers: int = 2, ssh_configs: tuple[Path, ...] = ()) -> InnerRun:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DOCKER_"))}
        environment.update(env)
        if ssh_configs:
            wrapper = tmp_path / "bin" / "ssh"
            wrapper.parent.mkdir(exist_ok=True)
            merged = tmp_path / "ssh_config"
            merged.write_text("\n".join(path.read_text() for path in ssh_configs))
            wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {merged} "$@"\n')
            wrapper.chmod(0o755)
            environment["PATH"] = f"{wrapper.parent}{os.pathsep}{environment.get('PATH', '')}"
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", str(workers),
            f"--vps={vps_os}", "-o", "vps_prepare=images", "--rootdir", str(ROOT), *args,
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1800, check=False
        )
        (tmp_path / "inner.txt").write_text(done.stdout + done.stderr)
        return InnerRun(done.returncode, done.stdout.strip())

    return run
