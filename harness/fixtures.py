"""pytest fixtures of vps-harness: thin wrappers over the library.

The library's engine-facing modules (Docker's client, paramiko) are imported
by the fixtures that use them, on first use: collecting a suite loads none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.config import HarnessConfig
from harness.errors import EngineUnavailable, HarnessError, ImageUnavailable
from harness.spec import OsSpec
from harness.state import ENGINE_USED, FAILED, FLEET, SETTINGS, SWEPT_BY_CONTROLLER, terminal_progress, worker_id
from harness.want import VpsWant

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.networks import Network

    from harness.fleet import Fleet
    from harness.identity import Identity
    from harness.images import Images
    from harness.snapshot import Snapshot
    from harness.vps import Vps


@pytest.fixture(scope="session")
def vps_engine(pytestconfig: pytest.Config) -> Iterator[DockerClient]:
    """A client of the Docker engine; skips the test when none answers.

    The engine is this worker's of ``--vps-engine``/``VPS_HARNESS_ENGINES``
    when the run names several (see :meth:`RunSettings.engine`), else the
    one ``DOCKER_HOST`` or the docker context names: a test's VPSes are all
    on one engine, so its networks join them.

    With ``CI`` set, a missing engine is an error, never a skip. On first
    use it removes leftovers of earlier runs whose owner process is gone;
    under xdist the controller did that once for all workers before they
    started (see the plugin), unless no engine answered it then.
    """
    from harness.engine import docker_client
    from harness.reaper import sweep_leftovers

    settings = pytestconfig.stash[SETTINGS]
    try:
        client = docker_client(url=settings.engine(worker_id(pytestconfig)))
    except EngineUnavailable as e:
        if HarnessConfig.from_env().ci or settings.engines:  # an engine named for the run must answer
            raise
        pytest.skip(str(e))
    pytestconfig.stash[ENGINE_USED] = True
    if not getattr(pytestconfig, "workerinput", {}).get(SWEPT_BY_CONTROLLER):
        sweep_leftovers(client, terminal_progress(pytestconfig))
    yield client
    client.close()


@pytest.fixture(scope="session")
def vps_images(vps_engine: DockerClient, pytestconfig: pytest.Config) -> Iterator[Images]:
    """The image store: base images resolved and VPS images built on first use; the package cache's user."""
    from harness.images import Images

    images = Images(vps_engine, progress=terminal_progress(pytestconfig), use_package_cache=True)
    yield images
    images.close()


@pytest.fixture(scope="session")
def vps_identity() -> Iterator[Identity]:
    """The session's client key, in a 0700 directory removed at the end (unless a kept VPS needs it)."""
    from harness.identity import Identity

    identity = Identity.fresh()
    yield identity
    identity.remove()


@pytest.fixture(scope="session")
def vps_prepared(request: pytest.FixtureRequest) -> None:
    """With ``--vps-prepare`` (or ini ``vps_prepare``), build the matrix's images before the first VPS.

    Every test that starts a VPS asks for it; a suite whose tests reach
    images another way (a CLI in a subprocess) can ask for it too, so no
    test depends on an image an earlier test happened to build. Under
    xdist every worker asks; the image lock makes one build each image while
    the others wait, and each worker starts with another OS, so two builds
    run at once. An rpm-family OS whose base no registry gives is left to
    its tests, which skip saying so.
    """
    settings = request.config.stash[SETTINGS]
    if settings.prepare == "no":
        return
    images: Images = request.getfixturevalue("vps_images")
    identity: Identity = request.getfixturevalue("vps_identity")
    worker = getattr(request.config, "workerinput", {}).get("workerid", "gw0")
    shift = int(worker.removeprefix("gw") or 0) % len(settings.matrix)
    from harness.seeding import seeder

    seed = seeder(images.client, images, identity, settings.session)
    for spec in settings.matrix[shift:] + settings.matrix[:shift]:
        try:
            images.vps(spec)
        except ImageUnavailable:
            if spec.can_bootstrap:
                raise
            continue
        if settings.prepare == "dind":
            try:
                images.dind(spec, seed)
            except HarnessError as e:  # the tests that want Docker inside fail with it; the others run
                images.progress(f"prepare: no Docker-in-Docker image of {spec}: {str(e).splitlines()[0]}")


@pytest.fixture
def vps_os(request: pytest.FixtureRequest) -> OsSpec:
    """The test's entry of the ``--vps`` matrix."""
    return getattr(request, "param", None) or request.config.stash[SETTINGS].matrix[0]


@pytest.fixture
def _vps_fleet(
    request: pytest.FixtureRequest,
    vps_engine: DockerClient,
    vps_images: Images,
    vps_identity: Identity,
    vps_prepared: None,
) -> Iterator[Fleet]:
    from harness.fleet import Fleet

    settings = request.config.stash[SETTINGS]
    fleet = Fleet(
        vps_engine,
        vps_images,
        session=settings.session,
        identity=vps_identity,
        progress=terminal_progress(request.config),
    )
    request.node.stash[FLEET] = fleet
    yield fleet
    if settings.keep_failed and request.node.stash.get(FAILED, False) and fleet.vpses:
        progress = terminal_progress(request.config)
        for vps in fleet.keep():
            try:
                reach = vps.ssh_command()
            except Exception as e:  # noqa: BLE001 - one VPS that can't be reached must not hide the others' lines
                reach = f"(no ssh line: {type(e).__name__}: {e})"
            progress(f"kept VPS {vps.name} of {request.node.nodeid}: {reach}")
    fleet.close()


@pytest.fixture
def vps_factory(request: pytest.FixtureRequest, _vps_fleet: Fleet, vps_os: OsSpec) -> Callable[..., Vps]:
    """Start more VPSes in one test; all are removed after it.

    It takes a :class:`~harness.want.VpsWant`'s fields as keywords: ``os``
    and ``docker`` are named as the ``vps`` marker names them (its values are
    the defaults of ``init`` and ``docker``); ``inner`` lists images
    (``vps_images.inner(...)``) a DinD VPS's own engine has from the start.
    ``default_bridge=False``: the VPS is on ``networks`` only, not on the
    engine's default bridge that every other VPS is on, so only the hosts of
    its networks reach it (a bastion's private side).

    ``from_snapshot``: a copy of a snapshot (:meth:`Vps.snapshot
    <harness.vps.Vps.snapshot>`) with its OS, init and Docker mode.
    ``provision``: a copy of a VPS that ``provision(vps)`` provisioned once
    per machine (:meth:`Fleet.provisioned <harness.fleet.Fleet.provisioned>`);
    ``recipe``, the files or folders it applies, and ``salt`` are in the key.

    >>> def test_two(vps_factory, vps_network):  # doctest: +SKIP
    ...     net = vps_network()
    ...     a = vps_factory(name="a", networks=[net])
    ...     b = vps_factory(name="b", networks=[net], aliases=["db.internal"])
    ...     a.run("getent hosts db.internal")
    """
    marker = request.node.get_closest_marker("vps")
    configured = marker.kwargs if marker else {}
    defaults = {"init": configured.get("init", "systemd"), "docker": configured.get("docker", None)}
    defaults["docker"] = defaults["docker"] or request.config.stash[SETTINGS].docker

    def make(
        name: str | None = None,
        os: str | OsSpec | None = None,  # noqa: A002 - the marker's word for it
        *,
        from_snapshot: Snapshot | None = None,
        provision: Callable[[Vps], object] | None = None,
        recipe: list[Path] | tuple[Path, ...] = (),
        salt: list[str] | tuple[str, ...] = (),
        **fields: Any,
    ) -> Vps:
        if (recipe or salt) and provision is None:
            raise ValueError("recipe and salt make the key of a provisioned VPS's snapshot: give provision too")
        if from_snapshot is not None:
            if provision is not None:
                raise ValueError(f"a copy of snapshot {from_snapshot.tag} is provisioned already; drop provision")
            return _vps_fleet.restore(from_snapshot, name=name, os=os, **fields)
        chosen = {word: fields.pop(word, None) or default for word, default in defaults.items()}
        want = VpsWant.of(os or vps_os, name=name or "", **chosen, **fields)
        try:
            if provision is not None:
                return _vps_fleet.provisioned(want, provision, recipe=recipe, salt=salt)
            return _vps_fleet.vps(want)
        except ImageUnavailable as e:
            if want.os.can_bootstrap:
                raise
            pytest.skip(f"no {want.os} VPS on this machine: {e}")

    return make


@pytest.fixture
def vps_fleet(_vps_fleet: Fleet) -> Fleet:
    """The test's :class:`~harness.fleet.Fleet`: what ``vps_factory`` and ``vps_network`` use, for code
    written against the library (a provisioning driver) rather than fixtures. Closed after the test."""
    return _vps_fleet


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


@pytest.fixture
def vps_ssh_config(_vps_fleet: Fleet) -> Callable[[], Path]:
    """Write an ssh_config with a ``Host`` block for every VPS of the test so far; returns its path.

    >>> def test_rsync(vps, vps_ssh_config, tmp_path):  # doctest: +SKIP
    ...     cfg = vps_ssh_config()
    ...     subprocess.run(["rsync", "-a", "-e", f"ssh -F {cfg}", f"{tmp_path}/", f"{vps.ssh_alias}:/tmp/tree/"])
    """
    return _vps_fleet.ssh_config
