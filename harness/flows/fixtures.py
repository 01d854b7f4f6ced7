"""pytest fixtures of the provisioning flows: a plugin a suite enables, the core's does not load it.

Enable it with ``pytest -p harness.flows.fixtures``, ``addopts = "-p harness.flows.fixtures"``
in the ini file, or ``pytest_plugins = ["harness.flows.fixtures"]`` in the root conftest.

Each gives the test a world of its own: a copy of the world's snapshots,
made by the first test that needed it (see :mod:`harness.flows.snapshots`;
``--vps-snapshots=off`` provisions afresh). The deploy-daemon world's
``socket`` variant, whose containers live on the host's engine, is
provisioned each time.

>>> def test_hop(jenkins_slave0):  # doctest: +SKIP
...     assert jenkins_slave0.laptop_ssh("docker@host2", "whoami").stdout == "myuser\\n"
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from harness import Fleet, ImageUnavailable, OsSpec
from harness.flows import ci_registry as ci_registry_flow
from harness.flows import deploy_daemon as deploy_daemon_flow
from harness.flows import jenkins_slave0 as jenkins_slave0_flow
from harness.flows.ci_registry import CiRegistry
from harness.flows.ci_registry import builds as builds_flow
from harness.flows.ci_registry.builds import ConcurrentBuilds
from harness.flows.deploy_daemon import DeployDaemon
from harness.flows.jenkins_slave0 import JenkinsSlave0
from harness.flows.snapshots import snapshotted_world
from harness.flows.world import VARIANTS, World

W = TypeVar("W", bound=World)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("vps-harness", "mock VPS containers").addoption(
        "--vps-snapshots",
        choices=("on", "off"),
        default="on",
        help="flow worlds: copies of snapshots made once per machine (on, the default) or provisioned afresh (off)",
    )


def snapshots_on(config: pytest.Config) -> bool:
    """Whether flow worlds come from snapshots in this run (``--vps-snapshots``)."""
    return bool(config.getoption("--vps-snapshots", default="on") == "on")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "vps_snapshots(on): False provisions this test's flow world afresh; True takes a copy of its snapshots",
    )
    config.addinivalue_line(
        "markers",
        f"jenkins_slave0(variant='hardened'): the variant of the jenkins_slave0 world ({' or '.join(VARIANTS)})",
    )
    config.addinivalue_line(
        "markers",
        "deploy_daemon(variant='dind'): the variant of the deploy_daemon world "
        f"({' or '.join(deploy_daemon_flow.VARIANTS)})",
    )


@pytest.fixture
def jenkins_slave0(request: pytest.FixtureRequest, vps_fleet: Fleet, vps_os: OsSpec) -> JenkinsSlave0:
    """The jenkins-slave0 world of the test's OS, provisioned (see :mod:`harness.flows.jenkins_slave0`).

    ``laptop``, ``host2``, ``vm`` and ``outsider`` are :class:`~harness.vps.Vps` objects on
    ``network``; ``cert`` is the proxy's certificate (PEM), ``variant`` which setup it is
    (``@pytest.mark.jenkins_slave0(variant="as_written")``; default ``hardened``). Removed after the test.
    """
    marker = request.node.get_closest_marker("jenkins_slave0")
    variant = marker.kwargs.get("variant", "hardened") if marker else "hardened"
    return _world(jenkins_slave0_flow.provision, vps_fleet, vps_os, variant, "jenkins-slave0", request)


@pytest.fixture
def ci_registry(request: pytest.FixtureRequest, vps_fleet: Fleet, vps_os: OsSpec) -> CiRegistry:
    """The CI-registry world of the test's OS, provisioned (see :mod:`harness.flows.ci_registry`).

    ``registry`` (``registry.local:5000``), ``jenkins`` (the build host) and ``production`` are
    :class:`~harness.vps.Vps` objects on ``network``; ``pipeline(script, *args)`` runs a job of
    ``pipeline/`` as jenkins over SSH; ``page()`` is production's webapp page. Removed after the test.
    """
    return _world(ci_registry_flow.provision, vps_fleet, vps_os, "hardened", "ci-registry", request)


@pytest.fixture
def concurrent_builds(request: pytest.FixtureRequest, vps_fleet: Fleet, vps_os: OsSpec) -> ConcurrentBuilds:
    """The concurrent-builds world of the test's OS, provisioned (see :mod:`harness.flows.ci_registry.builds`).

    ``registry`` (``registry.local:5000``, htpasswd users ``alice`` and ``bob``) and ``jenkins``
    (the build host) are :class:`~harness.vps.Vps` objects on ``network``; ``passwords`` maps each
    user to its password (secrets: shown as ``[secret]`` in transcripts and reports);
    ``job(number, stage, user=..., per_job_config=...)`` runs a stage of ``pipeline/job.sh``.
    """
    return _world(builds_flow.provision, vps_fleet, vps_os, "hardened", "concurrent-builds", request)


@pytest.fixture
def deploy_daemon(request: pytest.FixtureRequest, vps_fleet: Fleet, vps_os: OsSpec) -> Iterator[DeployDaemon]:
    """The deploy-daemon world of the test's OS, bootstrapped (see :mod:`harness.flows.deploy_daemon`).

    ``server`` is a :class:`~harness.vps.Vps` on ``network``, running deployd; ``url``, ``cert``
    and ``cert_path`` (deployd's certificate, verified by ``request``), ``token`` (its API token, a
    secret); ``deploy()``, ``up()``, ``down()``, ``page()`` and ``names()`` for the example app
    ``app``. ``@pytest.mark.deploy_daemon(variant="socket")`` mounts the host's engine socket in
    place of the server's own engine (default ``dind``). Apps still up are taken down after the test.
    """
    marker = request.node.get_closest_marker("deploy_daemon")
    variant = marker.kwargs.get("variant", "dind") if marker else "dind"
    world = _world(deploy_daemon_flow.provision, vps_fleet, vps_os, variant, "deploy-daemon", request)
    yield world
    world.close()


def _world(
    provision: Callable[..., W],
    fleet: Fleet,
    spec: OsSpec,
    variant: str,
    name: str,
    request: pytest.FixtureRequest | None = None,
) -> W:
    """The world ``provision`` makes: with ``request``, a copy of its snapshots (see :mod:`harness.flows.snapshots`).

    ``--vps-snapshots=off`` (or ``@pytest.mark.vps_snapshots(False)``) provisions every world afresh.
    """
    marker = request.node.get_closest_marker("vps_snapshots") if request else None
    if marker is not None and (marker.kwargs or len(marker.args) != 1 or not isinstance(marker.args[0], bool)):
        raise pytest.UsageError(f"vps_snapshots takes one bool (True or False), not {marker.args} {marker.kwargs}")
    wanted = marker.args[0] if marker else (request is not None and snapshots_on(request.config))
    try:
        if wanted:
            return snapshotted_world(provision, fleet, spec, variant, flow=name)
        return provision(fleet, spec, variant)
    except ImageUnavailable as e:
        if spec.can_bootstrap:
            raise
        pytest.skip(f"no {spec} {name} world on this machine: {e}")
