"""The package cache: apt-cacher-ng in one service container per machine,
used by every apt image build and every apt VPS.

The first build or VPS that wants it starts the container
``vps-harness-package-cache`` (under the machine-wide lock), from an image
built on a VPS base like the others (``vps_images/package_cache``), with
its cache on the volume of the same name; later runs and xdist workers use
it as it is. Image builds get it as the ``http_proxy`` build argument (one
Docker does not put in the image or its cache key); a VPS gets the file
``/etc/apt/apt.conf.d/01vps-harness-package-cache`` (``Acquire::http::Proxy``,
a read-only mount), and its apt sources stay as the distribution writes
them. ``https`` sources and rpm-family OSes go to their archives directly.

``VPS_HARNESS_PACKAGE_CACHE``: ``1`` (default), ``0`` (no cache: builds and
VPSes reach the archives as they would without the harness), or
``offline``: the cache answers from what it holds and never reaches an
archive (apt-cacher-ng's ``Offlinemode``), so a machine cut off from the
archives still installs every package it fetched before.

The service's container and volume carry ``vps-harness.session=package-cache``
and no owner process: the reaper leaves them, ``vps-harness gc --all``
removes them. Every process that uses the cache holds a shared lock on
``USERS`` (released by the kernel if it dies); the last one to stop using it
removes the container, and the volume, with what it holds, stays for the
next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import docker
import docker.errors
import requests
from docker.models.containers import Container

import vps_images
from harness import labels
from harness.engine import bridge_address
from harness.errors import HarnessError, PackageCacheUnavailable
from harness.reaper import remove_container
from harness.spec import OsSpec, parse_spec
from harness.waiting import wait_for

#: The service container's name, and its volume's.
NAME = "vps-harness-package-cache"
PORT = 3142
#: The service's session label: no run owns it.
SESSION = "package-cache"
#: On the service container: its mode (on or offline).
MODE = f"{labels.PREFIX}.package-cache"
RECIPE = vps_images.ROOT / "package_cache"
#: Where a VPS has the proxy setting (a file mount: sources.list is untouched).
APT_CONF = "/etc/apt/apt.conf.d/01vps-harness-package-cache"
#: The OS whose base the service is built on, whatever OS the run tests: one service image per machine.
BASE = parse_spec("debian:12")
READY_TIMEOUT = 30.0


def apt_conf(url: str) -> str:
    """What a VPS's ``APT_CONF`` says."""
    return f'// vps-harness package cache (VPS_HARNESS_PACKAGE_CACHE=0 turns it off)\nAcquire::http::Proxy "{url}";\n'


def service_labels() -> dict[str, str]:
    return {labels.SESSION: SESSION, labels.HOST: socket.gethostname()}


def ensure(
    client: docker.DockerClient,
    image_tag: str,
    mode: str,
    name: str = NAME,
    owner: dict[str, str] | None = None,
    from_here: bool = True,
) -> str:
    """The URL of the running package cache of ``image_tag`` in ``mode``; started (or replaced) when needed.

    The caller holds the engine's machine-wide lock. ``name`` (also its volume's) and
    ``owner`` (labels; default: the service's, owned by no run) make another
    instance, for a test of the cache itself. ``from_here``: this machine
    reaches the engine's bridge (a local engine), so it asks the service
    itself; else the service is asked from inside its container.
    """
    container = _running(client, name)
    if container is not None and (container.image.tags[:1] != [image_tag] or container.labels.get(MODE) != mode):
        remove_container(container)  # another recipe or mode: the volume, and what it holds, stays
        container = None
    if container is None:
        try:
            container = _start(client, image_tag, mode, name, owner or service_labels())
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            container = _running(client, name)  # another run (another lock directory) started it meanwhile
            if container is None:
                raise
    url = f"http://{bridge_address(container)}:{PORT}"
    _wait_answers(container, url, from_here)
    return url


def _running(client: docker.DockerClient, name: str) -> Container | None:
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    if labels.SESSION not in container.labels:
        raise PackageCacheUnavailable(
            f"a container named {name} that vps-harness did not make is in the way; remove it or set "
            "VPS_HARNESS_PACKAGE_CACHE=0"
        )
    if container.status != "running":
        remove_container(container)
        return None
    return container


def _start(client: docker.DockerClient, image_tag: str, mode: str, name: str, owner: dict[str, str]) -> Container:
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels=owner)
    command = ["/usr/sbin/apt-cacher-ng", "-c", "/etc/apt-cacher-ng", "ForeGround=1"]
    if mode == "offline":
        command.append("Offlinemode=1")
    container = client.containers.run(
        image_tag,
        command,
        name=name,
        detach=True,
        labels={**owner, MODE: mode},
        volumes={name: {"bind": "/var/cache/apt-cacher-ng", "mode": "rw"}},
        restart_policy={"Name": "unless-stopped"},
    )
    container.reload()
    return container


#: Asks the service for its report from inside its container (bash's /dev/tcp; under ``timeout``, which
#: also ends a service that takes the request and never answers); prints the status line.
_ASK_INSIDE = (
    f"exec 3<>/dev/tcp/127.0.0.1/{PORT} && printf 'GET /acng-report.html HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3"
)


def _wait_answers(container: Container, url: str, from_here: bool = True) -> None:
    direct = requests.Session()
    direct.trust_env = False  # the container's address, never through the host's own proxy

    def answers() -> bool:  # a refused connection counts as "not yet"
        if not from_here:
            asked = ["timeout", "5", "bash", "-c", _ASK_INSIDE]
            said = container.exec_run(asked).output.decode(errors="replace").split()
            return len(said) > 1 and said[1].isdigit() and int(said[1]) < 500
        return direct.get(f"{url}/acng-report.html", timeout=2).status_code < 500

    def stopped() -> str | None:
        container.reload()
        if container.status == "running":
            return None
        return f"it is {container.status}; its last lines:\n" + container.logs(tail=10).decode(errors="replace")

    try:
        what = f"the package cache {container.name} on {url}"
        wait_for(answers, timeout=READY_TIMEOUT, what=what, still_alive=stopped)
    except HarnessError as e:
        raise PackageCacheUnavailable(f"{e}; set VPS_HARNESS_PACKAGE_CACHE=0 to work without it") from e
    finally:
        direct.close()


#: Every process that uses the cache holds a shared lock on this file, whatever its cache directory.
USERS = Path(tempfile.gettempdir()) / "vps-harness-package-cache.users"


def users(engine_name: str = "") -> Path:
    """The file of :data:`USERS` for the cache on the engine ``engine_name`` (``Images.engine_name``; "" local)."""
    return USERS.with_name(f"vps-harness-package-cache-{engine_name}.users") if engine_name else USERS


def use(path: Path | None = None) -> int:
    """Count this process among the cache's users (``path``, default :data:`USERS`) until :func:`done` (a
    shared lock); the descriptor."""
    fd = os.open(path or USERS, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def done(fd: int, client: docker.DockerClient, path: Path | None = None) -> bool:
    """Stop counting this process (``fd`` from :func:`use`); the last user removes the container. Whether it did.

    The last user holds the file exclusively while it removes it, so a process starting to use the
    cache meanwhile waits, and then starts a new one.
    """
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    probe = os.open(path or USERS, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        stop(client)
        return True
    finally:
        os.close(probe)  # closing drops the lock it took


def stop(client: docker.DockerClient, name: str = NAME) -> None:
    """Remove the cache's container (by id; its volume stays)."""
    with contextlib.suppress(PackageCacheUnavailable):
        container = _running(client, name)
        if container is not None:
            remove_container(container)


class PackageProxy:
    """One process's use of the package cache: its URL for apt on an OS, the service started on first want.

    ``service_image()`` gives the tag of the service's image (built without
    a proxy: it is the proxy); ``lock(name, what)`` is the engine's machine-wide lock.
    Only an owner that calls :meth:`close` at its end should make one
    (``Images(use_package_cache=True)``: the pytest plugin, the benches).

    Each engine has its own service, beside its VPSes: ``engine_name`` (""
    for the local engine) keeps its users apart from another engine's, and
    ``from_here`` says whether this machine reaches that engine's bridge.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        mode: str,
        service_image: Callable[[], str],
        lock: Callable[[str, str], AbstractContextManager[None]],
        progress: Callable[[str], None],
        engine_name: str = "",
        from_here: bool = True,
    ) -> None:
        self.client = client
        self.mode = mode
        self.users_file = users(engine_name)
        self.from_here = from_here
        self._service_image = service_image
        self._lock = lock
        self._progress = progress
        self._url: str | None = None
        self._user: int | None = None
        self._guard = threading.Lock()

    def url(self, spec: OsSpec) -> str | None:
        """The cache's URL for apt on ``spec`` (started when needed), or None (off, or not apt)."""
        if self.mode == "off" or spec.package_family != "apt":
            return None
        with self._guard:
            if self._url is None:
                with self._lock("package-cache", "package cache"):
                    self._user = use(self.users_file)
                    self._url = ensure(self.client, self._service_image(), self.mode, from_here=self.from_here)
                self._progress(f"package cache: {self._url} ({self.mode})")
            return self._url

    def close(self) -> None:
        """Stop using the cache; the last process that used it removes its container (not its volume)."""
        with self._guard:
            if self._user is None:
                return
            done(self._user, self.client, self.users_file)
            self._user = None
            self._url = None
