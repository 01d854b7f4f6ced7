"""pytest fixtures of vps-harness: thin wrappers over the library."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.models.networks import Network

from harness.engine import docker_client
from harness.errors import EngineUnavailable
from harness.fleet import Fleet
from harness.images import Images
from harness.progress import Progress
from harness.reaper import sweep
from harness.spec import OsSpec, parse_spec
from harness.ssh import KeyPair
from harness.vps import DockerMode, Init, Vps

#: Set once this process has reached the engine, so the session's end sweeps.
ENGINE_USED = pytest.StashKey[bool]()


def terminal_progress(config: pytest.Config) -> Progress:
    """Progress lines through pytest's terminal, past output capturing.

    An xdist worker has no terminal of its own: its lines go to the stderr
    it shares with the controller.
    """
    capman = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    is_worker = hasattr(config, "workerinput")

    def report(message: str) -> None:
        line = f"vps-harness: {message}"
        with capman.global_and_fixture_disabled() if capman else nullcontext():
            if reporter is not None and not is_worker:
                reporter.write_line(line)
            else:
                print(line, file=sys.stderr, flush=True)

    return report


def sweep_own(session: str, pid: int) -> None:
    """Remove this process's resources of ``session`` that are still there."""
    try:
        client = docker_client()
    except EngineUnavailable:
        return
    try:
        sweep(client, session=session, pid=pid)
    finally:
        client.close()


@pytest.fixture(scope="session")
def vps_docker(pytestconfig: pytest.Config) -> Iterator[docker.DockerClient]:
    """A client of the Docker engine; skips the test when none answers.

    With ``CI`` set, a missing engine is an error, never a skip. On first
    use it removes leftovers of earlier runs whose owner process is gone.
    """
    try:
        client = docker_client()
    except EngineUnavailable as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
    pytestconfig.stash[ENGINE_USED] = True
    swept = sweep(client)
    if swept:
        terminal_progress(pytestconfig)(f"removed {len(swept)} leftover resources of runs that were killed")
    yield client
    client.close()


@pytest.fixture(scope="session")
def vps_images(vps_docker: docker.DockerClient, pytestconfig: pytest.Config) -> Images:
    """The image store: base images resolved and VPS images built on first use."""
    return Images(vps_docker, progress=terminal_progress(pytestconfig))


@dataclass(frozen=True)
class SessionKeys:
    """The session's client key, kept in a private directory for humans' ssh lines."""

    key: KeyPair
    directory: Path

    @property
    def key_file(self) -> Path:
        return self.directory / "id_ed25519"


@pytest.fixture(scope="session")
def vps_keys() -> Iterator[SessionKeys]:
    """One key pair per process, in a 0700 directory removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="vps-harness-keys-"))
    keys = SessionKeys(KeyPair.generate(), directory)
    keys.key.save(keys.key_file)
    yield keys
    if not any(directory.glob("known_hosts-*")):  # kept VPSes still need them
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def vps_os(request: pytest.FixtureRequest) -> OsSpec:
    """The test's entry of the ``--vps`` matrix."""
    from harness.plugin import SETTINGS

    return getattr(request, "param", None) or request.config.stash[SETTINGS].matrix[0]


@pytest.fixture
def _vps_fleet(
    request: pytest.FixtureRequest, vps_docker: docker.DockerClient, vps_images: Images, vps_keys: SessionKeys
) -> Iterator[Fleet]:
    from harness.plugin import FAILED, FLEET, SETTINGS

    settings = request.config.stash[SETTINGS]
    fleet = Fleet(
        vps_docker,
        vps_images,
        session=settings.session,
        key=vps_keys.key,
        secrets=vps_keys.directory,
        progress=terminal_progress(request.config),
    )
    request.node.stash[FLEET] = fleet
    yield fleet
    if settings.keep_failed and request.node.stash.get(FAILED, False) and fleet.vpses:
        progress = terminal_progress(request.config)
        for vps in fleet.keep():
            known_hosts = vps_keys.directory / f"known_hosts-{vps.name}-{vps.ssh_port}"
            known_hosts.write_text(vps.known_hosts_line() + "\n")
            progress(f"kept VPS {vps.name} of {request.node.nodeid}: {vps.ssh_command(vps_keys.key_file, known_hosts)}")
    fleet.close()


@pytest.fixture
def vps_factory(request: pytest.FixtureRequest, _vps_fleet: Fleet, vps_os: OsSpec) -> Callable[..., Vps]:
    """Start more VPSes in one test; all are removed after it.

    >>> def test_two(vps_factory, vps_network):  # doctest: +SKIP
    ...     net = vps_network()
    ...     a = vps_factory(name="a", networks=[net])
    ...     b = vps_factory(name="b", networks=[net], aliases=["db.internal"])
    ...     a.run("getent hosts db.internal")
    """
    from harness.plugin import SETTINGS

    marker = request.node.get_closest_marker("vps")
    configured = marker.kwargs if marker else {}
    default_init: Init = configured.get("init", "systemd")
    default_docker: DockerMode = configured.get("docker", request.config.stash[SETTINGS].docker)

    def make(
        name: str | None = None,
        os: str | OsSpec | None = None,
        init: Init | None = None,
        networks: list[Network] | tuple[Network, ...] = (),
        aliases: list[str] | tuple[str, ...] = (),
        docker: DockerMode | None = None,
        publish_ssh: bool = True,
    ) -> Vps:
        spec = parse_spec(os) if isinstance(os, str) else (os or vps_os)
        return _vps_fleet.vps(
            spec,
            name=name,
            init=init or default_init,
            docker=docker or default_docker,
            networks=networks,
            aliases=aliases,
            publish_ssh=publish_ssh,
        )

    return make


@pytest.fixture
def vps(vps_factory: Callable[..., Vps]) -> Vps:
    """A fresh, running VPS of the test's OS, reached over SSH.

    >>> def test_hostname(vps):  # doctest: +SKIP
    ...     assert vps.run("hostname").stdout.strip() == vps.name
    """
    return vps_factory()


@pytest.fixture
def vps_network(_vps_fleet: Fleet) -> Callable[..., Network]:
    """Make private Docker networks; removed after the test."""
    return _vps_fleet.network
