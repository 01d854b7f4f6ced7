"""Remote engines made on this machine: Docker-in-Docker VPSes whose own engine is driven from here.

A remote host is a DinD VPS of Debian 13 (Docker 26) whose engine also listens on
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

import datetime
import ipaddress
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.constants
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from docker.models.networks import Network
from docker.utils import kwargs_from_env

from harness import Fleet, Images, cache, docker_client, labels
from harness.identity import Identity
from harness.spec import OsSpec
from harness.vps import Vps

ROOT = Path(__file__).resolve().parent.parent
#: The OS of a remote host: Debian 13's Docker 26, as users' build hosts run. An engine before Docker 23
#: cannot be one here: it asks runc for every capability the kernel knows (its meaning of ALL), and a
#: DinD VPS's engine holds fewer ("unable to apply caps"); from 23, ALL is the engine's own set.
HOST_OS = "debian:13"
#: Where a remote host's engine listens for tcp:// clients, and for TLS ones.
TCP_PORT = 2375
TLS_PORT = 2376
#: Makes a DinD VPS's engine also listen on TCP (keeping its unit's options) and waits until it answers.
LISTEN_ON_TCP = Path(__file__).with_name("listen-on-tcp.sh")


def tls_files(folder: Path, address: str) -> Path:
    """A CA, a server certificate for ``address`` and a client certificate, as ``dockerd --tlsverify`` and
    ``DOCKER_CERT_PATH`` take them (ca.pem, server-cert.pem, server-key.pem, cert.pem, key.pem)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any, **extensions: Any) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions.values():
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    def save(name: str, item: Any) -> None:
        data = (
            item.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
            if isinstance(item, ec.EllipticCurvePrivateKey)
            else item.public_bytes(Encoding.PEM)
        )
        (folder / name).write_bytes(data)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "remote engines' CA")])
    ca = issue("remote engines' CA", ca_key, ca_name, ca_key, ca=(x509.BasicConstraints(ca=True, path_length=0), True))
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address)), x509.DNSName("localhost")])
    loopback = x509.SubjectAlternativeName([*names, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    server = issue(
        address, server_key, ca.subject, ca_key,
        names=(loopback, False), usage=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
    )  # fmt: skip
    client = issue(
        "client", client_key, ca.subject, ca_key,
        usage=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    )  # fmt: skip
    for name, item in (("ca.pem", ca), ("server-cert.pem", server), ("server-key.pem", server_key)):
        save(name, item)
    save("cert.pem", client)
    save("key.pem", client_key)
    return folder


@contextmanager
def fleet_on(url: str = "") -> Iterator[Fleet]:
    """A fleet of a fresh session and key on the engine at ``url`` (default: as the environment says); all of it
    (VPSes, images' clients, key, client) goes at the end."""
    client = docker_client(url=url)
    images, identity = Images(client), Identity.fresh()
    fleet = Fleet(client, images, session=labels.new_session_id(), identity=identity)
    try:
        yield fleet
    finally:
        fleet.close()
        images.close()
        identity.remove()
        client.close()


@dataclass
class RemoteHost:
    """A DinD VPS serving its engine to this machine over TCP (or TLS) and SSH."""

    vps: Vps
    ssh_config: Path
    #: The client's DOCKER_CERT_PATH when its engine listens with TLS (on TLS_PORT only).
    tls: Path | None = None

    @property
    def tcp_url(self) -> str:
        """Its engine at its address on the LAN (``vps.ip``: on its first network)."""
        return f"tcp://{self.vps.ip}:{TLS_PORT if self.tls else TCP_PORT}"

    @property
    def tls_env(self) -> dict[str, str]:
        """What the docker CLI (and the harness) needs to reach its engine over TLS."""
        return {"DOCKER_HOST": self.tcp_url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(self.tls)}

    @property
    def ssh_url(self) -> str:
        """With its port: docker-py gives ssh ``-p 22`` for a URL without one, over any Port of the ssh_config."""
        return f"ssh://vps@{self.vps.ssh_alias}:{self.vps.ssh_port}"

    def client(self) -> docker.DockerClient:
        if self.tls is None:
            return docker.DockerClient(base_url=self.tcp_url, timeout=120)
        # At the oldest API (no version request first), with requests' environment off: REQUESTS_CA_BUNDLE
        # would replace the engine's CA (psf/requests #3829; harness.engine does the same).
        options = kwargs_from_env(environment=self.tls_env)
        client = docker.DockerClient(**options, version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=120)
        client.api.trust_env = False
        return client

    def leftovers(self) -> list[str]:
        """Everything labelled by vps-harness on its engine but images and the package cache's volume (kept
        for the next run, as on a local engine): containers, networks, volumes."""
        client = self.client()
        try:
            found = {"label": labels.SESSION}
            left = [f"container {c.name}" for c in client.containers.list(all=True, filters=found)]
            left += [f"network {n.name}" for n in client.networks.list(filters=found)]
            left += [f"volume {v.name}" for v in client.volumes.list(filters=found) if v.name != cache.NAME]
            return left
        finally:
            client.close()

    def package_cache_volume(self) -> list[str]:
        """What its engine's package cache holds: the .deb files on its volume (found by a container of the
        cache's own image, removed after)."""
        client = self.client()
        try:
            volume = client.volumes.get(cache.NAME)
            image = client.images.list(filters={"reference": "vps-harness/inner:apt-cacher-ng-*"})
            assert image, "the engine has its package cache's image"
            found = client.containers.run(
                image[0].id,
                ["find", "/cache", "-name", "*.deb"],
                volumes={volume.name: {"bind": "/cache", "mode": "ro"}},
                labels={labels.SESSION: "remote-test"},
                remove=True,
            )
            return found.decode().split()
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


#: The LAN of the remote hosts: a /24 per host, outside Docker's default pools (172.17-31.0.0/16, then
#: 192.168.0.0/20s from the bottom), as a real office or data-centre LAN would be. On the engine's default
#: bridge this machine would reach a host from 172.17.0.1, which a DinD VPS inside a VPS on that host
#: takes for its own engine's bridge (the next free /16 there): the answers to this machine would stay
#: inside it.
LAN = "192.168.{}.0/24"
_lans = itertools.count()


@pytest.fixture
def remote_host(
    vps_factory: Callable[..., Vps], vps_network: Callable[..., Network], tmp_path: Path
) -> Callable[..., RemoteHost]:
    """Makes remote hosts: ``remote_host("left")``; ``tls=True``: its engine takes TLS clients of a CA
    of the test's own (on :data:`TLS_PORT`), the client's files in ``host.tls``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")

    def make(name: str, tls: bool = False) -> RemoteHost:
        lan = vps_network(f"lan-{name}", subnet=LAN.format(200 + int(worker or 0) * 8 + next(_lans) % 8))
        vps = vps_factory(name=name, os=HOST_OS, docker="dind", networks=[lan])
        vps.put(LISTEN_ON_TCP, "/usr/local/sbin/listen-on-tcp", mode=0o755)
        certs = tls_files(tmp_path / f"tls-{name}", vps.ip) if tls else None
        if certs is not None:
            for path in certs.iterdir():
                vps.put(path, f"/etc/docker/tls/{path.name}", mode=0o600)
            vps.run(f"listen-on-tcp {TLS_PORT} /etc/docker/tls", sudo=True, timeout=180)
        else:
            vps.run(f"listen-on-tcp {TCP_PORT}", sudo=True, timeout=180)
        config = tmp_path / f"ssh_config-{name}"
        config.write_text(vps.ssh_config())
        return RemoteHost(vps, config, certs)

    return make


#: Seconds an inner pytest may take.
INNER_TIMEOUT = 1200


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
        log = tmp_path / "inner.txt"  # as it runs: a run cut short by its timeout still shows how far it got
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
            try:
                process.wait(timeout=INNER_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                so_far = log.read_text()[-6000:]
                pytest.fail(f"the inner pytest outlived {INNER_TIMEOUT} s; its output so far:\n{so_far}")
        return InnerRun(process.returncode, log.read_text().strip())

    return run
